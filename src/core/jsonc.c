/*-------------------------------------------------------------------------
 *
 * jsonc.c
 *		Conversion between jsonb and json-c, and strict JSON parsing.
 *
 * dwc builds request bodies and reads responses of external services (AI
 * providers, webhooks) with json-c, and exchanges them with SQL as jsonb.
 * Numbers keep their exact text across the conversion where json-c allows
 * it (json_object_new_double_s), so 0.1 stays 0.1 and large integers are
 * not rounded through a double.
 *
 * src/core/jsonc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "core/jsonc.h"
#include "core/jsonc_prelude.h"

/* ---- jsonb -> json-c ---------------------------------------------------- */

static struct json_object *
scalar_to_jsonc(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;		/* json-c represents null as NULL */
		case jbvBool:
			return json_object_new_boolean(v->val.boolean);
		case jbvString:
			return json_object_new_string_len(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			{
				char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(v->val.numeric)));
				const char *p = (*s == '-') ? s + 1 : s;
				struct json_object *o;

				/* integers of up to 18 digits fit in int64 exactly */
				if (strspn(p, "0123456789") == strlen(p) && strlen(p) <= 18)
					o = json_object_new_int64(strtoll(s, NULL, 10));
				else
					o = json_object_new_double_s(strtod(s, NULL), s);
				pfree(s);
				return o;
			}
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * Attach child to the container on top of the stack; key is used when that
 * container is an object.  json-c takes over the child's reference.
 */
static void
attach(struct json_object *parent, const char *key, struct json_object *child)
{
	if (json_object_is_type(parent, json_type_array))
		json_object_array_add(parent, child);
	else
		json_object_object_add(parent, key, child);
}

/*
 * Walk a jsonb value and build the json-c tree.  *root is set as soon as the
 * top-level object exists, so that the caller can free a partial tree if an
 * error interrupts the walk.
 */
static void
jsonb_walk(Jsonb *jb, struct json_object **root)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbIteratorToken tok;
	JsonbValue	v;
	char	   *key = NULL;
	bool		raw_scalar = false;
	int			depth = 0;
	int			maxdepth = 16;
	struct json_object **stack = palloc(sizeof(struct json_object *) * maxdepth);

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		struct json_object *o;

		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
			case WJB_BEGIN_OBJECT:
				if (tok == WJB_BEGIN_ARRAY && v.val.array.rawScalar)
				{
					raw_scalar = true;
					break;
				}
				o = (tok == WJB_BEGIN_ARRAY) ? json_object_new_array() : json_object_new_object();
				if (o == NULL)
					ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
				if (depth == 0)
					*root = o;
				else
					attach(stack[depth - 1], key, o);
				if (depth == maxdepth)
				{
					maxdepth *= 2;
					stack = repalloc(stack, sizeof(struct json_object *) * maxdepth);
				}
				stack[depth++] = o;
				break;
			case WJB_END_ARRAY:
			case WJB_END_OBJECT:
				if (!(raw_scalar && depth == 0))
					depth--;
				break;
			case WJB_KEY:
				if (key)
					pfree(key);
				key = pnstrdup(v.val.string.val, v.val.string.len);
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				o = scalar_to_jsonc(&v);
				if (depth == 0)
					*root = o;	/* the raw scalar case */
				else
					attach(stack[depth - 1], key, o);
				break;
			case WJB_DONE:
				break;
		}
	}
	if (key)
		pfree(key);
	pfree(stack);
}

/*
 * Convert a jsonb value into a new json-c object (NULL for a JSON null).
 * The caller owns the result.
 */
struct json_object *
DwcJsonbToJsonc(Jsonb *jb)
{
	struct json_object **root = palloc0(sizeof(struct json_object *));
	struct json_object *result;

	PG_TRY();
	{
		jsonb_walk(jb, root);
	}
	PG_CATCH();
	{
		json_object_put(*root);
		PG_RE_THROW();
	}
	PG_END_TRY();

	result = *root;
	pfree(root);
	return result;
}

/* ---- json-c -> jsonb ---------------------------------------------------- */

