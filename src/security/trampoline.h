/*-------------------------------------------------------------------------
 *
 * trampoline.h
 *		Calling a private SQL function on behalf of the caller.
 *
 * src/security/trampoline.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_TRAMPOLINE_H
#define DWC_TRAMPOLINE_H

#include "fmgr.h"

/* the caller dwc_trampoline is calling for (InvalidOid outside it) */
extern Oid	DwcTrampolineCaller;

extern Datum DwcCallAs(FunctionCallInfo inner, Oid caller);
extern bool DwcForwardArgs(FunctionCallInfo outer, FunctionCallInfo inner, FmgrInfo *target,
						   int nargs, int ninner);

#endif							/* DWC_TRAMPOLINE_H */
