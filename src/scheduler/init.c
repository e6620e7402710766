/*-------------------------------------------------------------------------
 *
 * init.c
 *		What the scheduler signs into at load: its settings, its worker kind
 *		(one per served database) and the retention of dwc.schedule_runs.
 *
 * src/scheduler/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "core/registry.h"
#include "scheduler/scheduler.h"
#include "scheduler/settings.h"

int			dwc_scheduler_misfire_grace_ms = 60000;
int			dwc_schedule_run_retention_min = 7 * 24 * 60;

int			DwcSchedulerWorkerKind = -1;

static int
one_per_database(const char *dbname)
{
	return 1;
}

static const DwcWorkerKindDef scheduler_worker_kind = {"scheduler", one_per_database, DwcSchedulerLoop};

static bool
trim_schedule_runs(void)
{
	(void) DwcMaintenanceSql(psprintf("DELETE FROM dwc.schedule_runs WHERE fired_at < now() - interval '%d minutes'",
									  dwc_schedule_run_retention_min),
							 "trim dwc.schedule_runs");
	return false;
}

void
DwcSchedulerInit(void)
{
	DefineCustomIntVariable("dwc.scheduler_misfire_grace",
							"How late a schedule's fire time may be before it counts as missed.",
							"Missed fire times follow the schedule's misfire policy (skip, or "
							"run once to catch up).",
							&dwc_scheduler_misfire_grace_ms,
							60000, 0, 86400000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.schedule_run_retention",
							"How long the run history of schedules is kept.",
							NULL,
							&dwc_schedule_run_retention_min,
							7 * 24 * 60, 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DwcSchedulerWorkerKind = DwcRegisterWorkerKind(&scheduler_worker_kind);
	DwcRegisterMaintenance("schedule run retention", 10 * 60 * 1000, trim_schedule_runs);
}
