/*-------------------------------------------------------------------------
 *
 * init.c
 *		The automation subsystem's settings.
 *
 * src/automation/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "automation/automation.h"
#include "core/nodes.h"
#include "core/registry.h"

static int	dwc_automation_run_retention_min = 30 * 24 * 60;

/* set (locally) by the automation.run handler; read by the firing functions */
static int	dwc_automation_depth = 0;

/*
 * On a Citus coordinator: fire the automations of the changes that worker
 * nodes kept of distributed tables (automation/shard_changes.sql).  Five
 * times a second: a data-change automation is expected to react at once.
 */
static bool
collect_shard_changes(void)
{
	return DwcCitusLoaded() &&
		DwcMaintenanceSql("SELECT dwc._automation_collect_nodes()", "collect the worker nodes' data changes") != 0;
}

void
DwcAutomationInit(void)
{
	DefineCustomIntVariable("dwc.automation_run_retention",
							"How long automation runs are kept in dwc.automation_runs.",
							"Whole days: daily partitions older than this are dropped.",
							&dwc_automation_run_retention_min,
							30 * 24 * 60, 24 * 60, 3650 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN,
							NULL, NULL, NULL);
	DefineCustomIntVariable("dwc.automation_depth",
							"How many automation runs deep the current transaction is.",
							"Set by the automation.run handler for the transaction of a run's actions: "
							"automations fired from it are one deeper, and none fires beyond 8.",
							&dwc_automation_depth,
							0, 0, 100,
							PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
	DwcRegisterMaintenance("data changes kept by Citus worker nodes", 200, collect_shard_changes);
}
