/*-------------------------------------------------------------------------
 *
 * restore.h
 *		Is this session loading a dump? (restore.c)
 *
 * src/core/restore.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_CORE_RESTORE_H
#define DWC_CORE_RESTORE_H

/* the session runs with pg_dump's settings: dwc's triggers do nothing */
extern bool DwcRestoring(void);

/* the hook that skips the dump's indexes of partitions that ATTACH PARTITION made */
extern void DwcRestoreInit(void);

#endif							/* DWC_CORE_RESTORE_H */
