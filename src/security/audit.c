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
 * replaced by "[redacted]" (secrets, hashes), and inserts the audit rows a
 * chunk at a time with a saved plan.  Who and from where: the sub claim and
 * the acting role (for API-key requests, the key user's role), the client
 * address and request path of PostgREST requests.
 *
 * Values keep their JSON types where JSON has them (numbers, booleans,
 * json/jsonb); everything else is its text form.  NaN and infinities are
 * text, JSON having no numbers for them.
 *
 * The hash chain is not computed here: the scheduler worker seals
 * committed rows in order (dwc._audit_seal), so audited writers never
 * queue on a chain head.  See src/security/README.md.
 *
 * src/security/audit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "port/pg_bswap.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "datatype/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/tuplestore.h"

#include "core/trampoline.h"
#include "security/audit.h"
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

static bool
redacted(TriggerData *td, const char *attname)
{
	int			i;

	for (i = 0; i < td->tg_trigger->tgnargs; i++)
	{
		if (strcmp(td->tg_trigger->tgargs[i], attname) == 0)
			return true;
	}
	return false;
}

static void
push_key(JsonbParseState **st, const char *name)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = unconstify(char *, name);
	k.val.string.len = strlen(name);
	pushJsonbValue(st, WJB_KEY, &k);
}

static void
push_string(JsonbParseState **st, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = unconstify(char *, s);
	v.val.string.len = strlen(s);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* One column's value, as JSON as it can be. */
static void
push_value(JsonbParseState **st, Datum value, bool isnull, Oid type)
{
	JsonbValue	v;
	Oid			outfn;
	bool		varlena;
	char	   *text;

	if (isnull)
	{
		v.type = jbvNull;
		pushJsonbValue(st, WJB_VALUE, &v);
		return;
	}
	switch (type)
	{
		case BOOLOID:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(value);
			pushJsonbValue(st, WJB_VALUE, &v);
			return;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case FLOAT4OID:
		case FLOAT8OID:
			getTypeOutputInfo(type, &outfn, &varlena);
			text = OidOutputFunctionCall(outfn, value);
			/* NaN, Infinity: no JSON number for them */
			if (strspn(text, "-0123456789.eE+") != strlen(text))
			{
				push_string(st, text);
				return;
			}
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
																ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
			pushJsonbValue(st, WJB_VALUE, &v);
			return;
		case JSONBOID:
		case JSONOID:
			{
				Jsonb	   *j;

				if (type == JSONBOID)
					j = DatumGetJsonbP(value);
				else
				{
					getTypeOutputInfo(type, &outfn, &varlena);
					j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														   CStringGetDatum(OidOutputFunctionCall(outfn, value))));
				}
				v.type = jbvBinary;
				v.val.binary.data = &j->root;
				v.val.binary.len = VARSIZE(j) - VARHDRSZ;
				pushJsonbValue(st, WJB_VALUE, &v);
				return;
			}
		default:
			getTypeOutputInfo(type, &outfn, &varlena);
			push_string(st, OidOutputFunctionCall(outfn, value));
			return;
	}
}

static bool
column_changed(HeapTuple a, HeapTuple b, TupleDesc desc, int attno)
{
	Form_pg_attribute att = TupleDescAttr(desc, attno - 1);
	bool		na,
				nb;
	Datum		da = heap_getattr(a, attno, desc, &na);
	Datum		db = heap_getattr(b, attno, desc, &nb);

	if (na || nb)
		return na != nb;
	return !datum_image_eq(da, db, att->attbyval, att->attlen);
}

/*
 * The values of a tuple as a jsonb object: all columns, or (only_changed)
 * those that differ from other.  Returns NULL when no column qualifies.
 */
static Jsonb *
tuple_jsonb(TriggerData *td, HeapTuple tup, HeapTuple other, bool only_changed, Bitmapset *only)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	JsonbParseState *st = NULL;
	JsonbValue *res;
	int			n = 0;
	int			i;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);
		bool		isnull;
		Datum		value;

		if (att->attisdropped)
			continue;
		if (only != NULL && !bms_is_member(i - FirstLowInvalidHeapAttributeNumber, only))
			continue;
		if (only_changed && !column_changed(tup, other, desc, i))
			continue;
		push_key(&st, NameStr(att->attname));
		value = heap_getattr(tup, i, desc, &isnull);
		if (!isnull && redacted(td, NameStr(att->attname)))
			push_string(&st, "[redacted]");
		else
			push_value(&st, value, isnull, att->atttypid);
		n++;
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	if (n == 0 && (only_changed || only != NULL))
		return NULL;
	return JsonbValueToJsonb(res);
}

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

static Datum
jsonb_array(Datum *values, bool *nulls, int n)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};

	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, JSONBOID, -1, false, TYPALIGN_INT));
}

