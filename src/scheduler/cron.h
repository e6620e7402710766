/*-------------------------------------------------------------------------
 *
 * cron.h
 *		Schedules as PostgreSQL sees them: cron expressions and intervals,
 *		parsed, validated (ereport) and stepped through time zones.
 *
 * src/scheduler/cron.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_CRON_H
#define DWC_CRON_H

#include "datatype/timestamp.h"
#include "pgtime.h"

#include "scheduler/cron_parse.h"

/* a parsed schedule: either a cron expression or a fixed interval */
typedef struct DwcScheduleSpec
{
	bool		is_interval;
	DwcCron		cron;
	int64		interval_us;	/* when is_interval */
} DwcScheduleSpec;

/* in cron.c */
extern void DwcParseScheduleSpec(const char *text, DwcScheduleSpec *spec);
extern bool DwcLooksLikeInterval(const char *text);
extern int64 DwcParseInterval(const char *text);
extern pg_tz *DwcLookupTimezone(const char *name);
extern TimestampTz DwcCronNext(const DwcCron *cron, pg_tz *tz, TimestampTz after);
extern TimestampTz DwcScheduleNext(const DwcScheduleSpec *spec, pg_tz *tz,
								   TimestampTz after, TimestampTz anchor);

#endif							/* DWC_CRON_H */
