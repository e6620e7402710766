/*-------------------------------------------------------------------------
 *
 * notify.h
 *		Notifications: the outbox's C side (SMTP, Web Push, signatures).
 *
 * src/notify/notify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_NOTIFY_H
#define DWC_NOTIFY_H

/* in init.c, from _PG_init */
extern void DwcNotifyInit(void);

#endif							/* DWC_NOTIFY_H */
