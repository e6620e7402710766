/*-------------------------------------------------------------------------
 *
 * dbworker.h
 *		Helpers for the loops of per-database dwc workers.
 *
 * src/core/dbworker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_DBWORKER_H
#define DWC_DBWORKER_H

#include <signal.h>

#include "miscadmin.h"
#include "storage/pmsignal.h"

/* in dbworker.c */
extern int	DwcWorkerSleep(long timeout_ms);
extern bool DwcPostmasterGone(void);
extern void DwcPostmasterDied(void) pg_attribute_noreturn();

/*
 * A graceful stop (job workers): SIGTERM only sets DwcStopRequested, the
 * worker stops at its next safe point, and the work in progress is ended as
 * by die() once dwc.shutdown_grace has passed (DwcEnforceStopGrace, from
 * loops, transfers and a timer).
 */
extern volatile sig_atomic_t DwcStopRequested;
extern void DwcStopGracefully(void);
extern bool DwcStopGraceOver(void);
extern void DwcEnforceStopGrace(void);

/*
 * CHECK_FOR_INTERRUPTS for dwc's long loops (training, batches, collectors):
 * in a dwc worker, also notice that the postmaster has died, and stop with an
 * error.  An orphaned worker that goes on working does so for nothing: what
 * it commits asynchronously is lost in the crash restart, which its shared
 * memory holds up meanwhile, so whatever it did outside the database (a
 * webhook, a mail) is done again.  PostmasterIsAlive() is a flag test on
 * Linux, cheap enough for any loop.
 */
#define DWC_CHECK_FOR_INTERRUPTS() \
	do { \
		if (unlikely(DwcStopRequested)) \
			DwcEnforceStopGrace(); \
		CHECK_FOR_INTERRUPTS(); \
		if (unlikely(DwcPostmasterGone())) \
			DwcPostmasterDied(); \
	} while (0)
extern bool DwcExtensionReady(void);
extern void DwcWaitForExtension(void);

/* in a transaction: end this worker quietly if DROP EXTENSION took dwc's schema away */
extern void DwcExitIfDropped(void);

/* after an error, its transaction aborted: the same, the error unreported (DROP EXTENSION's doing) */
extern void DwcExitQuietlyIfDropped(void);

#endif							/* DWC_DBWORKER_H */
