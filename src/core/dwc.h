/*-------------------------------------------------------------------------
 *
 * dwc.h
 *		Declarations shared by every dwc subsystem: version, preload state.
 *
 * Subsystem-specific APIs live in their own headers (core/guc.h,
 * core/shmem.h, core/http.h, core/jsonc.h ...); this header only holds what
 * is truly global.
 *
 * src/core/dwc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_H
#define DWC_H

#ifndef DWC_VERSION
#error "DWC_VERSION must be defined by the Makefile"
#endif

/* in init.c */
extern bool dwc_preloaded;		/* loaded through shared_preload_libraries */

#endif							/* DWC_H */
