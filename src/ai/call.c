/*-------------------------------------------------------------------------
 *
 * call.c
 *		The AI call path: cache, rate limit, HTTP with retries, call log.
 *
 *   1. resolve the provider and model;
 *   2. builtin: generate locally; done;
 *   3. look up the response cache (key: SHA-256 of provider, model,
 *      normalised messages and options); a live entry is the answer;
 *   4. wait for the provider's rate limit (requests and tokens per minute);
 *   5. send; retry timeouts, connection failures, 429 (after Retry-After)
 *      and 5xx with exponential backoff and jitter, up to max_retries;
 *      401/403 and other 4xx fail at once, with a clear message;
 *   6. parse the provider's format; a malformed or oversized response is an
 *      error;
 *   7. store the answer in the cache; log the call (always, also failures).
 *
 * No message, log line or table ever holds an API key: request headers are
 * not logged, URLs carry no key, and text coming back from a provider is
 * scrubbed of the key before it goes into an error message.
 *
 * src/ai/call.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/pg_prng.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "core/timing.h"
#include "core/dbworker.h"
#include "ai/cache_mem.h"
#include "ai/cache_redis.h"
#include "ai/ai.h"
#include "ai/ailog.h"
#include "ai/text.h"
#include "ai/wire.h"
#include "security/identity.h"
#include "core/guc.h"
#include "core/owner.h"
#include "ai/settings.h"

#define RETRY_BASE_MS 500
#define RETRY_MAX_MS 30000

/* Replace every run of 8+ characters of the key in s with "[redacted]". */
static char *
scrub(const char *s, const char *key)
{
	StringInfoData out;
	size_t		klen = key ? strlen(key) : 0;
	size_t		i = 0;
	size_t		n = strlen(s);

	if (klen < 8)
		return pstrdup(s);
	initStringInfo(&out);
	while (i < n)
	{
		size_t		best = 0;
		size_t		k;

		/* longest run of key characters starting here */
		for (k = 0; k + 8 <= klen; k++)
		{
			size_t		m = 0;

			while (i + m < n && k + m < klen && s[i + m] == key[k + m])
				m++;
			if (m > best)
				best = m;
		}
		if (best >= 8)
		{
			appendStringInfoString(&out, "[redacted]");
			i += best;
		}
		else
			appendStringInfoChar(&out, s[i++]);
	}
	return out.data;
}

/* Collapse runs of white space and trim: the cache ignores layout. */
static void
append_normalised(StringInfo buf, const char *s)
{
	bool		space = false;
	bool		started = false;

	for (; *s; s++)
	{
		if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		{
			space = started;
			continue;
		}
		if (space)
			appendStringInfoChar(buf, ' ');
		appendStringInfoChar(buf, *s);
		space = false;
		started = true;
	}
}

static void
cache_key(const DwcProvider *p, const char *model, const DwcAiRequest *req, uint8 *digest)
{
	StringInfoData buf;
	ListCell   *lc;
	pg_cryptohash_ctx *ctx;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s\x1f%s\x1f%s\x1f%.6f\x1f%d", p->name, DwcProviderKindName(p->kind), model,
					 req->temperature, req->max_tokens);
	foreach(lc, req->messages)
	{
		DwcMessage *m = lfirst(lc);

		appendStringInfo(&buf, "\x1e%s\x1f", m->role);
		append_normalised(&buf, m->content);
	}
	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) buf.data, buf.len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute the cache key");
	pg_cryptohash_free(ctx);
	pfree(buf.data);
}

