/*-------------------------------------------------------------------------
 *
 * events.h
 *		The events table's settings (events.sql holds the rest).
 *
 * src/events/events.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_EVENTS_H
#define DWC_EVENTS_H

/* defines dwc.event_retention and dwc.job_events; called from _PG_init */
extern void DwcEventsInit(void);

#endif							/* DWC_EVENTS_H */
