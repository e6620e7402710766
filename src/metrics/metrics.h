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

/* in init.c, from _PG_init */
extern void DwcMetricsInit(void);

#endif							/* DWC_METRICS_H */