static bytea *
digest_bytea(const uint8 *digest)
{
	bytea	   *b = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(b, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	memcpy(VARDATA(b), digest, PG_SHA256_DIGEST_LENGTH);
	return b;
}

typedef struct CacheOp
{
	const uint8 *digest;
	const DwcProvider *p;
	const char *model;
	DwcAiResult *res;
	int			ttl_s;
	bool		hit;
} CacheOp;

static bool cache_get(const uint8 *digest, DwcAiResult *res);
static void cache_put(const uint8 *digest, const DwcProvider *p, const char *model,
					  const DwcAiResult *res, int ttl_s);

static void
cache_get_op(void *arg)
{
	CacheOp    *op = arg;

	op->hit = cache_get(op->digest, op->res);
}

static void
cache_put_op(void *arg)
{
	CacheOp    *op = arg;

	cache_put(op->digest, op->p, op->model, op->res, op->ttl_s);
}

static void
log_op(void *arg)
{
	DwcAiLogCall((const DwcAiCall *) arg);
}

static bool
cache_get(const uint8 *digest, DwcAiResult *res)
{
	Oid			type = BYTEAOID;
	Datum		arg = PointerGetDatum(digest_bytea(digest));
	bool		hit = false;
	TimestampTz expires = 0;
	int64		ttl_ms;
	static SPIPlanPtr plan = NULL;

	/* the memory tier first: no table lookup at all; then Redis, shared with other clusters */
	if (DwcAiCacheMemGet(digest, &res->text, &res->tokens_in, &res->tokens_out))
		return true;
	if (DwcAiCacheRedisGet(digest, &res->text, &res->tokens_in, &res->tokens_out, &ttl_ms))
	{
		/* at most 10 s here: another cluster's invalidation reaches Redis, not this memory */
		DwcAiCacheMemPut(digest, res->text, res->tokens_in, res->tokens_out,
						 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(ttl_ms, 10 * 1000)));
		return true;
	}
	SPI_connect();
	if (plan == NULL)
	{
		plan = SPI_prepare("SELECT response, tokens_in, tokens_out, expires_at FROM dwc.ai_cache"
						   " WHERE key = $1 AND expires_at > clock_timestamp()", 1, &type);
		if (plan == NULL)
			elog(ERROR, "could not prepare the AI cache lookup");
		SPI_keepplan(plan);
	}
	if (SPI_execute_plan(plan, &arg, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *text = SPI_getvalue(tup, desc, 1);

		res->text = SPI_palloc(strlen(text) + 1);
		strcpy(res->text, text);
		res->tokens_in = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		res->tokens_out = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		expires = DatumGetTimestampTz(SPI_getbinval(tup, desc, 4, &isnull));
		hit = true;
	}
	SPI_finish();
	/* found in the table: the next lookups find it in memory */
	if (hit)
		DwcAiCacheMemPut(digest, res->text, res->tokens_in, res->tokens_out, expires);
	return hit;
}

static void
cache_put(const uint8 *digest, const DwcProvider *p, const char *model, const DwcAiResult *res, int ttl_s)
{
	Oid			types[7] = {BYTEAOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID};
	Datum		args[7];
	static SPIPlanPtr plan = NULL;

	args[0] = PointerGetDatum(digest_bytea(digest));
	args[1] = CStringGetTextDatum(p->name);
	args[2] = CStringGetTextDatum(model);
	args[3] = CStringGetTextDatum(res->text);
	args[4] = Int32GetDatum(res->tokens_in);
	args[5] = Int32GetDatum(res->tokens_out);
	args[6] = Int32GetDatum(ttl_s);
	SPI_connect();
	if (plan == NULL)
	{
		plan = SPI_prepare("INSERT INTO dwc.ai_cache (key, provider, model, response, tokens_in, tokens_out,"
						   "  created_at, expires_at)"
						   " VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), clock_timestamp() + $7 * interval '1 second')"
						   " ON CONFLICT (key) DO UPDATE SET response = excluded.response,"
						   "   tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out,"
						   "   created_at = excluded.created_at, expires_at = excluded.expires_at", 7, types);
		if (plan == NULL)
			elog(ERROR, "could not prepare the AI cache store");
		SPI_keepplan(plan);
	}
	SPI_execute_plan(plan, args, NULL, false, 0);
	SPI_finish();
	DwcAiCacheMemPut(digest, res->text, res->tokens_in, res->tokens_out,
					 TimestampTzPlusMilliseconds(GetCurrentTimestamp(), (int64) ttl_s * 1000));
	DwcAiCacheRedisPut(digest, res->text, res->tokens_in, res->tokens_out, ttl_s);
}

/*
 * Log a call.  in_error: called from an error handler, where the request's
 * identity (which may read settings and verify a token) is not looked up;
 * such a row has no user.
 */
static void
log_call_as(const char *operation, const DwcProvider *p, const char *model, const DwcAiResult *res,
			bool ok, int http_status, const char *error, bool in_error)
{
	DwcAiCall	c;

	memset(&c, 0, sizeof(c));
	c.at = GetCurrentTimestamp();
	c.role = in_error ? GetUserId() : DwcRequestRoleId();
	if (!in_error)
	{
		char	   *user = DwcCurrentUserId();

		if (user != NULL)
			strlcpy(c.user_id, user, sizeof(c.user_id));
	}
	strlcpy(c.provider, p->name, sizeof(c.provider));
	strlcpy(c.model, model, sizeof(c.model));
	strlcpy(c.operation, operation, sizeof(c.operation));
	c.tokens_in = res->tokens_in;
	c.tokens_out = res->tokens_out;
	c.latency_ms = res->latency_ms;
	c.cost = res->cost;
	c.cache_hit = res->cached;
	c.ok = ok;
	c.http_status = (int16) http_status;
	c.attempts = (int16) res->attempts;
	if (error)
		strlcpy(c.error, error, sizeof(c.error));
	DwcRunAsOwner(log_op, &c);
}

static void
log_call(const char *operation, const DwcProvider *p, const char *model, const DwcAiResult *res,
		 bool ok, int http_status, const char *error)
{
	log_call_as(operation, p, model, res, ok, http_status, error, false);
}

/* Sleep interruptibly. */
static void
nap(long ms)
{
	/* by the clock: a latch set meanwhile (a signal, a notification) must not cut the wait short */
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);

		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, Min(left, 1000L),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		DWC_CHECK_FOR_INTERRUPTS();
	}
}

