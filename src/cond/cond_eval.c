/*-------------------------------------------------------------------------
 *
 * cond_eval.c
 *		Conditions in the backend: compiling them from jsonb, evaluating
 *		them against jsonb, and their SQL functions.
 *
 * Values are found in the datum by walking its containers (no copies), and
 * compared in place; regular expressions go through PostgreSQL's own
 * (textregexeq, which caches their compiled form), so "matches" means what
 * ~ means.
 *
 * src/cond/cond_eval.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "cond/cond.h"
#include "cond/cond_pg.h"
#include "core/errors.h"
#include "core/jsonc.h"

#include "core/jsonc_prelude.h"

PG_FUNCTION_INFO_V1(dwc_condition_matches);
PG_FUNCTION_INFO_V1(dwc_check_condition);

static void *
cxt_alloc(void *arg, size_t size)
{
	return MemoryContextAlloc((MemoryContext) arg, size);
}

/* a string of the condition as a text datum */
static Datum
text_of(const CondValue *v)
{
	return PointerGetDatum(cstring_to_text_with_len(v->str, (int) v->len));
}

CondProgram *
DwcCondCompile(Jsonb *cond, MemoryContext cxt)
{
	struct json_object *volatile obj = NULL;
	CondProgram *volatile prog = NULL;
	CondAllocator a = {cxt_alloc, cxt};
	char		err[400];
	int			i;

	obj = DwcJsonbToJsonc(cond);
	PG_TRY();
	{
		prog = cond_compile(obj, &a, err, sizeof(err));
	}
	PG_FINALLY();
	{
		json_object_put(obj);
	}
	PG_END_TRY();
	if (prog == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid condition: %s", err),
				 errhint("See docs/automation.md for the condition language.")));
	/* a regular expression that does not compile is an error now, not at the first event */
	for (i = 0; i < prog->nnodes; i++)
		if (prog->nodes[i].kind == COND_CMP && prog->nodes[i].op == COND_MATCHES)
			(void) DirectFunctionCall2Coll(textregexeq, DEFAULT_COLLATION_OID,
										   PointerGetDatum(cstring_to_text("")), text_of(&prog->nodes[i].values[0]));
	return prog;
}

/* the value at the node's path, or false when there is none */
static bool
lookup(const CondNode *n, Jsonb *data, JsonbValue *out)
{
	JsonbContainer *c = &data->root;
	int			s;

	if (n->nsegments == 0)
	{
		if (JB_ROOT_IS_SCALAR(data))
		{
			JsonbValue *v = getIthJsonbValueFromContainer(c, 0);

			*out = *v;
		}
		else
		{
			out->type = jbvBinary;
			out->val.binary.data = c;
			out->val.binary.len = VARSIZE(data) - VARHDRSZ;
		}
		return true;
	}
	if (JB_ROOT_IS_SCALAR(data))
		return false;
	for (s = 0; s < n->nsegments; s++)
	{
		const CondSegment *seg = &n->path[s];
		JsonbValue *v = NULL;

		if (JsonContainerIsObject(c))
			v = getKeyJsonValueFromContainer(c, seg->key, (int) seg->len, NULL);
		else if (JsonContainerIsArray(c) && seg->index >= 0)
			v = getIthJsonbValueFromContainer(c, (uint32) seg->index);
		if (v == NULL)
			return false;
		if (s == n->nsegments - 1)
		{
			*out = *v;
			return true;
		}
		if (v->type != jbvBinary)
			return false;
		c = v->val.binary.data;
	}
	return false;
}

static double
number_of(const JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, NumericGetDatum(v->val.numeric)));
}

/* -1, 0, 1; or 2 when the two cannot be compared (other types) */
static int
compare(const JsonbValue *d, const CondValue *v)
{
	switch (v->type)
	{
		case CV_NULL:
			return d->type == jbvNull ? 0 : 2;
		case CV_BOOL:
			return d->type == jbvBool ? (d->val.boolean == v->b ? 0 : 2) : 2;
		case CV_NUMBER:
			if (d->type == jbvNumeric)
			{
				double		x = number_of(d);

				return x < v->num ? -1 : x > v->num ? 1 : 0;
			}
			return 2;
		case CV_STRING:
			if (d->type == jbvString)
			{
				size_t		dl = (size_t) d->val.string.len;
				int			r = memcmp(d->val.string.val, v->str, Min(dl, v->len));

				if (r != 0)
					return r < 0 ? -1 : 1;
				return dl < v->len ? -1 : dl > v->len ? 1 : 0;
			}
			return 2;
	}
	return 2;
}

