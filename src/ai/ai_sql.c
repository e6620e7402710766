/*-------------------------------------------------------------------------
 *
 * ai_sql.c
 *		SQL functions of the AI service: generation, chat, text analysis,
 *		embeddings, tokens.
 *
 * src/ai/ai_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "ai/ai.h"
#include "ai/text.h"
#include "core/errors.h"

PG_FUNCTION_INFO_V1(dwc_ai_generate);
PG_FUNCTION_INFO_V1(dwc_ai_chat);
PG_FUNCTION_INFO_V1(dwc_analyze_text);
PG_FUNCTION_INFO_V1(dwc_summarize);
PG_FUNCTION_INFO_V1(dwc_text_title);
PG_FUNCTION_INFO_V1(dwc_text_quality);
PG_FUNCTION_INFO_V1(dwc_estimate_tokens);
PG_FUNCTION_INFO_V1(dwc_embed);

static Jsonb *
jsonb_of(StringInfo s)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s->data)));
}

static void
append_json_string(StringInfo buf, const char *key, const char *value, bool comma)
{
	if (comma)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

static Jsonb *
result_jsonb(const DwcAiResult *r)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	append_json_string(&b, "text", r->text, false);
	append_json_string(&b, "provider", r->provider, true);
	append_json_string(&b, "model", r->model, true);
	appendStringInfo(&b, ", \"tokens_in\": %d, \"tokens_out\": %d, \"cost\": %.6f, "
					 "\"latency_ms\": %.3f, \"cached\": %s, \"attempts\": %d}",
					 r->tokens_in, r->tokens_out, r->cost, r->latency_ms,
					 r->cached ? "true" : "false", r->attempts);
	return jsonb_of(&b);
}

static DwcMessage *
message(const char *role, const char *content)
{
	DwcMessage *m = palloc(sizeof(DwcMessage));

	m->role = pstrdup(role);
	m->content = pstrdup(content);
	return m;
}

/* Common options: provider, model, temperature, max_tokens, cache_ttl (args from..from+4). */
static void
request_options(FunctionCallInfo fcinfo, int from, DwcAiRequest *req)
{
	req->provider = DWC_TEXT_ARG_OR_NULL(from);
	req->model = DWC_TEXT_ARG_OR_NULL(from + 1);
	req->temperature = PG_ARGISNULL(from + 2) ? -1 : PG_GETARG_FLOAT8(from + 2);
	req->max_tokens = PG_ARGISNULL(from + 3) ? 0 : PG_GETARG_INT32(from + 3);
	req->cache_ttl_s = -1;
	if (!PG_ARGISNULL(from + 4))
	{
		Interval   *iv = PG_GETARG_INTERVAL_P(from + 4);

		if (iv->month != 0 || iv->day < 0 || iv->time < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cache_ttl must be a non-negative interval without months")));
		req->cache_ttl_s = (int32) Min((int64) iv->day * 86400 + iv->time / USECS_PER_SEC, (int64) PG_INT32_MAX);
	}
	if (req->temperature != -1 && (req->temperature < 0 || req->temperature > 2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("temperature must be between 0 and 2, not %g", req->temperature)));
	if (!PG_ARGISNULL(from + 3) && (req->max_tokens < 1 || req->max_tokens > 200000))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tokens must be between 1 and 200000, not %d", req->max_tokens)));
}

/*
 * dwc.ai_generate(prompt, system, provider, model, temperature, max_tokens,
 *				   cache_ttl) returns jsonb
 */
Datum
dwc_ai_generate(PG_FUNCTION_ARGS)
{
	DwcAiRequest req;
	DwcAiResult res;
	char	   *prompt;

	memset(&req, 0, sizeof(req));
	DWC_REQUIRE_ARG(0, "prompt");
	prompt = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (prompt[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prompt must not be empty")));
	if (!PG_ARGISNULL(1))
		req.messages = lappend(req.messages, message("system", text_to_cstring(PG_GETARG_TEXT_PP(1))));
	req.messages = lappend(req.messages, message("user", prompt));
	request_options(fcinfo, 2, &req);
	req.operation = "generate";
	DwcAiComplete(&req, &res);
	PG_RETURN_JSONB_P(result_jsonb(&res));
}

/*
 * dwc.ai_chat(messages jsonb, provider, model, temperature, max_tokens,
 *			   cache_ttl) returns jsonb; messages is [{"role", "content"}, ...]
 */
Datum
dwc_ai_chat(PG_FUNCTION_ARGS)
{
	DwcAiRequest req;
	DwcAiResult res;
	Jsonb	   *msgs;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			i = 0;

	memset(&req, 0, sizeof(req));
	DWC_REQUIRE_ARG(0, "messages");
	msgs = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(msgs) || JB_ROOT_IS_SCALAR(msgs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages must be a JSON array of {\"role\", \"content\"} objects")));
	it = JsonbIteratorInit(&msgs->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue	buf1,
					buf2;
		JsonbValue *role;
		JsonbValue *content;
		char	   *r;

		if (tok != WJB_ELEM)
			continue;
		i++;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d is not an object", i)));
		role = getKeyJsonValueFromContainer(v.val.binary.data, "role", 4, &buf1);
		content = getKeyJsonValueFromContainer(v.val.binary.data, "content", 7, &buf2);
		if (role == NULL || role->type != jbvString || content == NULL || content->type != jbvString)
		{
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d needs string \"role\" and \"content\"", i)));
			pg_unreachable();
		}
		r = pnstrdup(role->val.string.val, role->val.string.len);
		if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message %d has role \"%s\"", i, r),
					 errhint("Roles are system, user and assistant.")));
		req.messages = lappend(req.messages,
							   message(r, pnstrdup(content->val.string.val, content->val.string.len)));
	}
	request_options(fcinfo, 1, &req);
	req.operation = "chat";
	DwcAiComplete(&req, &res);
	PG_RETURN_JSONB_P(result_jsonb(&res));
}