/*
 * Write a batch with one INSERT ... SELECT FROM unnest(): one executor
 * start per AUDIT_CHUNK rows instead of one per row, which is most of what
 * a per-row insert costs.  Runs as the bootstrap superuser: the audit log
 * is not writable by the people it watches.
 */
static void
flush_batch(AuditBatch *b, Datum *common, char *common_nulls)
{
	static SPIPlanPtr plan = NULL;
	Datum		args[9];
	char		nulls[9];
	Oid			save_userid;
	int			save_sec;
	MemoryContext cxt = CurrentMemoryContext;

	if (b->n == 0)
		return;
	memcpy(args, common, 6 * sizeof(Datum));
	memcpy(nulls, common_nulls, 6);
	args[6] = jsonb_array(b->keys, b->key_nulls, b->n);
	args[7] = jsonb_array(b->olds, b->old_nulls, b->n);
	args[8] = jsonb_array(b->news, b->new_nulls, b->n);
	nulls[6] = nulls[7] = nulls[8] = ' ';

	if (plan == NULL)
	{
		Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		JSONBARRAYOID, JSONBARRAYOID, JSONBARRAYOID};
		SPIPlanPtr	p;

		p = SPI_prepare("INSERT INTO dwc.audit_log (action, table_name, actor_user, actor_role, client_addr,"
						" request_path, row_key, old_values, new_values)"
						" SELECT $1, $2, $3, $4, $5, $6, k, o, n FROM unnest($7, $8, $9) AS u(k, o, n)",
						9, types);
		if (p == NULL)
			elog(ERROR, "could not prepare the audit insert: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plan = p;
	}
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (SPI_execute_plan(plan, args, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write the audit log");
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	/* SPI leaves its own procedure context current; the caller's rows live in cxt */
	MemoryContextSwitchTo(cxt);
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
	Bitmapset  *pk;
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

	/* nothing happened: no SPI, no allocations */
	if ((news != NULL && tuplestore_tuple_count(news) == 0) ||
		(news == NULL && tuplestore_tuple_count(olds) == 0))
		return PointerGetDatum(NULL);

	desc = RelationGetDescr(td->tg_relation);
	pk = RelationGetIndexAttrBitmap(td->tg_relation, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	sub = DwcClaim(DwcRequestClaims(), "sub");
	addr = DwcClientAddress();
	path = GetConfigOption("request.path", true, false);

	memset(common_nulls, ' ', sizeof(common_nulls));
	common[0] = CStringGetTextDatum(action);
	common[1] = CStringGetTextDatum(psprintf("%s.%s", get_namespace_name(RelationGetNamespace(td->tg_relation)),
											 RelationGetRelationName(td->tg_relation)));
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

	SPI_connect();
	batch = palloc(sizeof(AuditBatch));
	batch->n = 0;
	/* the tuples and jsonb of one chunk of rows live here, and go once written */
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "dwc audit rows", ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(rowcxt);
	for (;;)
	{
		HeapTuple	oldtup = NULL;
		HeapTuple	newtup = NULL;
		bool		should_free;
		Jsonb	   *oldj = NULL;
		Jsonb	   *newj = NULL;

		CHECK_FOR_INTERRUPTS();
		if (olds)
		{
			if (!tuplestore_gettupleslot(olds, true, false, oldslot))
				break;
			oldtup = ExecFetchSlotHeapTuple(oldslot, false, &should_free);
		}
		if (news)
		{
			if (!tuplestore_gettupleslot(news, true, false, newslot))
				break;
			newtup = ExecFetchSlotHeapTuple(newslot, false, &should_free);
		}
		if (oldtup && newtup)
		{
			oldj = tuple_jsonb(td, oldtup, newtup, true, NULL);
			if (oldj != NULL)	/* else nothing changed: no audit row */
				newj = tuple_jsonb(td, newtup, oldtup, true, NULL);
		}
		else if (newtup)
			newj = tuple_jsonb(td, newtup, NULL, false, NULL);
		else
			oldj = tuple_jsonb(td, oldtup, NULL, false, NULL);
		if (oldj != NULL || newj != NULL)
			add_row(batch, pk ? tuple_jsonb(td, newtup ? newtup : oldtup, NULL, false, pk) : NULL, oldj, newj);
		if (batch->n == AUDIT_CHUNK)
		{
			flush_batch(batch, common, common_nulls);

			/*
			 * A tuplestore that spilled to disk reads its tuples into the
			 * current context and hands them to the slot to free: let go of
			 * them before their memory goes.
			 */
			if (oldslot)
				ExecClearTuple(oldslot);
			if (newslot)
				ExecClearTuple(newslot);
			MemoryContextReset(rowcxt);
		}
	}
	flush_batch(batch, common, common_nulls);
	MemoryContextSwitchTo(oldcxt);
	if (oldslot)
		ExecDropSingleTupleTableSlot(oldslot);
	if (newslot)
		ExecDropSingleTupleTableSlot(newslot);
	MemoryContextDelete(rowcxt);
	SPI_finish();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(dwc__audit_chain);

/*
 * dwc._audit_chain(head bytea, digests bytea[]) -> bytea[]: the chain
 * hashes h(i) = SHA-256(h(i-1) || digest(i)) from h(0) = head.  A loop
 * that PL/pgSQL would run one statement per row; here the sealer gets the
 * whole batch from one call and writes the seals with one INSERT.
 */
Datum
dwc__audit_chain(PG_FUNCTION_ARGS)
{
	bytea	   *head = PG_GETARG_BYTEA_PP(0);
	ArrayType  *digests = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	unsigned char h[32];
	unsigned char buf[64];
	Datum	   *out;

	if (VARSIZE_ANY_EXHDR(head) != 32)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a chain head is 32 bytes, not %d", (int) VARSIZE_ANY_EXHDR(head))));
	deconstruct_array(digests, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	memcpy(h, VARDATA_ANY(head), 32);
	out = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bytea	   *d;
		bytea	   *res;

		if (nulls[i] || VARSIZE_ANY_EXHDR(d = DatumGetByteaPP(elems[i])) != 32)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("digest %d of the batch is not 32 bytes", i + 1)));
		memcpy(buf, h, 32);
		memcpy(buf + 32, VARDATA_ANY(d), 32);
		DwcSha256(buf, 64, h);
		res = palloc(VARHDRSZ + 32);
		SET_VARSIZE(res, VARHDRSZ + 32);
		memcpy(VARDATA(res), h, 32);
		out[i] = PointerGetDatum(res);
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(out, n, BYTEAOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(dwc__audit_digest);

/* the columns of dwc.audit_log the chain covers, by number, and how to encode them */
static const struct
{
	int			attnum;
	char		kind;			/* i: int8, t: timestamptz, s: text, j: jsonb */
}			digest_columns[] =
{
	{1, 'i'}, {2, 't'}, {3, 'i'}, {4, 's'}, {5, 's'}, {6, 's'}, {7, 's'},
	{8, 'j'}, {9, 'j'}, {10, 'j'}, {11, 's'}, {12, 's'}
};

static void
append_field(StringInfo buf, char kind, const char *data, uint32 len)
{
	uint32		be = pg_hton32(len);

	appendStringInfoChar(buf, kind);
	appendBinaryStringInfo(buf, (const char *) &be, 4);
	appendBinaryStringInfo(buf, data, len);
}

/*
 * dwc._audit_digest(dwc.audit_log) -> bytea: SHA-256 over the row's columns,
 * each as a kind byte, a 4-byte big-endian length and its bytes: integers
 * and times as 8-byte big-endian (times in microseconds since 1970, free of
 * the server's epoch and DateStyle), text as stored (database encoding), jsonb as
 * its canonical text.  NULL is kind 'n' with no bytes.  The sealer and
 * dwc.audit_verify() both use it, so it only has to be stable, not
 * compatible with anything else; C because it runs for every audit row.
 */
Datum
dwc__audit_digest(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	TupleDesc	desc;
	HeapTupleData tuple;
	StringInfoData buf;
	unsigned char hash[32];
	bytea	   *out;
	int			i;

	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row), HeapTupleHeaderGetTypMod(row));
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	initStringInfo(&buf);
	for (i = 0; i < (int) lengthof(digest_columns); i++)
	{
		bool		isnull;
		Datum		v;
		int64		n;

		if (digest_columns[i].attnum > desc->natts)
			elog(ERROR, "dwc.audit_log has fewer columns than its digest covers");
		v = heap_getattr(&tuple, digest_columns[i].attnum, desc, &isnull);
		if (isnull)
		{
			append_field(&buf, 'n', NULL, 0);
			continue;
		}
		switch (digest_columns[i].kind)
		{
			case 'i':
			case 't':
				n = DatumGetInt64(v);
				if (digest_columns[i].kind == 't')
					n += (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
				n = (int64) pg_hton64((uint64) n);
				append_field(&buf, digest_columns[i].kind, (const char *) &n, 8);
				break;
			case 's':
				{
					text	   *t = DatumGetTextPP(v);

					append_field(&buf, 's', VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					break;
				}
			default:
				{
					Jsonb	   *j = DatumGetJsonbP(v);
					char	   *s = JsonbToCString(NULL, &j->root, VARSIZE(j));

					append_field(&buf, 'j', s, strlen(s));
					pfree(s);
					break;
				}
		}
	}
	ReleaseTupleDesc(desc);
	DwcSha256(buf.data, buf.len, hash);
	pfree(buf.data);
	out = palloc(VARHDRSZ + 32);
	SET_VARSIZE(out, VARHDRSZ + 32);
	memcpy(VARDATA(out), hash, 32);
	PG_RETURN_BYTEA_P(out);
}
