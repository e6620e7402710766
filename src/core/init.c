/*-------------------------------------------------------------------------
 *
 * init.c
 *		Core's part of loading: its settings, the partition manager's
 *		maintenance, and, when preloaded, shared memory and the launcher.
 *
 * Loaded through shared_preload_libraries, dwc reserves shared memory (its
 * own and what the subsystems registered) and registers its launcher, which
 * starts every other dwc worker.  Loaded on demand (CREATE EXTENSION in a
 * server that did not preload it) it only defines its settings: the SQL
 * functions work, background features are off, and the install script says
 * so (see dwc__startup_check in status.c).
 *
 * src/core/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "core/dwc.h"
#include "core/guc.h"
#include "core/counters.h"
#include "core/init.h"
#include "core/launcher.h"
#include "core/registry.h"
#include "core/restore.h"
#include "core/shmem.h"

bool		dwc_preloaded = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
dwc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	DwcShmemRequest();
}

static void
dwc_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	DwcShmemStartup();
}

/* every time-partitioned table: partitions ahead, retention (src/core/partitions.sql) */
static bool
maintain_partitions(void)
{
	(void) DwcMaintenanceSql("SELECT dwc._partitions_maintain()", "maintain dwc's partitioned tables");
	return false;
}

void
DwcCoreInit(void)
{
	DwcDefineGucs();
	DwcRegisterMaintenanceWorker();
	DwcRegisterMaintenance("partitions", 10 * 60 * 1000, maintain_partitions);
	DwcRestoreInit();
	DwcOwnCountersInit();
}

void
DwcCoreStart(void)
{
	MarkGUCPrefixReserved("dwc");

	if (!process_shared_preload_libraries_in_progress)
		return;

	dwc_preloaded = true;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = dwc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = dwc_shmem_startup;

	DwcRegisterLauncher();
}