/* dwc.analyze_text(content) returns jsonb */
Datum
dwc_analyze_text(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	DwcText    *x = DwcTextParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	const char *label;
	double		sentiment = DwcSentiment(x, &label);
	DwcKeyword *kw;
	int			nkw = DwcKeywords(x, 10, &kw);
	const char *lang = DwcDetectLanguage(x);
	StringInfoData b;
	int			i;

	initStringInfo(&b);
	appendStringInfo(&b, "{\"sentiment\": {\"score\": %.4f, \"label\": \"%s\"}, \"keywords\": [",
					 sentiment, label);
	for (i = 0; i < nkw; i++)
	{
		appendStringInfo(&b, "%s{\"word\": ", i ? ", " : "");
		escape_json(&b, kw[i].word);
		appendStringInfo(&b, ", \"count\": %d, \"weight\": %.4f}", kw[i].count, kw[i].weight);
	}
	appendStringInfoString(&b, "], ");
	append_json_string(&b, "summary", DwcSummary(x, 2), false);
	append_json_string(&b, "language", lang, true);
	appendStringInfo(&b, ", \"words\": %d, \"sentences\": %d, \"characters\": %d, "
					 "\"readability\": {\"flesch_reading_ease\": %.2f}, \"estimated_tokens\": %d}",
					 x->nwords, x->nsentences,
					 (int) pg_mbstrlen_with_len(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)),
					 DwcFleschReadingEase(x), DwcEstimateTokens(VARSIZE_ANY_EXHDR(t)));
	PG_RETURN_JSONB_P(jsonb_of(&b));
}

/* dwc.summarize(content, sentences) returns text */
Datum
dwc_summarize(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int32		n = PG_GETARG_INT32(1);

	if (n < 1 || n > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sentences must be between 1 and 100, not %d", n)));
	PG_RETURN_TEXT_P(cstring_to_text(DwcSummary(DwcTextParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)), n)));
}

/* dwc.text_title(content) returns text */
Datum
dwc_text_title(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(DwcTitle(DwcTextParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)), 10)));
}

/* dwc.text_quality(content, reference) returns jsonb */
Datum
dwc_text_quality(PG_FUNCTION_ARGS)
{
	text	   *t;
	DwcText    *x;
	DwcText    *r = NULL;
	DwcQuality	q;
	StringInfoData b;

	/* not STRICT because reference may be NULL; no content, no score */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	t = PG_GETARG_TEXT_PP(0);
	x = DwcTextParse(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	if (!PG_ARGISNULL(1))
	{
		text	   *rt = PG_GETARG_TEXT_PP(1);

		r = DwcTextParse(VARDATA_ANY(rt), VARSIZE_ANY_EXHDR(rt));
	}
	q = DwcQualityOf(x, r);
	initStringInfo(&b);
	appendStringInfo(&b, "{\"score\": %.2f, \"readability\": %.4f, \"length\": %.4f, \"coverage\": %.4f, "
					 "\"repetition\": %.4f, \"fluency\": %.4f, \"variety\": %.4f, \"specificity\": %.4f, "
					 "\"words\": %d}",
					 q.score, q.readability, q.length, q.coverage, q.repetition, q.fluency, q.variety,
					 q.specificity, q.words);
	PG_RETURN_JSONB_P(jsonb_of(&b));
}

/* dwc.estimate_tokens(content) returns int */
Datum
dwc_estimate_tokens(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(DwcEstimateTokens(VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0))));
}

/* dwc.embed(content, provider, model) returns real[] */
Datum
dwc_embed(PG_FUNCTION_ARGS)
{
	char	   *content;
	int			dim;
	float4	   *v;
	Datum	   *d;
	int			i;

	DWC_REQUIRE_ARG(0, "content");
	content = text_to_cstring(PG_GETARG_TEXT_PP(0));
	v = DwcAiEmbed(DWC_TEXT_ARG_OR_NULL(1), DWC_TEXT_ARG_OR_NULL(2), content, &dim);
	d = palloc(sizeof(Datum) * dim);
	for (i = 0; i < dim; i++)
		d[i] = Float4GetDatum(v[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, dim, FLOAT4OID, 4, true, TYPALIGN_INT));
}
