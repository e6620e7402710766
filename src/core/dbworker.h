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

/* in dbworker.c */
extern int	DwcWorkerSleep(long timeout_ms);
extern bool DwcExtensionReady(void);
extern void DwcWaitForExtension(void);

#endif							/* DWC_DBWORKER_H */
