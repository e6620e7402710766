/*-------------------------------------------------------------------------
 *
 * ailog.h
 *		Shared memory of the AI service: the call log ring and the
 *		providers' rate-limit buckets.
 *
 * src/ai/ailog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_AILOG_H
#define DWC_AILOG_H

#include "datatype/timestamp.h"

typedef struct DwcAiCall
{
	TimestampTz at;
	Oid			role;
	char		user_id[40];	/* the dwc user, "" for none */
	char		provider[64];
	char		model[96];
	char		operation[16];
	int32		tokens_in;
	int32		tokens_out;
	double		latency_ms;
	double		cost;
	bool		cache_hit;
	bool		ok;
	int16		http_status;
	int16		attempts;
	char		error[256];
} DwcAiCall;

/* in init.c: dwc's own series AI calls add to (src/core/counters.c) */
extern int	DwcAiCallsFamily;
extern int	DwcAiTokensFamily;
extern int	DwcAiCostFamily;
extern int	DwcAiDurationFamily;

/* in ailog.c */
/* at load: the rate limits' buckets and the call log's ring, and the task that empties the ring */
extern void DwcAiLogRegister(void);
extern void DwcAiLogCall(const DwcAiCall *call);
extern bool DwcAiLogIsShared(void);
extern bool DwcRateLimitAcquire(int32 provider_id, int32 rpm, int32 tpm, int32 tokens,
								long max_wait_ms);

#endif							/* DWC_AILOG_H */
