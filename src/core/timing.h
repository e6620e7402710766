/*-------------------------------------------------------------------------
 *
 * timing.h
 *		Milliseconds since an instant, for the timings dwc records
 *		(training, AI calls).
 *
 * src/core/timing.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_TIMING_H
#define DWC_TIMING_H

#include "portability/instr_time.h"

static inline double
dwc_ms_since(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MILLISEC(now);
}

#endif							/* DWC_TIMING_H */
