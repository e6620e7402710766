/*-------------------------------------------------------------------------
 *
 * audit_json.c
 *		Audited rows as jsonb: the values the audit trigger writes.
 *
 * Every write to an audited table turns one or two rows into jsonb, so
 * this is on the writer's path.  What does not change from statement to
 * statement is kept per table, per backend, until the table's relcache
 * entry is invalidated (any ALTER TABLE, new triggers): the qualified
 * name, the primary key columns, and the columns in jsonb key order (by
 * length, then bytes), so that a row's object is laid out directly, with
 * no sorting and no parse-state machinery.  Rows with json or jsonb
 * columns go through pushJsonbValue(), which unpacks nested documents.
 *
 * Values keep their JSON types where JSON has them (numbers, booleans,
 * json/jsonb); everything else is its text form.  NaN and infinities are
 * text, JSON having no numbers for them.
 *
 * src/audit/audit_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "audit/audit_row.h"

static HTAB *audit_rels = NULL;

/* forget what we knew of a table when its relcache entry goes */
static void
audit_rel_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	AuditRel   *ar;

	if (audit_rels == NULL)
		return;
	if (OidIsValid(relid))
	{
		ar = hash_search(audit_rels, &relid, HASH_FIND, NULL);
		if (ar != NULL)
			ar->valid = false;
		return;
	}
	hash_seq_init(&seq, audit_rels);
	while ((ar = hash_seq_search(&seq)) != NULL)
		ar->valid = false;
}

/* jsonb's key order: shorter first, then bytewise */
static int
key_order(const void *a, const void *b, void *arg)
{
	TupleDesc	desc = (TupleDesc) arg;
	const char *na = NameStr(TupleDescAttr(desc, *(const AttrNumber *) a - 1)->attname);
	const char *nb = NameStr(TupleDescAttr(desc, *(const AttrNumber *) b - 1)->attname);
	size_t		la = strlen(na);
	size_t		lb = strlen(nb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(na, nb, la);
}

AuditRel *
DwcAuditRel(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TupleDesc	desc = RelationGetDescr(rel);
	AuditRel   *ar;
	bool		found;
	MemoryContext old;
	int			i;

	if (audit_rels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(AuditRel);
		ctl.hcxt = CacheMemoryContext;
		audit_rels = hash_create("dwc audited tables", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(audit_rel_invalidate, (Datum) 0);
	}
	ar = hash_search(audit_rels, &relid, HASH_ENTER, &found);
	if (found && ar->valid)
		return ar;
	if (found)
	{
		pfree(ar->name);
		pfree(ar->order);
		bms_free(ar->pk);
	}
	ar->valid = false;
	old = MemoryContextSwitchTo(CacheMemoryContext);
	ar->name = psprintf("%s.%s", get_namespace_name(RelationGetNamespace(rel)), RelationGetRelationName(rel));
	ar->pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	ar->order = palloc(sizeof(AttrNumber) * Max(desc->natts, 1));
	MemoryContextSwitchTo(old);
	ar->ncols = 0;
	ar->has_json = false;
	for (i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);

		if (att->attisdropped)
			continue;
		ar->order[ar->ncols++] = i;
		if (att->atttypid == JSONOID || att->atttypid == JSONBOID)
			ar->has_json = true;
	}
	qsort_arg(ar->order, ar->ncols, sizeof(AttrNumber), key_order, desc);
	ar->valid = true;
	return ar;
}

static void
string_value(JsonbValue *v, const char *s)
{
	v->type = jbvString;
	v->val.string.val = unconstify(char *, s);
	v->val.string.len = strlen(s);
}

/*
 * A column's value as a JSON scalar.  Returns false for json and jsonb,
 * which are documents, not scalars (the caller pushes them whole).
 */
static bool
scalar_value(JsonbValue *v, Datum value, bool isnull, Oid type)
{
	Numeric		num = NULL;
	Oid			outfn;
	bool		varlena;

	if (isnull)
	{
		v->type = jbvNull;
		return true;
	}
	switch (type)
	{
		case BOOLOID:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			return true;
		case INT2OID:
			num = int64_to_numeric(DatumGetInt16(value));
			break;
		case INT4OID:
			num = int64_to_numeric(DatumGetInt32(value));
			break;
		case INT8OID:
			num = int64_to_numeric(DatumGetInt64(value));
			break;
		case NUMERICOID:
			num = DatumGetNumeric(value);
			break;
		case FLOAT4OID:
		case FLOAT8OID:
			{
				/* by its shortest exact text (float8_numeric would round to 15 digits) */
				char	   *text = OidOutputFunctionCall(type == FLOAT4OID ? F_FLOAT4OUT : F_FLOAT8OUT, value);

				if (strspn(text, "-0123456789.eE+") != strlen(text))
				{
					string_value(v, text);
					return true;
				}
				num = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(text),
														  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
				break;
			}
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(value);

				v->type = jbvString;
				v->val.string.val = VARDATA_ANY(t);
				v->val.string.len = VARSIZE_ANY_EXHDR(t);
				return true;
			}
		case JSONOID:
		case JSONBOID:
			return false;
		default:
			getTypeOutputInfo(type, &outfn, &varlena);
			string_value(v, OidOutputFunctionCall(outfn, value));
			return true;
	}
	/* NaN, Infinity: no JSON number for them */
	if (numeric_is_nan(num) || numeric_is_inf(num))
		string_value(v, numeric_normalize(num));
	else
	{
		v->type = jbvNumeric;
		v->val.numeric = num;
	}
	return true;
}