static JsonbValue *push_jsonc(JsonbParseState **state, JsonbIteratorToken ctx,
							  struct json_object *obj);

/* Fill a scalar JsonbValue from a json-c scalar (or NULL). */
static void
jsonc_to_scalar(struct json_object *obj, JsonbValue *v)
{
	switch (json_object_get_type(obj))
	{
		case json_type_null:
			v->type = jbvNull;
			break;
		case json_type_boolean:
			v->type = jbvBool;
			v->val.boolean = json_object_get_boolean(obj);
			break;
		case json_type_int:
		case json_type_double:
			{
				/* the serialised form keeps the parsed text of the number */
				const char *s = json_object_get_string(obj);

				if (json_object_is_type(obj, json_type_double) &&
					!isfinite(json_object_get_double(obj)))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("JSON number \"%s\" cannot be represented in jsonb", s)));
				v->type = jbvNumeric;
				v->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																	 CStringGetDatum(s),
																	 ObjectIdGetDatum(InvalidOid),
																	 Int32GetDatum(-1)));
				break;
			}
		case json_type_string:
			{
				int			len = json_object_get_string_len(obj);

				/* validates UTF-8 (and rejects NUL) while converting */
				v->type = jbvString;
				v->val.string.val = pg_any_to_server(json_object_get_string(obj), len, PG_UTF8);
				v->val.string.len = strlen(v->val.string.val);
				break;
			}
		default:
			elog(ERROR, "unexpected json-c type %d", (int) json_object_get_type(obj));
	}
}

/*
 * Push a json-c value into a jsonb parse state; returns what pushJsonbValue
 * returned for the last token (the finished container at the top level).
 */
static JsonbValue *
push_jsonc(JsonbParseState **state, JsonbIteratorToken ctx, struct json_object *obj)
{
	JsonbValue	v;
	JsonbValue *res;

	check_stack_depth();

	switch (json_object_get_type(obj))
	{
		case json_type_object:
			{
				struct json_object_iterator it = json_object_iter_begin(obj);
				struct json_object_iterator end = json_object_iter_end(obj);

				pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
				while (!json_object_iter_equal(&it, &end))
				{
					const char *name = json_object_iter_peek_name(&it);
					JsonbValue	k;

					k.type = jbvString;
					k.val.string.val = pg_any_to_server(name, strlen(name), PG_UTF8);
					k.val.string.len = strlen(k.val.string.val);
					pushJsonbValue(state, WJB_KEY, &k);
					push_jsonc(state, WJB_VALUE, json_object_iter_peek_value(&it));
					json_object_iter_next(&it);
				}
				res = pushJsonbValue(state, WJB_END_OBJECT, NULL);
				break;
			}
		case json_type_array:
			{
				size_t		n = json_object_array_length(obj);
				size_t		i;

				pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
				for (i = 0; i < n; i++)
					push_jsonc(state, WJB_ELEM, json_object_array_get_idx(obj, i));
				res = pushJsonbValue(state, WJB_END_ARRAY, NULL);
				break;
			}
		default:
			jsonc_to_scalar(obj, &v);
			res = pushJsonbValue(state, ctx, &v);
			break;
	}
	return res;
}

/* Convert a json-c object (NULL meaning JSON null) into a new jsonb value. */
Jsonb *
DwcJsoncToJsonb(struct json_object *obj)
{
	JsonbParseState *state = NULL;
	JsonbValue	v;

	if (!json_object_is_type(obj, json_type_object) &&
		!json_object_is_type(obj, json_type_array))
	{
		jsonc_to_scalar(obj, &v);
		return JsonbValueToJsonb(&v);
	}
	return JsonbValueToJsonb(push_jsonc(&state, WJB_VALUE, obj));
}

/* ---- text -> json-c ------------------------------------------------------ */

/*
 * JSON text is parsed by PostgreSQL's own parser (strict RFC 8259, the one
 * behind the json type), whose semantic actions build the json-c tree.
 * json-c's tokener is not used: it accepts single quotes and NaN even in
 * strict mode, and silently saturates integers beyond 64 bits.
 */
