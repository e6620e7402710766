/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *		Token-bucket rate limits in shared memory, by key.
 *
 * src/security/ratelimit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_RATELIMIT_H
#define DWC_RATELIMIT_H

/* most keys (users, API keys, addresses) tracked at once */
#define DWC_RATE_LIMIT_KEYS 16384

/* in ratelimit.c */
extern Size DwcRateLimitShmemSize(void);
extern void DwcRateLimitShmemInit(void);
extern double DwcRateLimitTake(const char *key, size_t keylen, double rate, double burst, double cost);

#endif							/* DWC_RATELIMIT_H */