static bool
contains(const JsonbValue *d, const CondValue *v)
{
	if (d->type == jbvString && v->type == CV_STRING)
	{
		size_t		dl = (size_t) d->val.string.len;
		size_t		i;

		if (v->len == 0)
			return true;
		for (i = 0; i + v->len <= dl; i++)
			if (memcmp(d->val.string.val + i, v->str, v->len) == 0)
				return true;
		return false;
	}
	if (d->type == jbvBinary && JsonContainerIsArray(d->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(d->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM && compare(&e, v) == 0)
				return true;
		return false;
	}
	if (d->type == jbvBinary && JsonContainerIsObject(d->val.binary.data) && v->type == CV_STRING)
		return getKeyJsonValueFromContainer(d->val.binary.data, v->str, (int) v->len, NULL) != NULL;
	return false;
}

static bool
eval_node(const CondProgram *p, int i, Jsonb *data)
{
	const CondNode *n = &p->nodes[i];
	JsonbValue	d;
	int			c,
				j;

	check_stack_depth();
	switch (n->kind)
	{
		case COND_TRUE:
			return true;
		case COND_FALSE:
			return false;
		case COND_ALL:
			for (j = n->first; j >= 0; j = p->nodes[j].next)
				if (!eval_node(p, j, data))
					return false;
			return true;
		case COND_ANY:
			for (j = n->first; j >= 0; j = p->nodes[j].next)
				if (eval_node(p, j, data))
					return true;
			return false;
		case COND_NOT:
			return !eval_node(p, n->first, data);
		case COND_CMP:
			break;
	}
	if (!lookup(n, data, &d))
		return n->op == COND_EXISTS && !n->values[0].b;
	switch (n->op)
	{
		case COND_EXISTS:
			return n->values[0].b;
		case COND_EQ:
			return compare(&d, &n->values[0]) == 0;
		case COND_NE:
			c = compare(&d, &n->values[0]);
			return c == -1 || c == 1 || (c == 2 && d.type == jbvBool && n->values[0].type == CV_BOOL);
		case COND_LT:
			return compare(&d, &n->values[0]) == -1;
		case COND_LE:
			c = compare(&d, &n->values[0]);
			return c == -1 || c == 0;
		case COND_GT:
			return compare(&d, &n->values[0]) == 1;
		case COND_GE:
			c = compare(&d, &n->values[0]);
			return c == 1 || c == 0;
		case COND_IN:
			for (j = 0; j < n->nvalues; j++)
				if (compare(&d, &n->values[j]) == 0)
					return true;
			return false;
		case COND_BETWEEN:
			c = compare(&d, &n->values[0]);
			if (c != 0 && c != 1)
				return false;
			c = compare(&d, &n->values[1]);
			return c == 0 || c == -1;
		case COND_CONTAINS:
			return contains(&d, &n->values[0]);
		case COND_MATCHES:
			if (d.type != jbvString)
				return false;
			return DatumGetBool(DirectFunctionCall2Coll(textregexeq, DEFAULT_COLLATION_OID,
														PointerGetDatum(cstring_to_text_with_len(d.val.string.val, d.val.string.len)),
														text_of(&n->values[0])));
	}
	return false;
}

bool
DwcCondEval(const CondProgram *p, Jsonb *data)
{
	return eval_node(p, 0, data);
}

/* the compiled condition of this call site, kept while the condition is the same */
typedef struct CondCache
{
	Jsonb	   *cond;
	CondProgram *prog;
	MemoryContext cxt;
} CondCache;

/* compile into a new context of its own, which an error deletes */
static void
compile_into(CondCache *cache, Jsonb *cond, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "dwc condition", ALLOCSET_SMALL_SIZES);
	CondProgram *volatile prog = NULL;

	PG_TRY();
	{
		prog = DwcCondCompile(cond, cxt);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	cache->cond = MemoryContextAlloc(cxt, VARSIZE(cond));
	memcpy(cache->cond, cond, VARSIZE(cond));
	cache->prog = prog;
	cache->cxt = cxt;
}

static CondProgram *
cached_program(FunctionCallInfo fcinfo, Jsonb *cond)
{
	CondCache  *cache = fcinfo->flinfo->fn_extra;

	if (cache != NULL && cache->cond != NULL && VARSIZE(cache->cond) == VARSIZE(cond) &&
		memcmp(cache->cond, cond, VARSIZE(cond)) == 0)
		return cache->prog;
	if (cache == NULL)
	{
		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CondCache));
		fcinfo->flinfo->fn_extra = cache;
	}
	if (cache->cxt != NULL)
		MemoryContextDelete(cache->cxt);
	cache->cxt = NULL;
	cache->cond = NULL;
	cache->prog = NULL;
	compile_into(cache, cond, fcinfo->flinfo->fn_mcxt);
	return cache->prog;
}

/* dwc.condition_matches(condition jsonb, data jsonb) returns bool */
Datum
dwc_condition_matches(PG_FUNCTION_ARGS)
{
	Jsonb	   *cond;
	Jsonb	   *data;

	DWC_REQUIRE_ARG(0, "condition");
	DWC_REQUIRE_ARG(1, "data");
	cond = PG_GETARG_JSONB_P(0);
	data = PG_GETARG_JSONB_P(1);
	PG_RETURN_BOOL(DwcCondEval(cached_program(fcinfo, cond), data));
}

/* dwc.check_condition(condition jsonb) returns bool: true, or an error saying what is wrong */
Datum
dwc_check_condition(PG_FUNCTION_ARGS)
{
	DWC_REQUIRE_ARG(0, "condition");
	(void) cached_program(fcinfo, PG_GETARG_JSONB_P(0));
	PG_RETURN_BOOL(true);
}
