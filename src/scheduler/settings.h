/*-------------------------------------------------------------------------
 *
 * settings.h
 *		The configuration settings (GUCs) of the scheduler.
 *
 * src/scheduler/settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_SCHEDULER_SETTINGS_H
#define DWC_SCHEDULER_SETTINGS_H

extern int	dwc_scheduler_misfire_grace_ms;
extern int	dwc_schedule_run_retention_min;

#endif							/* DWC_SCHEDULER_SETTINGS_H */
