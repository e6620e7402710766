/*-------------------------------------------------------------------------
 *
 * init.c
 *		What ML signs into at load: OpenBLAS kept to one thread, the ML core's
 *		hooks, and the counter that tells model caches dwc.ml_models changed.
 *
 * src/ml/init.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/registry.h"
#include "ml/ml_pg.h"

extern void openblas_set_num_threads(int num_threads);

int			DwcMlCounter = -1;

void
DwcMlInit(void)
{
	/*
	 * A backend must stay single-threaded: OpenBLAS's own thread pool would
	 * run outside PostgreSQL's signal and error handling.  Servers should also
	 * run with OPENBLAS_NUM_THREADS=1 so that the pool is never created.
	 */
	openblas_set_num_threads(1);
	DwcMlBindHooks();
	DwcMlCounter = DwcRegisterCounter("ml models");
}
