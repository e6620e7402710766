/*-------------------------------------------------------------------------
 *
 * events.h
 *		Security events, logged through shared memory so that they survive
 *		the rollback of the request that caused them.
 *
 * src/security/events.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_EVENTS_H
#define DWC_EVENTS_H

/* in events.c */
/* at load: the events' ring in shared memory, and the maintenance task that empties it */
extern void DwcSecurityEventsRegister(void);
extern void DwcSecurityEvent(const char *event, const char *severity, const char *user_id,
							 const char *detail_json);
extern char *DwcRequestHeader(const char *name);
extern char *DwcClientAddress(void);

#endif							/* DWC_EVENTS_H */
