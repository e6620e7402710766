/*-------------------------------------------------------------------------
 *
 * init.c
 *		Module entry point: settings, shared memory and the launcher.
 *
 * Loaded through shared_preload_libraries, dwc reserves shared memory and
 * registers its launcher, which starts every other dwc worker.  Loaded on
 * demand (CREATE EXTENSION in a server that did not preload it) it only
 * defines its settings: the SQL functions work, background features are off,
 * and the install script says so (see dwc__startup_check in status.c).
 *
 * src/core/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"

#include "core/dwc.h"
#include "core/guc.h"
#include "core/launcher.h"
#include "core/shmem.h"
#include "ml/ml_pg.h"

/* OpenBLAS API (cblas.h pulls in more than we need here) */
extern void openblas_set_num_threads(int num_threads);

PG_MODULE_MAGIC;

#if PG_VERSION_NUM < 160000
void		_PG_init(void);		/* fmgr.h declares it from PostgreSQL 16 on */
#endif

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

void
_PG_init(void)
{
	/*
	 * A backend must stay single-threaded: OpenBLAS's own thread pool would
	 * run outside PostgreSQL's signal and error handling.  Servers should also
	 * run with OPENBLAS_NUM_THREADS=1 so that the pool is never created.
	 */
	openblas_set_num_threads(1);
	DwcMlBindHooks();

	if (IsBinaryUpgrade)
		return;

	DwcDefineGucs();

	if (!process_shared_preload_libraries_in_progress)
		return;

	dwc_preloaded = true;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = dwc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = dwc_shmem_startup;

	DwcRegisterLauncher();
}