static void
push_document(JsonbParseState **st, Datum value, Oid type)
{
	Jsonb	   *j;
	JsonbValue	v;

	if (type == JSONBOID)
		j = DatumGetJsonbP(value);
	else
		j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(value))));
	v.type = jbvBinary;
	v.val.binary.data = &j->root;
	v.val.binary.len = VARSIZE(j) - VARHDRSZ;
	pushJsonbValue(st, WJB_VALUE, &v);
}

static bool
redacted(Trigger *trigger, const char *attname)
{
	int			i;

	for (i = 0; i < trigger->tgnargs; i++)
	{
		if (strcmp(trigger->tgargs[i], attname) == 0)
			return true;
	}
	return false;
}

static bool
column_changed(const AuditValues *a, const AuditValues *b, Form_pg_attribute att, int i)
{
	if (a->nulls[i] || b->nulls[i])
		return a->nulls[i] != b->nulls[i];
	return !datum_image_eq(a->values[i], b->values[i], att->attbyval, att->attlen);
}

/*
 * The values of a row as a jsonb object: all columns, or (other given)
 * those that differ from other, or (only given) those in only.  Returns
 * NULL when no column qualifies.
 */
Jsonb *
DwcAuditJsonb(AuditRel *ar, TupleDesc desc, Trigger *trigger, const AuditValues *row,
			  const AuditValues *other, Bitmapset *only)
{
	JsonbValue	obj;
	JsonbPair  *pairs = NULL;
	JsonbParseState *st = NULL;
	int			n = 0;
	int			k;

	if (ar->has_json)
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	else
		pairs = palloc(sizeof(JsonbPair) * Max(ar->ncols, 1));
	for (k = 0; k < ar->ncols; k++)
	{
		int			i = ar->order[k] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, i);
		JsonbValue	key;
		JsonbValue	val;
		bool		isnull = row->nulls[i];

		if (only != NULL && !bms_is_member(ar->order[k] - FirstLowInvalidHeapAttributeNumber, only))
			continue;
		if (other != NULL && !column_changed(row, other, att, i))
			continue;
		string_value(&key, NameStr(att->attname));
		if (!isnull && redacted(trigger, NameStr(att->attname)))
		{
			string_value(&val, "[redacted]");
			isnull = false;
		}
		else if (!scalar_value(&val, row->values[i], isnull, att->atttypid))
		{
			Assert(ar->has_json);
			pushJsonbValue(&st, WJB_KEY, &key);
			push_document(&st, row->values[i], att->atttypid);
			n++;
			continue;
		}
		if (ar->has_json)
		{
			pushJsonbValue(&st, WJB_KEY, &key);
			pushJsonbValue(&st, WJB_VALUE, &val);
		}
		else
		{
			/* already in key order, and column names are unique: no sorting to do */
			pairs[n].key = key;
			pairs[n].value = val;
			pairs[n].order = n;
		}
		n++;
	}
	if (n == 0 && (other != NULL || only != NULL))
		return NULL;
	if (ar->has_json)
		return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	obj.type = jbvObject;
	obj.val.object.nPairs = n;
	obj.val.object.pairs = pairs;
	return JsonbValueToJsonb(&obj);
}
