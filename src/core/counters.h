/*-------------------------------------------------------------------------
 *
 * counters.h
 *		dwc's own counters and histograms in shared memory (counters.c).
 *
 * src/core/counters.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_COUNTERS_H
#define DWC_COUNTERS_H

#define DWC_OWN_MAX_LABELS 3
#define DWC_OWN_LABEL_LEN 64
#define DWC_OWN_MAX_BOUNDS 16

/* from _PG_init */
extern void DwcOwnCountersInit(void);

/*
 * A family of series: type 'c' (counter) or 'h' (histogram, with bounds);
 * returns its number, for the adding functions.  From _PG_init.
 */
extern int	DwcOwnFamily(const char *name, char type, const char *help, int nlabels,
						 const char *const *labels, int nbounds, const double *bounds);

/* add value to a counter, or observe it in a histogram: at once, or when the transaction commits */
extern void DwcOwnAdd(int family, const char *const *values, double value);
extern void DwcOwnAddAtCommit(int family, const char *const *values, double value);

#endif							/* DWC_COUNTERS_H */