static long
backoff_ms(int attempt)
{
	double		d = Min((double) RETRY_MAX_MS, RETRY_BASE_MS * pow(2.0, attempt - 1));

	return (long) (d / 2 + pg_prng_double(&pg_global_prng_state) * d / 2);
}

/* Seconds in a Retry-After header (only the delay-seconds form), or -1. */
static long
retry_after_ms(const DwcHttpResponse *resp)
{
	const char *v = DwcHttpHeaderValue(resp, "retry-after");
	char	   *end;
	double		s;

	if (v == NULL)
		return -1;
	s = strtod(v, &end);
	if (end == v || s < 0 || s > 3600)
		return -1;
	return (long) (s * 1000);
}

/* One exchange with a provider: what to send, and what is known for the log. */
typedef struct Exchange
{
	const DwcProvider *p;
	const char *model;
	const char *operation;
	int			tokens_wanted;	/* for the tokens-per-minute limit */
	instr_time	start;
	void		(*build) (struct Exchange *x, DwcHttpRequest *hreq);
	List	   *messages;		/* chat */
	double		temperature;
	int			max_tokens;
	const char *input;			/* embeddings */
} Exchange;

static void
build_chat(Exchange *x, DwcHttpRequest *hreq)
{
	DwcWireChatRequest(x->p, x->model, x->messages, x->temperature, x->max_tokens, hreq);
}

static void
build_embed(Exchange *x, DwcHttpRequest *hreq)
{
	DwcWireEmbedRequest(x->p, x->model, x->input, hreq);
}

/* Log a failed exchange, then raise the error the caller prepared. */
#define FAIL(x, res, status, why, ...) \
	do { \
		(res)->latency_ms = dwc_ms_since((x)->start); \
		log_call((x)->operation, (x)->p, (x)->model, (res), false, (status), (why)); \
		ereport(ERROR, __VA_ARGS__); \
	} while (0)

