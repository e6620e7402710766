/*-------------------------------------------------------------------------
 *
 * cron_parse.h
 *		Parser for 5-field cron expressions (Vixie cron semantics).
 *
 * Pure C with no PostgreSQL dependency, so the libFuzzer target in
 * test/fuzz links it alone.  Errors are returned as text naming the field
 * and the offending value; the caller turns them into ereports.
 *
 * src/scheduler/cron_parse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_CRON_PARSE_H
#define DWC_CRON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* longest expression accepted, in bytes */
#define DWC_CRON_MAX_LEN 256

typedef struct DwcCron
{
	uint64_t	minutes;		/* bit m: minute m (0-59) */
	uint32_t	hours;			/* bit h: hour h (0-23) */
	uint32_t	days;			/* bit d: day of month d (1-31) */
	uint16_t	months;			/* bit m: month m (1-12) */
	uint8_t		dows;			/* bit d: day of week d (0-6, Sunday = 0) */
	bool		last_day;		/* '$' in the day-of-month field */
	bool		dom_star;		/* day-of-month field starts with '*' */
	bool		dow_star;		/* day-of-week field starts with '*' */
	bool		wildcard;		/* minute or hour field starts with '*' (see cron.c) */
} DwcCron;

/*
 * Parse expr into *cron.  Returns true on success; on failure returns false
 * and writes a one-line reason (naming the field and value) into errbuf.
 */
extern bool DwcCronParse(const char *expr, DwcCron *cron, char *errbuf, size_t errlen);

#endif							/* DWC_CRON_PARSE_H */
