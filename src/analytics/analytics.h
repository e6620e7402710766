/*-------------------------------------------------------------------------
 *
 * analytics.h
 *		Analytics: what it signs into at load.
 *
 * src/analytics/analytics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ANALYTICS_H
#define DWC_ANALYTICS_H

/* in init.c */
extern void DwcAnalyticsInit(void);

#endif							/* DWC_ANALYTICS_H */
