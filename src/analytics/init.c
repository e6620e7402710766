/*-------------------------------------------------------------------------
 *
 * init.c
 *		What analytics signs into at load: the settings of recorded insights
 *		and the maintenance task that finds them.
 *
 * Insights are computed when asked (dwc.insights()); the task also keeps
 * those of the latest complete hours in dwc.analytics_insights and emits an
 * analytics.insight event for each new one, so that automations and the
 * real-time gateway can act on an anomaly without anyone asking.
 *
 * src/analytics/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/timestamp.h"

#include "analytics/analytics.h"
#include "core/registry.h"

static int	insights_interval_ms = 5 * 60 * 1000;
static double insight_threshold = 3.0;
static int	insight_retention_min = 30 * 24 * 60;

/* checked every second; looks when dwc.insights_interval has passed */
static bool
record_insights(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();
	char		sql[160];

	if (insights_interval_ms <= 0 || (last != 0 && now - last < (int64) insights_interval_ms * 1000))
		return false;
	last = now;
	snprintf(sql, sizeof(sql), "SELECT dwc._record_insights(%.6g, make_interval(mins => %d))",
			 insight_threshold, insight_retention_min);
	(void) DwcMaintenanceSql(sql, "record insights");
	return false;
}

void
DwcAnalyticsInit(void)
{
	DefineCustomIntVariable("dwc.insights_interval",
							"How often the latest complete hours are searched for insights; 0: never.",
							NULL, &insights_interval_ms, 5 * 60 * 1000, 0, 24 * 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomRealVariable("dwc.insight_threshold",
							 "How many standard deviations from its baseline make a bucket a recorded insight.",
							 NULL, &insight_threshold, 3.0, 0.5, 100.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.insight_retention",
							"How long recorded insights are kept.",
							NULL, &insight_retention_min, 30 * 24 * 60, 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
	DwcRegisterMaintenance("insights", 1000, record_insights);
}