/*
 * Send a request until it succeeds: retry timeouts, connection failures,
 * 408, 429 (after Retry-After when given) and 5xx with exponential backoff
 * and jitter, up to the provider's max_retries; fail at once on 401/403
 * and other 4xx.  Failures are logged before they are raised.  Returns the
 * 2xx response.
 */
static void
exchange(Exchange *x, DwcAiResult *res, DwcHttpResponse *resp)
{
	const DwcProvider *p = x->p;
	int			attempt;

	DwcProviderResolveKey(unconstify(DwcProvider *, p));
	/* a key that is named but not there fails now, not after the provider's retries */
	if (p->api_key == NULL && (p->key_env || p->key_setting))
		FAIL(x, res, 0, "the API key is missing",
			 (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			  errmsg("AI provider \"%s\" has no API key: %s %s is not set", p->name,
					 p->key_env ? "environment variable" : "setting",
					 p->key_env ? p->key_env : p->key_setting),
			  errhint(p->key_env ? "Set it in the server's environment (for Debian clusters, "
					  "/etc/postgresql/<version>/<cluster>/environment) and restart, or store a key with "
					  "dwc.set_provider_key()." : "Set it (superuser only) and reload, or store a key with "
					  "dwc.set_provider_key().")));
	for (attempt = 1;; attempt++)
	{
		DwcHttpRequest hreq;
		long		wait = -1;

		res->attempts = attempt;
		if (!DwcRateLimitAcquire(p->id, p->requests_per_minute, p->tokens_per_minute,
								 x->tokens_wanted, p->timeout_ms))
			FAIL(x, res, 0, "rate limit: no capacity within the timeout",
				 (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				  errmsg("rate limit of AI provider \"%s\" reached", p->name),
				  errdetail("No capacity freed up within the provider's timeout of %d ms.", p->timeout_ms),
				  errhint("Raise requests_per_minute or tokens_per_minute in dwc.ai_providers, or retry later.")));

		DwcHttpInitRequest(&hreq, "POST", "");
		hreq.timeout_ms = p->timeout_ms;
		x->build(x, &hreq);
		DwcHttpPerform(&hreq, resp);

		if (resp->outcome == DWC_HTTP_OK && resp->status >= 200 && resp->status < 300)
			return;

		if (resp->outcome != DWC_HTTP_OK)
		{
			char	   *why;

			if (DwcHttpOutcomeIsTransient(resp->outcome) && attempt <= p->max_retries)
			{
				nap(backoff_ms(attempt));
				continue;
			}
			why = scrub(DwcHttpDescribeFailure(&hreq, resp), p->api_key);
			if (resp->outcome == DWC_HTTP_TOO_LARGE)
				FAIL(x, res, 0, why,
					 (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					  errmsg("response from AI provider \"%s\" is too large", p->name),
					  errdetail("%s", why),
					  errhint("Raise dwc.http_max_response_size, or lower max_tokens.")));
			FAIL(x, res, 0, why,
				 (errcode(ERRCODE_CONNECTION_FAILURE),
				  errmsg("AI provider \"%s\" could not be reached after %d attempts", p->name, attempt),
				  errdetail("%s", why)));
		}
		if (resp->status == 401 || resp->status == 403)
			FAIL(x, res, (int) resp->status, psprintf("HTTP %ld", resp->status),
				 (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				  errmsg("AI provider \"%s\" refused the credentials (HTTP %ld)", p->name, resp->status),
				  errhint(p->api_key ? "Check the provider's API key and its permissions." :
						  "The provider has no API key: set one with dwc.set_provider_key(), "
						  "api_key_env or api_key_setting.")));
		if (resp->status == 429 || resp->status == 408 || resp->status >= 500)
		{
			char	   *msg;
			char	   *why;

			if (attempt <= p->max_retries)
			{
				wait = resp->status == 429 ? retry_after_ms(resp) : -1;
				nap(wait >= 0 ? wait : backoff_ms(attempt));
				continue;
			}
			msg = DwcWireErrorText(resp->body, resp->body_len);
			why = psprintf("HTTP %ld%s%s", resp->status, msg ? ": " : "", msg ? scrub(msg, p->api_key) : "");
			FAIL(x, res, (int) resp->status, why,
				 (errcode(resp->status == 429 ? ERRCODE_CONFIGURATION_LIMIT_EXCEEDED : ERRCODE_CONNECTION_FAILURE),
				  errmsg("AI provider \"%s\" failed after %d attempts", p->name, attempt),
				  errdetail("%s", why)));
		}
		{
			char	   *msg = DwcWireErrorText(resp->body, resp->body_len);
			char	   *why = psprintf("HTTP %ld%s%s", resp->status, msg ? ": " : "",
									   msg ? scrub(msg, p->api_key) : "");

			FAIL(x, res, (int) resp->status, why,
				 (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				  errmsg("AI provider \"%s\" rejected the request", p->name),
				  errdetail("%s", why),
				  errhint("Check the model name (\"%s\") and the request's options.", x->model)));
		}
	}
}

