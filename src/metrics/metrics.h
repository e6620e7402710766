/*-------------------------------------------------------------------------
 *
 * metrics.h
 *		Metrics: custom counters, gauges and histograms, the system sampler,
 *		rollups and Prometheus exposition (metrics.sql, system.c).
 *
 * src/metrics/metrics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_METRICS_H
#define DWC_METRICS_H

#include "fmgr.h"

/* in init.c, from _PG_init */
extern void DwcMetricsInit(void);

/* in record.c: series and samples in shared memory; in unwritten.c, their writer (every DWC_METRICS_FLUSH_MS) */
#define DWC_METRICS_FLUSH_MS 1000
extern int	dwc_metric_series_max;
extern int	dwc_metric_ring_size;
extern int	DwcMetricsCounter;
extern int	DwcMetricsFlushTask;	/* the maintenance task of DwcMetricsFlush */
extern Size DwcMetricsShmemSize(void);
extern void DwcMetricsShmemInit(void);
extern bool DwcMetricsFlush(void);

/* in labels.c */
extern Datum dwc__metric_labels(PG_FUNCTION_ARGS);

#endif							/* DWC_METRICS_H */
