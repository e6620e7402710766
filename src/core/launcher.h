/*-------------------------------------------------------------------------
 *
 * launcher.h
 *		The dwc launcher and the per-database workers it starts.
 *
 * src/core/launcher.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_LAUNCHER_H
#define DWC_LAUNCHER_H

#include "fmgr.h"

/* in launcher.c */
extern void DwcRegisterLauncher(void);
extern PGDLLEXPORT void DwcLauncherMain(Datum main_arg);

/* in dbworker.c */
extern PGDLLEXPORT void DwcDbWorkerMain(Datum main_arg);

#endif							/* DWC_LAUNCHER_H */
