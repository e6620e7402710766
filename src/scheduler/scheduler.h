/*-------------------------------------------------------------------------
 *
 * scheduler.h
 *		The scheduler worker: fires schedules, recovers lost jobs, maintains.
 *
 * src/scheduler/scheduler.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_SCHEDULER_H
#define DWC_SCHEDULER_H

/* in scheduler.c */
extern void DwcSchedulerLoop(void);

/* in init.c */
extern int	DwcSchedulerWorkerKind;
extern void DwcSchedulerInit(void);

#endif							/* DWC_SCHEDULER_H */
