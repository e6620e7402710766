/*-------------------------------------------------------------------------
 *
 * audit.c
 *		The audit trigger: one row of dwc.audit_log per changed row.
 *
 * A statement-level trigger in C over the transition tables, because it
 * runs for every write to every audited table: for each row it builds the
 * row key (primary key columns), the old and new values as jsonb (for
 * UPDATE only the columns that changed, and no row at all when nothing
 * did), with the trigger's arguments naming columns whose values are
 * replaced by "[redacted]" (secrets, hashes), and writes the audit rows a
 * chunk at a time straight into the log's partition.  Who and from where: the sub claim and
 * the acting role (for API-key requests, the key user's role), the client
 * address and request path of PostgREST requests.
 *
 * Values keep their JSON types where JSON has them (numbers, booleans,
 * json/jsonb); everything else is its text form.  NaN and infinities are
 * text, JSON having no numbers for them.
 *
 * The hash chain is not computed here: the maintenance worker seals
 * committed rows in order (dwc._audit_seal, with audit_chain.c), so
 * audited writers never queue on a chain head.  See src/security/README.md.
 *
 * src/audit/audit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "core/owner.h"
#include "core/restore.h"
#include "access/htup_details.h"
#include "port/pg_bswap.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "datatype/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/partcache.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/tuplestore.h"

#include "security/trampoline.h"
#include "audit/audit.h"
#include "audit/audit_row.h"
#include "security/digest.h"
#include "security/events.h"
#include "security/identity.h"

int			dwc_audit_retention_min = 365 * 24 * 60;

/* audit rows written per INSERT */
#define AUDIT_CHUNK 1000

void
DwcDefineAuditGucs(void)
{
	DefineCustomIntVariable("dwc.audit_retention",
							"How long the audit log and security events are kept.",
							"Whole monthly partitions are dropped once they are older.",
							&dwc_audit_retention_min, 365 * 24 * 60, 24 * 60, 100 * 365 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(dwc__audit_row);

/*
 * The role responsible for the change: the caller of the dwc function in
 * progress (trampoline); else, inside a superuser's SECURITY DEFINER
 * function, the session's role; else the current role (for API-key
 * requests, the key user's).
 */
static Oid
acting_role(void)
{
	Oid			current = DwcEffectiveUserId();

	if (OidIsValid(DwcTrampolineCaller))
		return DwcTrampolineCaller;
	if (current != GetOuterUserId() && superuser_arg(current))
		return GetOuterUserId();
	return current;
}

/*
 * The name the audit rows give the table: its own, but for a shard of a Citus
 * distributed table, whose triggers (copied from the distributed table's by
 * Citus) name the distributed table in their first argument.
 */
#define AUDIT_TABLE_ARG "dwc:table="

static const char *
audited_name(Trigger *trigger, AuditRel *ar)
{
	if (trigger->tgnargs > 0 &&
		strncmp(trigger->tgargs[0], AUDIT_TABLE_ARG, strlen(AUDIT_TABLE_ARG)) == 0)
		return trigger->tgargs[0] + strlen(AUDIT_TABLE_ARG);
	return ar->name;
}

/*
 * Audit rows waiting to be written: the values that differ from row to row
 * (the rest are the same for a whole statement).
 */
typedef struct AuditBatch
{
	int			n;
	Datum		keys[AUDIT_CHUNK];
	bool		key_nulls[AUDIT_CHUNK];
	Datum		olds[AUDIT_CHUNK];
	bool		old_nulls[AUDIT_CHUNK];
	Datum		news[AUDIT_CHUNK];
	bool		new_nulls[AUDIT_CHUNK];
} AuditBatch;

/* the columns of dwc.audit_log, in order (the digest below relies on it too) */
static const char *const audit_columns[] = {
	"id", "at", "txid", "actor_user", "actor_role", "action", "table_name",
	"row_key", "old_values", "new_values", "client_addr", "request_path"
};

#define AUDIT_NATTS lengthof(audit_columns)

/*
 * The partition of dwc.audit_log that holds rows written at time "at": the
 * executor's own routing rule (the range bound below the value, else the
 * default partition), on the partitioned table's relcache entry.
 */
static Oid
audit_partition(Relation parent, TimestampTz at)
{
	PartitionKey key = RelationGetPartitionKey(parent);
	PartitionDesc pd = RelationGetPartitionDesc(parent, true);
	PartitionBoundInfo bounds = pd->boundinfo;
	Datum		value = TimestampTzGetDatum(at);
	int			index = -1;

	if (bounds != NULL && key->strategy == PARTITION_STRATEGY_RANGE && key->partnatts == 1)
	{
		bool		equal;
		int			offset = partition_range_datum_bsearch(key->partsupfunc, key->partcollation, bounds, 1, &value, &equal);

		index = bounds->indexes[offset + 1];
		if (index < 0)
			index = bounds->default_index;
	}
	if (index < 0 || !pd->is_leaf[index])
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("dwc.audit_log has no partition for the time %s", timestamptz_to_str(at)),
				 errhint("The default partition dwc.audit_log_default must exist.")));
	return pd->oids[index];
}