typedef struct BuildState
{
	struct json_object *root;
	struct json_object **stack;
	int			depth;
	int			maxdepth;
	char	   *fname;			/* pending object field name */
	const char *what;			/* NULL: report problems by failing, not by errors */
	bool		failed;
} BuildState;

#if PG_VERSION_NUM >= 160000
#define SEM_RETURN_TYPE JsonParseErrorType
#define SEM_RETURN return JSON_SUCCESS
#else
#define SEM_RETURN_TYPE void
#define SEM_RETURN return
#endif

static void
build_add(BuildState *st, struct json_object *o)
{
	if (st->depth > DWC_JSON_MAX_DEPTH)
	{
		json_object_put(o);		/* too deep, see build_open */
		return;
	}
	if (st->depth == 0)
		st->root = o;
	else
		attach(st->stack[st->depth - 1], st->fname, o);
}

static void
build_open(BuildState *st, struct json_object *o)
{
	if (o == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	build_add(st, o);
	if (st->depth >= DWC_JSON_MAX_DEPTH)
	{
		if (st->what == NULL)
		{
			/* keep parsing (the parser cannot be stopped) but build nothing deeper */
			st->failed = true;
			st->depth++;
			return;
		}
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("invalid JSON in %s", st->what),
				 errdetail("Nesting is deeper than %d levels.", DWC_JSON_MAX_DEPTH)));
	}
	if (st->depth == st->maxdepth)
	{
		st->maxdepth *= 2;
		st->stack = repalloc(st->stack, sizeof(struct json_object *) * st->maxdepth);
	}
	st->stack[st->depth++] = o;
}

static SEM_RETURN_TYPE
sem_object_start(void *state)
{
	build_open((BuildState *) state, json_object_new_object());
	SEM_RETURN;
}

static SEM_RETURN_TYPE
sem_array_start(void *state)
{
	build_open((BuildState *) state, json_object_new_array());
	SEM_RETURN;
}

static SEM_RETURN_TYPE
sem_end(void *state)
{
	((BuildState *) state)->depth--;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
sem_field_start(void *state, char *fname, bool isnull)
{
	((BuildState *) state)->fname = fname;
	SEM_RETURN;
}

static SEM_RETURN_TYPE
sem_scalar(void *state, char *token, JsonTokenType tokentype)
{
	BuildState *st = (BuildState *) state;
	struct json_object *o = NULL;

	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			o = json_object_new_string(token);
			break;
		case JSON_TOKEN_NUMBER:
			{
				char	   *end;
				long long	ll;

				errno = 0;
				ll = strtoll(token, &end, 10);
				if (*end == '\0' && errno == 0)
					o = json_object_new_int64(ll);
				else
					/* keep the exact text: 0.1 stays 0.1, 10^30 stays exact */
					o = json_object_new_double_s(strtod(token, NULL), token);
				break;
			}
		case JSON_TOKEN_TRUE:
			o = json_object_new_boolean(1);
			break;
		case JSON_TOKEN_FALSE:
			o = json_object_new_boolean(0);
			break;
		case JSON_TOKEN_NULL:
			o = NULL;
			break;
		default:
			elog(ERROR, "unexpected JSON token type %d", (int) tokentype);
	}
	if (o == NULL && tokentype != JSON_TOKEN_NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	build_add(st, o);
	SEM_RETURN;
}

/*
 * Parse JSON text (UTF-8; RFC 8259 exactly: no comments, single quotes, NaN
 * or trailing data) into a json-c tree.  "what" names the source in error
 * messages, e.g. "response from openai"; with what = NULL, text that is not
 * valid JSON gives *ok = false instead of an error.  The caller owns the
 * result; a JSON null gives NULL.
 */
static struct json_object *
parse_json(const char *text, size_t len, const char *what, bool *ok)
{
	BuildState *st;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc = JSON_SUCCESS;
	struct json_object *result;

	*ok = true;
	if (what == NULL && (len > (size_t) INT_MAX || !pg_verify_mbstr(PG_UTF8, text, (int) len, true)))
	{
		*ok = false;
		return NULL;
	}
	if (len > (size_t) INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("JSON text in %s is too large (%zu bytes)", what, len)));

	/* external text must be valid UTF-8, without NUL bytes */
	if (!pg_verify_mbstr(PG_UTF8, text, (int) len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("invalid JSON in %s", what),
				 errdetail("The text is not valid UTF-8.")));

	st = palloc0(sizeof(BuildState));
	st->maxdepth = 16;
	st->stack = palloc(sizeof(struct json_object *) * st->maxdepth);
	st->what = what;

	memset(&sem, 0, sizeof(sem));
	sem.semstate = st;
	sem.object_start = sem_object_start;
	sem.object_end = sem_end;
	sem.array_start = sem_array_start;
	sem.array_end = sem_end;
	sem.object_field_start = sem_field_start;
	sem.scalar = sem_scalar;

#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, text, len, PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen(unconstify(char *, text), (int) len, PG_UTF8, true);
#endif

	PG_TRY();
	{
		rc = pg_parse_json(lex, &sem);
	}
	PG_CATCH();
	{
		json_object_put(st->root);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (rc != JSON_SUCCESS || st->failed)
	{
		json_object_put(st->root);
		if (what == NULL)
		{
			*ok = false;
			return NULL;
		}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid JSON in %s", what),
				 errdetail_internal("%s", json_errdetail(rc, lex))));
	}

	result = st->root;
	pfree(st->stack);
	pfree(st);
	return result;
}

