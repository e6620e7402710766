/*-------------------------------------------------------------------------
 *
 * audit.c
 *		The audit trigger: one row of dwc.audit_log per changed row.
 *
 * An AFTER ROW trigger in C, because it runs for every write to every
 * audited table: it builds the row key (primary key columns), the old and
 * new values as jsonb (for UPDATE only the columns that changed, and no row
 * at all when nothing did), with the trigger's arguments naming columns
 * whose values are replaced by "[redacted]" (secrets, hashes), and inserts
 * the audit row with a saved plan.  Who and from where: the sub claim and
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
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "security/audit.h"
#include "security/events.h"
#include "security/identity.h"

int			dwc_audit_retention_min = 365 * 24 * 60;

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

Datum
dwc__audit_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	static SPIPlanPtr plan = NULL;
	const char *action;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	Jsonb	   *oldj = NULL;
	Jsonb	   *newj = NULL;
	Jsonb	   *key;
	Bitmapset  *pk;
	Datum		args[9];
	char		nulls[9];
	char	   *sub;
	char	   *addr;
	const char *path;
	Oid			save_userid;
	int			save_sec;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dwc._audit_row() must run as an AFTER ROW trigger")));

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		action = "INSERT";
		newtup = td->tg_trigtuple;
		newj = tuple_jsonb(td, newtup, NULL, false, NULL);
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		action = "UPDATE";
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
		oldj = tuple_jsonb(td, oldtup, newtup, true, NULL);
		if (oldj == NULL)
			return PointerGetDatum(NULL);	/* nothing changed */
		newj = tuple_jsonb(td, newtup, oldtup, true, NULL);
	}
	else
	{
		action = "DELETE";
		oldtup = td->tg_trigtuple;
		oldj = tuple_jsonb(td, oldtup, NULL, false, NULL);
	}

	pk = RelationGetIndexAttrBitmap(td->tg_relation, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	key = pk ? tuple_jsonb(td, newtup ? newtup : oldtup, NULL, false, pk) : NULL;

	sub = DwcClaim(DwcRequestClaims(), "sub");
	addr = DwcClientAddress();
	path = GetConfigOption("request.path", true, false);

	memset(nulls, ' ', sizeof(nulls));
	args[0] = CStringGetTextDatum(action);
	args[1] = CStringGetTextDatum(psprintf("%s.%s", get_namespace_name(RelationGetNamespace(td->tg_relation)),
										   RelationGetRelationName(td->tg_relation)));
	args[2] = key ? JsonbPGetDatum(key) : (Datum) 0;
	nulls[2] = key ? ' ' : 'n';
	args[3] = oldj ? JsonbPGetDatum(oldj) : (Datum) 0;
	nulls[3] = oldj ? ' ' : 'n';
	args[4] = newj ? JsonbPGetDatum(newj) : (Datum) 0;
	nulls[4] = newj ? ' ' : 'n';
	args[5] = sub ? CStringGetTextDatum(sub) : (Datum) 0;
	nulls[5] = sub ? ' ' : 'n';
	args[6] = CStringGetTextDatum(GetUserNameFromId(acting_role(), false));
	args[7] = addr ? CStringGetTextDatum(addr) : (Datum) 0;
	nulls[7] = addr ? ' ' : 'n';
	args[8] = (path && path[0]) ? CStringGetTextDatum(path) : (Datum) 0;
	nulls[8] = (path && path[0]) ? ' ' : 'n';

	SPI_connect();
	if (plan == NULL)
	{
		Oid			types[9] = {TEXTOID, TEXTOID, JSONBOID, JSONBOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};

		plan = SPI_prepare("INSERT INTO dwc.audit_log (action, table_name, row_key, old_values, new_values,"
						   " actor_user, actor_role, client_addr, request_path)"
						   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", 9, types);
		if (plan == NULL)
			elog(ERROR, "could not prepare the audit insert");
		SPI_keepplan(plan);
	}
	/* the audit log is not writable by the people it watches */
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
	SPI_finish();
	return PointerGetDatum(NULL);
}