/* dwc.audit_log and its id sequence, looked up once per backend (and again after DROP EXTENSION) */
static Oid	audit_nsp_oid = InvalidOid;
static Oid	audit_log_oid = InvalidOid;
static Oid	audit_seq_oid = InvalidOid;

static Relation
open_audit_log(void)
{
	Relation	rel;

	if (OidIsValid(audit_log_oid))
	{
		/* the cached table, if it is still dwc.audit_log */
		rel = try_table_open(audit_log_oid, RowExclusiveLock);
		if (rel != NULL && RelationGetNamespace(rel) == audit_nsp_oid &&
			strcmp(RelationGetRelationName(rel), "audit_log") == 0)
			return rel;
		if (rel != NULL)
			table_close(rel, RowExclusiveLock);
	}
	audit_nsp_oid = get_namespace_oid("dwc", false);
	audit_log_oid = get_relname_relid("audit_log", audit_nsp_oid);
	audit_seq_oid = get_relname_relid("audit_log_id_seq", audit_nsp_oid);
	if (!OidIsValid(audit_log_oid) || !OidIsValid(audit_seq_oid))
		elog(ERROR, "dwc.audit_log or its id sequence is missing");
	return table_open(audit_log_oid, RowExclusiveLock);
}

/*
 * Write a batch straight into the audit log's current partition: the table
 * AM's multi-insert and the partition's indexes, without planning or
 * starting an executor per statement (through SPI, that cost four times
 * what the audited statement itself did).  The column defaults are
 * computed here: the next id, one time per batch, the transaction id.
 * INSERT triggers on dwc.audit_log therefore do not fire; its append-only
 * triggers guard UPDATE and DELETE.  Runs as the bootstrap superuser, like
 * the insert it replaces: the log is not writable by the people it watches.
 */