/*
 * Run an exchange; whatever happens, wipe the key from memory, and log
 * errors that exchange() did not (interrupts, timeouts of statements)
 * when the log survives the abort (the shared ring).
 */
static void
guarded_exchange(Exchange *x, DwcAiResult *res, DwcHttpResponse *resp)
{
	MemoryContext call_cxt = CurrentMemoryContext;
	DwcProvider *p = unconstify(DwcProvider *, x->p);

	PG_TRY();
	{
		exchange(x, res, resp);
	}
	PG_CATCH();
	{
		MemoryContext ecxt = MemoryContextSwitchTo(call_cxt);
		ErrorData  *edata = CopyErrorData();

		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && DwcAiLogIsShared())
		{
			res->latency_ms = dwc_ms_since(x->start);
			log_call_as(x->operation, p, x->model, res, false, 0, "canceled", true);
		}
		FreeErrorData(edata);
		MemoryContextSwitchTo(ecxt);
		if (p->api_key)
			explicit_bzero(p->api_key, strlen(p->api_key));
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (p->api_key)
		explicit_bzero(p->api_key, strlen(p->api_key));
}

/*
 * Complete a chat request with a provider.  Fills res; raises errors that
 * name the provider and what went wrong.
 */
void
DwcAiComplete(const DwcAiRequest *req, DwcAiResult *res)
{
	const char *pname = req->provider ? req->provider : dwc_default_provider;
	DwcProvider *p = DwcLookupProvider(pname, false);
	const char *model = req->model ? req->model : (p->default_model ? p->default_model : "");
	const char *operation = req->operation ? req->operation : "generate";
	int			max_tokens = req->max_tokens > 0 ? req->max_tokens : 1024;
	int			ttl = req->cache_ttl_s >= 0 ? req->cache_ttl_s : p->cache_ttl_s;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	int			prompt_bytes = 0;
	ListCell   *lc;
	Exchange	x;
	DwcHttpResponse resp;
	char	   *problem = NULL;

	memset(res, 0, sizeof(*res));
	memset(&x, 0, sizeof(x));
	INSTR_TIME_SET_CURRENT(x.start);
	res->provider = p->name;
	res->model = pstrdup(model);
	if (req->messages == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an AI request needs at least one message")));
	foreach(lc, req->messages)
		prompt_bytes += strlen(((DwcMessage *) lfirst(lc))->content);

	if (p->kind == DWC_PROVIDER_BUILTIN)
	{
		res->text = DwcBuiltinComplete(req->messages, max_tokens);
		res->tokens_in = DwcEstimateTokens(prompt_bytes);
		res->tokens_out = DwcEstimateTokens(strlen(res->text));
		res->attempts = 1;
		res->latency_ms = dwc_ms_since(x.start);
		log_call(operation, p, model, res, true, 0, NULL);
		return;
	}

	if (ttl > 0)
	{
		CacheOp		op = {digest, p, model, res, ttl, false};

		cache_key(p, model, req, digest);
		DwcRunAsOwner(cache_get_op, &op);
		res->cached = op.hit;
		if (res->cached)
		{
			res->latency_ms = dwc_ms_since(x.start);
			log_call(operation, p, model, res, true, 0, NULL);
			return;
		}
	}

	x.p = p;
	x.model = model;
	x.operation = operation;
	x.tokens_wanted = DwcEstimateTokens(prompt_bytes) + max_tokens;
	x.build = build_chat;
	x.messages = req->messages;
	x.temperature = req->temperature;
	x.max_tokens = max_tokens;
	guarded_exchange(&x, res, &resp);

	res->text = DwcWireChatResponse(p, resp.body, resp.body_len, &res->tokens_in, &res->tokens_out, &problem);
	if (res->text == NULL)
		FAIL(&x, res, (int) resp.status, psprintf("malformed response: %s", problem),
			 (errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			  errmsg("malformed response from AI provider \"%s\"", p->name),
			  errdetail("%s (%s format).", problem, DwcProviderKindName(p->kind))));
	res->cost = res->tokens_in / 1000.0 * p->cost_input_per_1k + res->tokens_out / 1000.0 * p->cost_output_per_1k;
	res->latency_ms = dwc_ms_since(x.start);
	log_call(operation, p, model, res, true, (int) resp.status, NULL);
	if (ttl > 0)
	{
		CacheOp		op = {digest, p, model, res, ttl, false};

		DwcRunAsOwner(cache_put_op, &op);
	}
}

/*
 * Embed a text with a provider: builtin hashed TF vectors, or the
 * provider's embeddings endpoint (not Anthropic's, which has none), with
 * the same retries and logging as chat calls.
 */
float4 *
DwcAiEmbed(const char *provider, const char *model, const char *text, int *dim)
{
	DwcProvider *p = DwcLookupProvider(provider ? provider : "builtin", false);
	Exchange	x;
	DwcAiResult res;
	DwcHttpResponse resp;
	float4	   *v;
	char	   *problem;

	if (p->kind == DWC_PROVIDER_BUILTIN)
	{
		v = palloc(sizeof(float4) * DWC_EMBED_DIM);
		DwcBuiltinEmbed(text, strlen(text), v);
		*dim = DWC_EMBED_DIM;
		return v;
	}
	if (p->kind == DWC_PROVIDER_ANTHROPIC)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("AI provider \"%s\" (anthropic) has no embeddings API", p->name),
				 errhint("Use builtin, an openai, google or openai_compatible provider for embeddings.")));
	memset(&x, 0, sizeof(x));
	memset(&res, 0, sizeof(res));
	INSTR_TIME_SET_CURRENT(x.start);
	x.p = p;
	x.model = model ? model : (p->embedding_model ? p->embedding_model :
							   (p->kind == DWC_PROVIDER_GOOGLE ? "text-embedding-004" : "text-embedding-3-small"));
	x.operation = "embed";
	x.tokens_wanted = DwcEstimateTokens(strlen(text));
	x.build = build_embed;
	x.input = text;
	guarded_exchange(&x, &res, &resp);
	v = DwcWireEmbedResponse(p, resp.body, resp.body_len, dim, &problem);
	if (v == NULL)
		FAIL(&x, &res, (int) resp.status, psprintf("malformed response: %s", problem),
			 (errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			  errmsg("malformed embedding response from AI provider \"%s\"", p->name),
			  errdetail("%s.", problem)));
	res.tokens_in = x.tokens_wanted;
	res.cost = res.tokens_in / 1000.0 * p->cost_input_per_1k;
	res.latency_ms = dwc_ms_since(x.start);
	log_call("embed", p, x.model, &res, true, (int) resp.status, NULL);
	return v;
}
