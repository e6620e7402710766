/*-------------------------------------------------------------------------
 *
 * init.c
 *		What metrics sign into at load: their settings, the system sampler
 *		and the hourly rollups (maintenance tasks).
 *
 * src/metrics/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "core/registry.h"
#include "metrics/metrics.h"

static int	sample_interval_ms = 10000;
static int	metric_retention_min = 7 * 24 * 60;
static int	metric_rollup_retention_min = 90 * 24 * 60;

/* checked every second; samples when dwc.metrics_sample_interval has passed */
static bool
sample_system(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (sample_interval_ms <= 0 || (last != 0 && now - last < (int64) sample_interval_ms * 1000))
		return false;
	last = now;
	(void) DwcMaintenanceSql("SELECT dwc._metrics_sample()", "sample the system metrics");
	return false;
}

static bool
rollup(void)
{
	(void) DwcMaintenanceSql("SELECT dwc._metrics_rollup()", "roll up the metrics");
	return false;
}

static void
define_sizes(void)
{
	DefineCustomIntVariable("dwc.metric_series",
							"How many metric series (a metric, its labels and its recorder) shared memory holds; "
							"more are recorded through SQL, slowly.",
							NULL, &dwc_metric_series_max, 4096, 64, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.metric_buffer",
							"How many recorded metric samples shared memory holds until the maintenance worker "
							"writes them (every second); beyond, the oldest are lost and counted.",
							NULL, &dwc_metric_ring_size, 131072, 1024, 16 * 1024 * 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

void
DwcMetricsInit(void)
{
	DefineCustomIntVariable("dwc.metrics_sample_interval",
							"How often the system metrics are sampled; 0: never.",
							NULL, &sample_interval_ms, 10000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.metric_retention",
							"How long metric samples are kept (whole days).",
							NULL, &metric_retention_min, 7 * 24 * 60, 24 * 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.metric_rollup_retention",
							"How long hourly metric rollups are kept (whole months).",
							NULL, &metric_rollup_retention_min, 90 * 24 * 60, 24 * 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
	/* sizes of shared memory: defined only while preloading, as dwc.ai_cache_memory (src/ai/init.c) */
	if (process_shared_preload_libraries_in_progress)
		define_sizes();
	DwcMetricsCounter = DwcRegisterCounter("metric definitions");
	DwcRegisterShmem(DwcMetricsShmemSize, DwcMetricsShmemInit, "dwc metrics");
	/* a clean stop writes what shared memory holds: only a crash loses the last second */
	DwcMetricsFlushTask = DwcRegisterMaintenanceAtExit("metrics written", DWC_METRICS_FLUSH_MS, DwcMetricsFlush);
	DwcRegisterMaintenance("system metrics sample", 1000, sample_system);
	DwcRegisterMaintenance("metric rollups", 5 * 60 * 1000, rollup);
}
