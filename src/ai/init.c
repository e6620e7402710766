/*-------------------------------------------------------------------------
 *
 * init.c
 *		What the AI subsystem signs into at load: its settings, the shared
 *		buffer of the AI call log, its flush and the retention of cache and log.
 *
 * src/ai/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"

#include "ai/cache_mem.h"
#include "ai/cache_redis.h"
#include "ai/ai.h"
#include "ai/ailog.h"
#include "ai/settings.h"
#include "core/counters.h"
#include "core/registry.h"

char	   *dwc_default_provider = NULL;
char	   *dwc_openai_api_key = NULL;
char	   *dwc_anthropic_api_key = NULL;
char	   *dwc_google_api_key = NULL;
int			dwc_ai_call_retention_min = 30 * 24 * 60;

/* expired AI cache entries and old AI call log rows */
static bool
ai_retention(void)
{
	(void) DwcMaintenanceSql(psprintf("SELECT dwc._ai_maintain(interval '%d minutes')", dwc_ai_call_retention_min),
							 "maintain the AI cache and call log");
	return false;
}

int			DwcAiCallsFamily = -1;
int			DwcAiTokensFamily = -1;
int			DwcAiCostFamily = -1;
int			DwcAiDurationFamily = -1;

/* what AI calls count for the Prometheus exposition (src/core/counters.c); see DwcAiLogCall */
static void
register_families(void)
{
	static const char *const call_labels[] = {"provider", "model", "outcome"};
	static const char *const token_labels[] = {"provider", "model", "direction"};
	static const char *const model_labels[] = {"provider", "model"};
	static const double latency_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

	DwcAiCallsFamily =
		DwcOwnFamily("dwc_ai_calls_total", 'c',
					 "AI calls, by provider, model and outcome (ok, error, cached: answered from the cache).",
					 3, call_labels, 0, NULL);
	DwcAiTokensFamily =
		DwcOwnFamily("dwc_ai_tokens_total", 'c', "Tokens of AI calls, by provider, model and direction (in, out).",
					 3, token_labels, 0, NULL);
	DwcAiCostFamily =
		DwcOwnFamily("dwc_ai_cost_total", 'c', "Cost of AI calls as the providers' prices give it, by provider and model.",
					 2, model_labels, 0, NULL);
	DwcAiDurationFamily =
		DwcOwnFamily("dwc_ai_call_duration_seconds", 'h',
					 "How long AI calls took, retries included (not those answered from the cache), by provider and model.",
					 2, model_labels, lengthof(latency_bounds), latency_bounds);
}

void
DwcAiInit(void)
{
	DefineCustomStringVariable("dwc.default_provider",
							   "AI provider used when a call names none.",
							   "A name from dwc.ai_providers; builtin works offline.",
							   &dwc_default_provider,
							   "builtin",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("dwc.openai_api_key",
							   "API key of providers whose api_key_setting names this setting.",
							   NULL, &dwc_openai_api_key, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("dwc.anthropic_api_key",
							   "API key of providers whose api_key_setting names this setting.",
							   NULL, &dwc_anthropic_api_key, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("dwc.google_api_key",
							   "API key of providers whose api_key_setting names this setting.",
							   NULL, &dwc_google_api_key, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.ai_call_retention",
							"How long dwc.ai_calls keeps the log of AI calls.",
							NULL,
							&dwc_ai_call_retention_min,
							30 * 24 * 60, 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	/*
	 * A size of shared memory can only be chosen at server start, so this is
	 * a PGC_POSTMASTER setting, and such settings can only be defined
	 * while the library is preloaded; loaded on demand, dwc has no shared
	 * memory and no memory tier (src/core/guc.c).
	 */
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("dwc.ai_cache_memory",
								"Shared memory for the AI response cache's memory tier, in front of dwc.ai_cache.",
								"Answers of up to 8 kB each; 0 turns the tier off. Takes effect at server start.",
								&dwc_ai_cache_memory_kb,
								8192, 0, 1024 * 1024,
								PGC_POSTMASTER, GUC_UNIT_KB,
								NULL, NULL, NULL);
	else
		dwc_ai_cache_memory_kb = 0;

	DefineCustomStringVariable("dwc.ai_cache_redis",
							   "Redis server of the AI response cache's shared tier: host:port, or a Unix socket path.",
							   "Empty: no Redis tier. Clusters naming the same server share answers per database name.",
							   &dwc_ai_cache_redis, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.ai_cache_redis_timeout",
							"How long one round trip to the Redis tier may take.",
							"Longer, or unreachable: the call goes on as a cache miss.",
							&dwc_ai_cache_redis_timeout_ms,
							100, 1, 10000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DwcAiLogRegister();
	DwcRegisterShmem(DwcAiCacheMemSize, DwcAiCacheMemInit, "dwc ai cache");
	register_families();
	DwcRegisterMaintenance("AI cache and call log retention", 60 * 1000, ai_retention);
}