static void
flush_batch(AuditBatch *b, Datum *common, char *common_nulls)
{
	Relation	parent;
	Relation	rel;
	TupleDesc	desc;
	TupleDesc	slotdesc;
	TimestampTz at = GetCurrentTimestamp();
	int64		txid = (int64) U64FromFullTransactionId(GetTopFullTransactionId());
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	CommandId	cid = GetCurrentCommandId(true);
	DwcSavedUser save;
	int			i;

	if (b->n == 0)
		return;
	DwcBecomeOwner(&save);

	parent = open_audit_log();
	rel = table_open(audit_partition(parent, at), RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (desc->natts != (int) AUDIT_NATTS)
		elog(ERROR, "partition \"%s\" of dwc.audit_log has %d columns, not %d",
			 RelationGetRelationName(rel), desc->natts, (int) AUDIT_NATTS);
	for (i = 0; i < (int) AUDIT_NATTS; i++)
	{
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), audit_columns[i]) != 0)
			elog(ERROR, "column %d of partition \"%s\" of dwc.audit_log is not \"%s\"",
				 i + 1, RelationGetRelationName(rel), audit_columns[i]);
	}

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	/*
	 * The slots share an unpinned copy of the descriptor: a slot on the
	 * relation's own pins it in the resource owner, and a thousand pins of
	 * one pointer go to one hash bucket there (6% of a bulk insert).
	 */
	slotdesc = CreateTupleDescCopy(desc);
	slots = palloc(sizeof(TupleTableSlot *) * b->n);
	for (i = 0; i < b->n; i++)
	{
		TupleTableSlot *slot = MakeSingleTupleTableSlot(slotdesc, table_slot_callbacks(rel));
		Datum	   *v = slot->tts_values;
		bool	   *isnull = slot->tts_isnull;

		ExecClearTuple(slot);
		v[0] = Int64GetDatum(nextval_internal(audit_seq_oid, false));
		v[1] = TimestampTzGetDatum(at);
		v[2] = Int64GetDatum(txid);
		isnull[0] = isnull[1] = isnull[2] = false;
		/* actor_user, actor_role, action, table_name, client_addr, request_path */
		v[3] = common[2];
		isnull[3] = common_nulls[2] == 'n';
		v[4] = common[3];
		isnull[4] = false;
		v[5] = common[0];
		isnull[5] = false;
		v[6] = common[1];
		isnull[6] = false;
		v[7] = b->keys[i];
		isnull[7] = b->key_nulls[i];
		v[8] = b->olds[i];
		isnull[8] = b->old_nulls[i];
		v[9] = b->news[i];
		isnull[9] = b->new_nulls[i];
		v[10] = common[4];
		isnull[10] = common_nulls[4] == 'n';
		v[11] = common[5];
		isnull[11] = common_nulls[5] == 'n';
		ExecStoreVirtualTuple(slot);
		slots[i] = slot;
	}
	if (b->n == 1)
		table_tuple_insert(rel, slots[0], cid, 0, NULL);
	else
		table_multi_insert(rel, slots, b->n, cid, 0, NULL);
	for (i = 0; i < b->n; i++)
	{
		if (rri->ri_NumIndices > 0)
		{
#if PG_VERSION_NUM >= 160000
			ExecInsertIndexTuples(rri, slots[i], estate, false, false, NULL, NIL, false);
#else
			ExecInsertIndexTuples(rri, slots[i], estate, false, false, NULL, NIL);
#endif
			ResetPerTupleExprContext(estate);
		}
		ExecDropSingleTupleTableSlot(slots[i]);
	}
	pfree(slots);
	FreeTupleDesc(slotdesc);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	table_close(parent, NoLock);
	DwcRestoreUser(&save);
	b->n = 0;
}

static void
add_row(AuditBatch *b, Jsonb *key, Jsonb *oldj, Jsonb *newj)
{
	b->keys[b->n] = PointerGetDatum(key);
	b->key_nulls[b->n] = key == NULL;
	b->olds[b->n] = PointerGetDatum(oldj);
	b->old_nulls[b->n] = oldj == NULL;
	b->news[b->n] = PointerGetDatum(newj);
	b->new_nulls[b->n] = newj == NULL;
	b->n++;
}

/*
 * The audit trigger: AFTER INSERT, UPDATE or DELETE ... FOR EACH STATEMENT
 * with the statement's transition tables.  A statement-level trigger
 * because a row-level one pays for a trigger call, a tuple re-fetch and an
 * insert per row; here the rows come from the transition tables, and the
 * audit rows go out AUDIT_CHUNK at a time.  For UPDATE, PostgreSQL fills
 * the old and the new table in the same order, so they are read in step.
 */
