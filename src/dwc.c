/*-------------------------------------------------------------------------
 *
 * dwc.c
 *		The module's entry point: each subsystem signs in, in dependency order.
 *
 * Each Init defines the subsystem's settings and registers its shared
 * memory, worker kinds, maintenance tasks and counters with core
 * (src/core/registry.h); DwcCoreStart then reserves what was registered and
 * starts the launcher.  The order is fixed, so the numbers registrations
 * hand out agree in every process.
 *
 * src/dwc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "ai/ai.h"
#include "analytics/analytics.h"
#include "audit/audit.h"
#include "automation/automation.h"
#include "core/init.h"
#include "events/events.h"
#include "ml/ml_pg.h"
#include "metrics/metrics.h"
#include "notify/notify.h"
#include "realtime/realtime.h"
#include "queue/queue.h"
#include "scheduler/scheduler.h"
#include "security/security.h"

PG_MODULE_MAGIC;

#if PG_VERSION_NUM < 160000
void		_PG_init(void);		/* fmgr.h declares it from PostgreSQL 16 on */
#endif

void
_PG_init(void)
{
	/* prediction and training work in any backend, pg_upgrade's included */
	DwcMlInit();

	if (IsBinaryUpgrade)
		return;

	DwcCoreInit();
	DwcSecurityInit();
	DwcEventsInit();
	DwcQueueInit();
	DwcSchedulerInit();
	DwcAuditInit();
	DwcAiInit();
	DwcNotifyInit();
	DwcAutomationInit();
	DwcRealtimeInit();
	DwcMetricsInit();
	DwcAnalyticsInit();
	DwcCoreStart();
}
