/*-------------------------------------------------------------------------
 *
 * cache_redis.c
 *		The response cache's optional Redis tier, for clusters that share
 *		one cache (libhiredis).
 *
 * Between the memory tier and the table: a lookup the memory tier misses asks
 * Redis, and an answer stored in the table is stored there too, with its
 * TTL.  dwc.ai_cache_redis names the server ("host:port", or a Unix socket
 * path starting with "/"; empty: no Redis tier).  Keys are
 * dwc:ai:<database>:<generation>:<hex digest>: clusters share answers per
 * database name.  Clearing bumps dwc:ai:<database>:generation, so one
 * invalidation reaches every cluster; the lookup reads the generation and
 * the answer in one round trip (a Lua script).
 *
 * Redis is a cache: when it cannot be reached, or answers with an error,
 * the call goes on as a miss (logged, and counted), and for
 * DWC_REDIS_BACKOFF_S no new connection is tried.  Each round trip waits at
 * most dwc.ai_cache_redis_timeout.  hiredis allocates with malloc: nothing
 * between an allocation and its free raises an error.
 *
 * src/ai/cache_redis.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/time.h>
#include <hiredis.h>

#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "ai/cache_redis.h"

#define DWC_REDIS_BACKOFF_S 5

char	   *dwc_ai_cache_redis = NULL;
int			dwc_ai_cache_redis_timeout_ms = 100;

static redisContext *rc = NULL;
static char *rc_target = NULL;
static TimestampTz retry_after = 0;

/* the answer of generation <g> of this database's keys and its milliseconds to live, or nil */
static const char *const lookup_script =
"local g = redis.call('GET', KEYS[1]) or '0' "
"local k = ARGV[1] .. g .. ':' .. ARGV[2] "
"local v = redis.call('GET', k) "
"if not v then return nil end "
"return {v, redis.call('PTTL', k)}";
static const char *const store_script =
"local g = redis.call('GET', KEYS[1]) or '0' "
"return redis.call('SET', ARGV[1] .. g .. ':' .. ARGV[2], ARGV[3], 'EX', ARGV[4])";

static void
disconnect(void)
{
	if (rc != NULL)
		redisFree(rc);
	rc = NULL;
	if (rc_target != NULL)
		pfree(rc_target);
	rc_target = NULL;
}

static void
failed(const char *what, const char *detail)
{
	ereport(LOG,
			(errmsg("dwc: the AI cache's Redis tier at \"%s\" %s; calls go on without it for %d s",
					dwc_ai_cache_redis, what, DWC_REDIS_BACKOFF_S),
			 errdetail_internal("%s", detail ? detail : "")));
	disconnect();
	retry_after = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), DWC_REDIS_BACKOFF_S * 1000);
	DwcAiCacheRedisCount(false, true);
}

static redisContext *
connection(void)
{
	struct timeval tv;
	const char *target = dwc_ai_cache_redis;

	if (target == NULL || target[0] == '\0')
	{
		disconnect();
		return NULL;
	}
	if (rc != NULL && rc_target != NULL && strcmp(rc_target, target) == 0 && rc->err == 0)
		return rc;
	disconnect();
	if (GetCurrentTimestamp() < retry_after)
		return NULL;
	tv.tv_sec = dwc_ai_cache_redis_timeout_ms / 1000;
	tv.tv_usec = (dwc_ai_cache_redis_timeout_ms % 1000) * 1000;
	if (target[0] == '/')
		rc = redisConnectUnixWithTimeout(target, tv);
	else
	{
		char	   *host = pstrdup(target);
		char	   *colon = strrchr(host, ':');
		int			port = 6379;

		if (colon != NULL)
		{
			*colon = '\0';
			port = atoi(colon + 1);
		}
		rc = redisConnectWithTimeout(host, port, tv);
		pfree(host);
	}
	if (rc == NULL || rc->err)
	{
		char	   *why = rc ? pstrdup(rc->errstr) : pstrdup("out of memory");

		failed("cannot be reached", why);
		return NULL;
	}
	if (redisSetTimeout(rc, tv) != REDIS_OK)
	{
		failed("refused a timeout", rc->errstr);
		return NULL;
	}
	rc_target = MemoryContextStrdup(TopMemoryContext, target);
	return rc;
}