Datum
dwc__audit_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	Tuplestorestate *olds;
	Tuplestorestate *news;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	const char *action;
	AuditRel   *ar;
	Datum		common[6];
	char		common_nulls[6];
	char	   *sub;
	char	   *addr;
	const char *path;
	AuditBatch *batch;
	MemoryContext rowcxt;
	MemoryContext oldcxt;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) || TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dwc._audit_row() must run as an AFTER ... FOR EACH STATEMENT trigger"),
				 errhint("Use dwc.audit_table() to audit a table.")));
	/* rows a dump brings back: their audit rows come with them (core/restore.c) */
	if (DwcRestoring())
		return PointerGetDatum(NULL);
	olds = td->tg_oldtable;
	news = td->tg_newtable;
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		action = "INSERT";
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		action = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		action = "DELETE";
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dwc._audit_row() audits INSERT, UPDATE and DELETE only")));
	if ((strcmp(action, "DELETE") != 0 && news == NULL) || (strcmp(action, "INSERT") != 0 && olds == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("the audit trigger on \"%s\" has no transition tables",
						RelationGetRelationName(td->tg_relation)),
				 errhint("Call dwc.audit_table() again to recreate it.")));

	/* nothing happened: no writes, no allocations */
	if ((news != NULL && tuplestore_tuple_count(news) == 0) ||
		(news == NULL && tuplestore_tuple_count(olds) == 0))
		return PointerGetDatum(NULL);

	desc = RelationGetDescr(td->tg_relation);
	ar = DwcAuditRel(td->tg_relation);
	sub = DwcCurrentUserId();
	addr = DwcClientAddress();
	path = GetConfigOption("request.path", true, false);

	memset(common_nulls, ' ', sizeof(common_nulls));
	common[0] = CStringGetTextDatum(action);
	common[1] = CStringGetTextDatum(audited_name(td->tg_trigger, ar));
	common[2] = sub ? CStringGetTextDatum(sub) : (Datum) 0;
	common_nulls[2] = sub ? ' ' : 'n';
	common[3] = CStringGetTextDatum(GetUserNameFromId(acting_role(), false));
	common[4] = addr ? CStringGetTextDatum(addr) : (Datum) 0;
	common_nulls[4] = addr ? ' ' : 'n';
	common[5] = (path && path[0]) ? CStringGetTextDatum(path) : (Datum) 0;
	common_nulls[5] = (path && path[0]) ? ' ' : 'n';

	oldslot = olds ? MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple) : NULL;
	newslot = news ? MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple) : NULL;
	if (olds)
		tuplestore_rescan(olds);
	if (news)
		tuplestore_rescan(news);

	batch = palloc(sizeof(AuditBatch));
	batch->n = 0;
	/* the jsonb of one chunk of rows lives here, and goes once written */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "dwc audit rows", ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		AuditValues *oldv = NULL;
		AuditValues *newv = NULL;
		AuditValues oldbuf;
		AuditValues newbuf;
		Jsonb	   *oldj = NULL;
		Jsonb	   *newj = NULL;

		CHECK_FOR_INTERRUPTS();
		/* the slots deform the tuples once, in their own memory */
		if (olds)
		{
			if (!tuplestore_gettupleslot(olds, true, false, oldslot))
				break;
			slot_getallattrs(oldslot);
			oldbuf.values = oldslot->tts_values;
			oldbuf.nulls = oldslot->tts_isnull;
			oldv = &oldbuf;
		}
		if (news)
		{
			if (!tuplestore_gettupleslot(news, true, false, newslot))
				break;
			slot_getallattrs(newslot);
			newbuf.values = newslot->tts_values;
			newbuf.nulls = newslot->tts_isnull;
			newv = &newbuf;
		}
		oldcxt = MemoryContextSwitchTo(rowcxt);
		if (oldv && newv)
		{
			oldj = DwcAuditJsonb(ar, desc, td->tg_trigger, oldv, newv, NULL);
			if (oldj != NULL)	/* else nothing changed: no audit row */
				newj = DwcAuditJsonb(ar, desc, td->tg_trigger, newv, oldv, NULL);
		}
		else if (newv)
			newj = DwcAuditJsonb(ar, desc, td->tg_trigger, newv, NULL, NULL);
		else
			oldj = DwcAuditJsonb(ar, desc, td->tg_trigger, oldv, NULL, NULL);
		if (oldj != NULL || newj != NULL)
			add_row(batch, ar->pk ? DwcAuditJsonb(ar, desc, td->tg_trigger, newv ? newv : oldv, NULL, ar->pk) : NULL,
					oldj, newj);
		MemoryContextSwitchTo(oldcxt);
		if (batch->n == AUDIT_CHUNK)
		{
			flush_batch(batch, common, common_nulls);
			MemoryContextReset(rowcxt);
		}
	}
	flush_batch(batch, common, common_nulls);
	if (oldslot)
		ExecDropSingleTupleTableSlot(oldslot);
	if (newslot)
		ExecDropSingleTupleTableSlot(newslot);
	MemoryContextDelete(rowcxt);
	return PointerGetDatum(NULL);
}
