/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The configuration settings (GUCs) of the job queue.
 *
 * src/queue/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_QUEUE_SETTINGS_H
#define DWC_QUEUE_SETTINGS_H

extern int	dwc_job_workers;
extern int	dwc_job_batch_size;
extern int	dwc_job_slow_ms;
extern int	dwc_job_timeout_ms;
extern int	dwc_job_max_attempts;
extern int	dwc_job_backoff_base_ms;
extern int	dwc_job_backoff_max_ms;
extern int	dwc_job_lease_grace_ms;
extern int	dwc_job_history_retention_min;

#endif							/* DWC_QUEUE_SETTINGS_H */
