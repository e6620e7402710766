/*-------------------------------------------------------------------------
 *
 * cache_redis.h
 *		The response cache's optional Redis tier (cache_redis.c).
 *
 * src/ai/cache_redis.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_AI_CACHE_REDIS_H
#define DWC_AI_CACHE_REDIS_H

extern char *dwc_ai_cache_redis;
extern int	dwc_ai_cache_redis_timeout_ms;

extern bool DwcAiCacheRedisGet(const uint8 *digest, char **text, int *tokens_in, int *tokens_out, int64 *ttl_ms);
extern void DwcAiCacheRedisPut(const uint8 *digest, const char *text, int tokens_in, int tokens_out, int ttl_s);
extern void DwcAiCacheRedisClear(void);

/* in cache_mem.c: the tier's counters live beside the memory tier's, in shared memory */
extern void DwcAiCacheRedisCount(bool hit, bool error);

#endif							/* DWC_AI_CACHE_REDIS_H */
