/*-------------------------------------------------------------------------
 *
 * labels.c
 *		A metric's labels checked and put in their one form, in C: every
 *		recorded value passes through here, and the PL/pgSQL version (a loop
 *		over jsonb_each with a regular expression per name) was most of what
 *		recording a metric cost.
 *
 * The form: a JSON object of at most MAX_LABELS names (letters, digits and
 * _, not starting with a digit or "__") whose values, strings, numbers or
 * booleans of at most MAX_VALUE_CHARS characters, become strings, so that
 * {"code": 200} and {"code": "200"} are one series.  jsonb orders the keys
 * itself.
 *
 * src/metrics/labels.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#define MAX_LABELS 10
#define MAX_NAME_CHARS 100
#define MAX_VALUE_CHARS 200

PG_FUNCTION_INFO_V1(dwc__metric_labels);

static bool
valid_name(const char *s, int len)
{
	int			i;

	if (len < 1 || len > MAX_NAME_CHARS)
		return false;
	if (len >= 2 && s[0] == '_' && s[1] == '_')
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* a scalar label value as the string it is stored as */
static void
value_string(const JsonbValue *v, const char *key, int keylen, JsonbValue *out)
{
	char	   *s;
	int			len;

	switch (v->type)
	{
		case jbvString:
			s = v->val.string.val;
			len = v->val.string.len;
			break;
		case jbvNumeric:
			s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			len = strlen(s);
			break;
		case jbvBool:
			s = v->val.boolean ? "true" : "false";
			len = strlen(s);
			break;
		default:
			s = NULL;
			len = 0;
			break;
	}
	if (s == NULL || pg_mbstrlen_with_len(s, len) > MAX_VALUE_CHARS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label \"%.*s\" needs a value of at most %d characters", keylen, key, MAX_VALUE_CHARS)));
	out->type = jbvString;
	out->val.string.val = s;
	out->val.string.len = len;
}

Datum
dwc__metric_labels(PG_FUNCTION_ARGS)
{
	Jsonb	   *in;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	JsonbParseState *state = NULL;
	JsonbValue *res = NULL;

	if (PG_ARGISNULL(0))
	{
		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
	}
	in = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_OBJECT(in))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("labels must be a JSON object of strings")));
	if (JB_ROOT_COUNT(in) > MAX_LABELS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a metric takes at most %d labels", MAX_LABELS)));

	it = JsonbIteratorInit(&in->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_END_OBJECT:
				res = pushJsonbValue(&state, tok, NULL);
				break;
			case WJB_KEY:
				if (!valid_name(v.val.string.val, v.val.string.len))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid label name \"%.*s\"", v.val.string.len, v.val.string.val),
							 errhint("Label names are letters, digits and _, not starting with a digit or __.")));
				res = pushJsonbValue(&state, WJB_KEY, &v);
				{
					JsonbValue	val;
					JsonbValue	str;
					char	   *key = v.val.string.val;
					int			keylen = v.val.string.len;

					tok = JsonbIteratorNext(&it, &val, true);
					Assert(tok == WJB_VALUE);
					value_string(&val, key, keylen, &str);
					res = pushJsonbValue(&state, WJB_VALUE, &str);
				}
				break;
			default:
				elog(ERROR, "unexpected jsonb token %d in labels", (int) tok);
		}
	}
	PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
}