struct json_object *
DwcJsoncParse(const char *text, size_t len, const char *what)
{
	bool		ok;

	return parse_json(text, len, what, &ok);
}

/* Like DwcJsoncParse, but *ok = false instead of an error for invalid JSON. */
struct json_object *
DwcJsoncTryParse(const char *text, size_t len, bool *ok)
{
	return parse_json(text, len, NULL, ok);
}

/* Is text valid JSON?  Never raises for malformed input. */
bool
DwcJsonIsValid(const char *text, size_t len)
{
	JsonLexContext *lex;
	JsonSemAction sem;

	memset(&sem, 0, sizeof(sem));
#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, text, len, PG_UTF8, true);
#else
	lex = makeJsonLexContextCstringLen(unconstify(char *, text), (int) len, PG_UTF8, true);
#endif
	return pg_parse_json(lex, &sem) == JSON_SUCCESS;
}

/* Compact JSON text of a json-c object, palloc'd. */
char *
DwcJsoncToCString(struct json_object *obj)
{
	return pstrdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
												  JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ---- SQL: tests of the conversions -------------------------------------- */

PG_FUNCTION_INFO_V1(dwc__jsonc_roundtrip);
PG_FUNCTION_INFO_V1(dwc__jsonc_parse);

/*
 * dwc._jsonc_roundtrip(jsonb): jsonb -> json-c -> JSON text -> json-c ->
 * jsonb.  Exercises both conversions and the parser; used by the tests.
 */
Datum
dwc__jsonc_roundtrip(PG_FUNCTION_ARGS)
{
	struct json_object *obj = DwcJsonbToJsonc(PG_GETARG_JSONB_P(0));
	struct json_object *volatile again = NULL;
	Jsonb	   *result = NULL;

	PG_TRY();
	{
		char	   *text = DwcJsoncToCString(obj);

		again = DwcJsoncParse(text, strlen(text), "round trip");
		result = DwcJsoncToJsonb(again);
	}
	PG_FINALLY();
	{
		json_object_put(obj);
		json_object_put(again);
	}
	PG_END_TRY();
	PG_RETURN_JSONB_P(result);
}

/* dwc._jsonc_parse(text): parse with the strict json-c parser into jsonb. */
Datum
dwc__jsonc_parse(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	struct json_object *obj = DwcJsoncParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), "argument");
	Jsonb	   *result = NULL;

	PG_TRY();
	{
		result = DwcJsoncToJsonb(obj);
	}
	PG_FINALLY();
	{
		json_object_put(obj);
	}
	PG_END_TRY();
	PG_RETURN_JSONB_P(result);
}
