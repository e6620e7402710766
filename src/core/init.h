/*-------------------------------------------------------------------------
 *
 * init.h
 *		Core's part of loading (init.c), called from _PG_init (src/dwc.c).
 *
 * src/core/init.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_CORE_INIT_H
#define DWC_CORE_INIT_H

/* core's settings and maintenance; before the subsystems' Init */
extern void DwcCoreInit(void);

/* after every subsystem's Init: reserve the settings prefix, shared memory, the launcher */
extern void DwcCoreStart(void);

#endif							/* DWC_CORE_INIT_H */