static char *
hex_of(const uint8 *digest)
{
	static const char hex[] = "0123456789abcdef";
	char	   *s = palloc(65);
	int			i;

	for (i = 0; i < 32; i++)
	{
		s[2 * i] = hex[digest[i] >> 4];
		s[2 * i + 1] = hex[digest[i] & 15];
	}
	s[64] = '\0';
	return s;
}

/* dwc:ai:<database>: -- looked up once per backend, which serves one database */
static char *
prefix(void)
{
	static char *cached = NULL;

	if (cached == NULL)
	{
		char	   *db = get_database_name(MyDatabaseId);

		cached = MemoryContextStrdup(TopMemoryContext, psprintf("dwc:ai:%s:", db ? db : "?"));
	}
	return cached;
}

/*
 * r, the reply to a command on c, when Redis answered without an error; else
 * NULL, the failure reported (and the connection dropped, by failed()).
 */
static redisReply *
answered(redisContext *c, redisReply *r)
{
	char	   *why;

	if (r == NULL)
	{
		failed("did not answer", c->errstr);
		return NULL;
	}
	if (r->type != REDIS_REPLY_ERROR)
		return r;
	why = pnstrdup(r->str, r->len);
	freeReplyObject(r);
	failed("answered with an error", why);
	return NULL;
}

bool
DwcAiCacheRedisGet(const uint8 *digest, char **text, int *tokens_in, int *tokens_out, int64 *ttl_ms)
{
	redisContext *c = connection();
	redisReply *r;
	char	   *pre;
	char	   *gen_key;
	char	   *hex;
	bool		hit = false;

	if (c == NULL)
		return false;
	pre = prefix();
	gen_key = psprintf("%sgeneration", pre);
	hex = hex_of(digest);
	r = answered(c, redisCommand(c, "EVAL %s 1 %s %s %s", lookup_script, gen_key, pre, hex));
	if (r == NULL)
		return false;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
		r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer > 0)
	{
		/* "<tokens_in> <tokens_out>\n<text>", and its time to live */
		char	   *value = pnstrdup(r->element[0]->str, r->element[0]->len);
		char	   *nl = strchr(value, '\n');

		if (nl != NULL && sscanf(value, "%d %d", tokens_in, tokens_out) == 2)
		{
			*text = pstrdup(nl + 1);
			*ttl_ms = r->element[1]->integer;
			hit = true;
		}
	}
	freeReplyObject(r);
	DwcAiCacheRedisCount(hit, false);
	return hit;
}

void
DwcAiCacheRedisPut(const uint8 *digest, const char *text, int tokens_in, int tokens_out, int ttl_s)
{
	redisContext *c = connection();
	redisReply *r;
	char	   *pre;
	char	   *value;
	char	   *ttl;

	if (c == NULL || ttl_s <= 0)
		return;
	pre = prefix();
	value = psprintf("%d %d\n%s", tokens_in, tokens_out, text);
	ttl = psprintf("%d", ttl_s);
	r = answered(c, redisCommand(c, "EVAL %s 1 %s %s %s %b %s", store_script, psprintf("%sgeneration", pre), pre,
									hex_of(digest), value, strlen(value), ttl));
	if (r != NULL)
		freeReplyObject(r);
}

void
DwcAiCacheRedisClear(void)
{
	redisContext *c = connection();
	redisReply *r;

	if (c == NULL)
		return;
	r = answered(c, redisCommand(c, "INCR %sgeneration", prefix()));
	if (r != NULL)
		freeReplyObject(r);
}
