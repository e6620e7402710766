/*-------------------------------------------------------------------------
 *
 * cron.c
 *		Next fire times of cron expressions and intervals, in a time zone.
 *
 * A cron expression describes wall-clock times in the schedule's time zone.
 * Fire times are found by walking wall-clock minutes forward and mapping
 * each match to instants.  Around DST changes dwc follows Vixie cron:
 *
 * - "Fixed-time" expressions (no '*' starting the minute or the hour field,
 *   e.g. "30 2 * * *"): a wall time repeated when clocks go back fires once,
 *   at its first occurrence; a wall time skipped when clocks go forward
 *   fires at the moment of the change (02:30 fires at 03:00 on a one-hour
 *   spring-forward day), so no day loses its run and none runs twice.
 * - "Wildcard" expressions ('*' starting the minute or hour field, e.g.
 *   "*\/15 * * * *", "@hourly"): they follow the clock as it is: a repeated
 *   wall time fires at both occurrences and a skipped one does not fire, so
 *   the job keeps its rhythm in real time.
 *
 * An interval describes absolute time: fire times are anchor + k * interval,
 * unaffected by DST.
 *
 * src/scheduler/cron.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "scheduler/cron.h"

/* how far ahead a cron expression must match before it is called "never" */
#define CRON_SEARCH_YEARS 10

typedef struct Wall
{
	int			year;
	int			month;			/* 1-12 */
	int			day;			/* 1-31 */
	int			hour;
	int			minute;
} Wall;

static int
days_in_month(int year, int month)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0))
		return 29;
	return dim[month - 1];
}

/* days since 1970-01-01 of a civil date (proleptic Gregorian) */
static int64
days_from_civil(int y, int m, int d)
{
	int64		era;
	int			yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (int) (y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* 0 = Sunday */
static int
day_of_week(int y, int m, int d)
{
	int64		days = days_from_civil(y, m, d);

	return (int) (((days % 7) + 11) % 7);	/* 1970-01-01 was a Thursday */
}

static bool
day_matches(const DwcCron *c, int y, int m, int d)
{
	bool		dom = (c->days & ((uint32) 1 << d)) != 0 ||
		(c->last_day && d == days_in_month(y, m));
	bool		dow = (c->dows & (1 << day_of_week(y, m, d))) != 0;

	/* Vixie cron: OR when both fields are restricted, AND otherwise */
	if (c->dom_star || c->dow_star)
		return dom && dow;
	return dom || dow;
}

static void
next_day(Wall *w)
{
	w->hour = 0;
	w->minute = 0;
	if (++w->day > days_in_month(w->year, w->month))
	{
		w->day = 1;
		if (++w->month > 12)
		{
			w->month = 1;
			w->year++;
		}
	}
}

/*
 * Advance *w to the first wall-clock minute >= *w that the expression
 * matches.  Returns false if there is none within CRON_SEARCH_YEARS.
 */
static bool
next_wall_match(const DwcCron *c, Wall *w)
{
	int			limit_year = w->year + CRON_SEARCH_YEARS;

	while (w->year <= limit_year)
	{
		if (!(c->months & (1 << w->month)))
		{
			w->day = 1;
			w->hour = 0;
			w->minute = 0;
			if (++w->month > 12)
			{
				w->month = 1;
				w->year++;
			}
			continue;
		}
		if (!day_matches(c, w->year, w->month, w->day))
		{
			next_day(w);
			continue;
		}
		while (w->hour < 24 && !(c->hours & ((uint32) 1 << w->hour)))
		{
			w->hour++;
			w->minute = 0;
		}
		if (w->hour == 24)
		{
			next_day(w);
			continue;
		}
		while (w->minute < 60 && !(c->minutes & ((uint64) 1 << w->minute)))
			w->minute++;
		if (w->minute == 60)
		{
			w->minute = 0;
			if (++w->hour == 24)
				next_day(w);
			continue;
		}
		return true;
	}
	return false;
}

static long
gmtoff_at(pg_time_t t, pg_tz *tz)
{
	struct pg_tm *tm = pg_localtime(&t, tz);

	if (tm == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for the schedule's time zone")));
	return tm ? tm->tm_gmtoff : 0;
}

static pg_time_t
wall_as_utc(const Wall *w)
{
	return days_from_civil(w->year, w->month, w->day) * 86400 + w->hour * 3600 + w->minute * 60;
}

/*
 * The instants at which wall time w occurs in tz, ascending: one normally,
 * two when clocks go back over it, none when they skip it.  For a skipped
 * wall time, *change is set to the instant of the change.  Returns the count.
 */
static int
wall_instants(const Wall *w, pg_tz *tz, pg_time_t out[2], pg_time_t *change)
{
	pg_time_t	g = wall_as_utc(w);
	long		offsets[3];
	int			n = 0;
	int			i;

	/* DST changes are far more than a day apart: these offsets cover w */
	offsets[0] = gmtoff_at(g - 86400, tz);
	offsets[1] = gmtoff_at(g, tz);
	offsets[2] = gmtoff_at(g + 86400, tz);

	for (i = 0; i < 3; i++)
	{
		pg_time_t	c = g - offsets[i];

		if (gmtoff_at(c, tz) != offsets[i])
			continue;
		if (n == 1 && out[0] == c)
			continue;
		if (n < 2)
			out[n++] = c;
	}
	if (n == 2 && out[1] < out[0])
	{
		pg_time_t	t = out[0];

		out[0] = out[1];
		out[1] = t;
	}
	if (n == 0)
	{
		/*
		 * Skipped: the change lies between w read with the later offset (an
		 * instant still before it) and w read with the earlier offset (one
		 * already after it).  Find the first second after the change.
		 */
		long		early = Min(offsets[0], offsets[2]);
		long		late = Max(offsets[0], offsets[2]);
		pg_time_t	lo = g - late;	/* offset here: the old one */
		pg_time_t	hi = g - early;	/* offset here: the new one */
		long		old_off = gmtoff_at(lo, tz);

		while (hi - lo > 1)
		{
			pg_time_t	mid = lo + (hi - lo) / 2;

			if (gmtoff_at(mid, tz) == old_off)
				lo = mid;
			else
				hi = mid;
		}
		*change = hi;
	}
	return n;
}

static void
wall_add_minute(Wall *w)
{
	if (++w->minute == 60)
	{
		w->minute = 0;
		if (++w->hour == 24)
			next_day(w);
	}
}

static void
wall_from_instant(pg_time_t t, pg_tz *tz, Wall *w)
{
	struct pg_tm *tm = pg_localtime(&t, tz);

	if (tm == NULL)
	{
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for the schedule's time zone")));
		return;					/* keep static analysers quiet */
	}
	w->year = tm->tm_year + 1900;
	w->month = tm->tm_mon + 1;
	w->day = tm->tm_mday;
	w->hour = tm->tm_hour;
	w->minute = tm->tm_min;
}

/* the wall time that is "secs" seconds after 1970-01-01 00:00 (civil arithmetic) */
static void
wall_from_seconds(int64 secs, Wall *w)
{
	int64		days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64		rem = secs - days * 86400;
	int64		z = days + 719468;
	int64		era = (z >= 0 ? z : z - 146096) / 146097;
	int64		doe = z - era * 146097;
	int64		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64		mp = (5 * doy + 2) / 153;

	w->day = (int) (doy - (153 * mp + 2) / 5 + 1);
	w->month = (int) (mp < 10 ? mp + 3 : mp - 9);
	w->year = (int) (yoe + era * 400 + (w->month <= 2));
	w->hour = (int) (rem / 3600);
	w->minute = (int) ((rem % 3600) / 60);
}

/*
 * The first fire time of the expression strictly after "after", in tz.
 * Raises an error if it never fires.
 *
 * Near a DST change wall-clock order and real-time order differ (after
 * clocks go back, 01:00 EST follows 01:30 EDT), so candidates are collected
 * from a little before the wall time of "after" and the earliest instant
 * wins; the search stops once no later wall time can occur earlier.
 */
TimestampTz
DwcCronNext(const DwcCron *cron, pg_tz *tz, TimestampTz after)
{
	pg_time_t	t = timestamptz_to_time_t(after);
	long		o1,
				o2,
				o3,
				omin,
				omax;
	Wall		w;
	bool		found = false;
	pg_time_t	best = 0;

	/* timestamptz_to_time_t truncates toward zero; we need the floor */
	if (time_t_to_timestamptz(t) > after)
		t--;

	o1 = gmtoff_at(t - 93600, tz);
	o2 = gmtoff_at(t, tz);
	o3 = gmtoff_at(t + 93600, tz);
	omin = Min(o1, Min(o2, o3));
	omax = Max(o1, Max(o2, o3));
	wall_from_instant(t, tz, &w);
	wall_from_seconds(wall_as_utc(&w) - (omax - omin), &w);

	for (;;)
	{
		pg_time_t	inst[2];
		pg_time_t	change = 0;
		int			n;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (!next_wall_match(cron, &w))
		{
			if (found)
				break;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cron expression never fires"),
					 errdetail("No matching time within %d years (for example, day 31 of a 30-day month).",
							   CRON_SEARCH_YEARS)));
		}
		/* no later wall time can occur before the best candidate */
		if (found && wall_as_utc(&w) - omax > best)
			break;

		n = wall_instants(&w, tz, inst, &change);
		if (n == 0)
		{
			/* skipped by the clock: fixed-time jobs run at the change */
			if (!cron->wildcard && time_t_to_timestamptz(change) > after &&
				(!found || change < best))
			{
				best = change;
				found = true;
			}
		}
		else
		{
			/* a repeated wall time: fixed-time jobs fire at its first occurrence only */
			for (i = 0; i < (cron->wildcard ? n : 1); i++)
			{
				if (time_t_to_timestamptz(inst[i]) > after && (!found || inst[i] < best))
				{
					best = inst[i];
					found = true;
				}
			}
		}
		/* away from DST changes the first candidate is the answer */
		if (found && omin == omax)
			break;
		wall_add_minute(&w);
	}
	return time_t_to_timestamptz(best);
}

/* ---- intervals ---------------------------------------------------------- */

typedef struct IntervalUnit
{
	const char *name;			/* singular */
	int64		us;
	int			max;			/* largest count when combined with larger units */
} IntervalUnit;

static const IntervalUnit interval_units[] = {
	{"day", USECS_PER_DAY, 365},
	{"hour", USECS_PER_HOUR, 23},
	{"minute", USECS_PER_MINUTE, 59},
	{"second", USECS_PER_SEC, 59},
};

/* Does text start like an interval ("30 seconds") rather than a cron expression? */
bool
DwcLooksLikeInterval(const char *text)
{
	const char *p = text;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	return isalpha((unsigned char) *p) != 0;
}

/*
 * Parse "N unit [N unit ...]" with units day(s), hour(s), minute(s),
 * second(s), each at most once, largest first.  Seconds, minutes and hours
 * are bounded by the next unit (1-59, 1-59, 1-23): write "1 minute 30
 * seconds", not "90 seconds".  Returns microseconds.
 */
int64
DwcParseInterval(const char *text)
{
	const char *p = text;
	int64		total = 0;
	int			next_unit = 0;

	for (;;)
	{
		long		n = 0;
		int			ndigits = 0;
		char		word[16];
		int			wlen = 0;
		int			u;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (!isdigit((unsigned char) *p))
			goto bad;
		while (isdigit((unsigned char) *p))
		{
			if (++ndigits > 6)
				goto bad;
			n = n * 10 + (*p++ - '0');
		}
		while (*p == ' ' || *p == '\t')
			p++;
		while (isalpha((unsigned char) *p) && wlen < (int) sizeof(word) - 1)
			word[wlen++] = pg_tolower((unsigned char) *p++);
		word[wlen] = '\0';
		if (wlen > 1 && word[wlen - 1] == 's')
			word[--wlen] = '\0';

		for (u = next_unit; u < (int) lengthof(interval_units); u++)
		{
			if (strcmp(word, interval_units[u].name) == 0)
				break;
		}
		if (u == (int) lengthof(interval_units))
		{
			for (u = 0; u < (int) lengthof(interval_units); u++)
			{
				if (strcmp(word, interval_units[u].name) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid interval schedule \"%s\"", text),
							 errdetail("Unit \"%s\" is repeated or out of order; use days, hours, minutes, seconds, largest first.",
									   interval_units[u].name)));
			}
			goto bad;
		}
		if (n < 1 || n > interval_units[u].max)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid interval schedule \"%s\"", text),
					 errdetail("%ss must be between 1 and %d, not %ld.",
							   interval_units[u].name, interval_units[u].max, n),
					 errhint("Combine units instead, for example \"1 minute 30 seconds\" or \"2 hours 15 minutes\".")));
		total += n * interval_units[u].us;
		next_unit = u + 1;
	}
	if (total == 0)
		goto bad;
	return total;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid interval schedule \"%s\"", text),
			 errdetail("Expected a count and a unit, such as \"30 seconds\", \"5 minutes\", \"1 hour 30 minutes\" or \"2 days\".")));
	return 0;					/* keep compiler quiet */
}

/*
 * Parse a schedule given as a cron expression or an interval, raising an
 * error that names the bad field and value.
 */
void
DwcParseScheduleSpec(const char *text, DwcScheduleSpec *spec)
{
	char		err[256];

	memset(spec, 0, sizeof(*spec));
	if (DwcLooksLikeInterval(text))
	{
		spec->is_interval = true;
		spec->interval_us = DwcParseInterval(text);
		return;
	}
	if (!DwcCronParse(text, &spec->cron, err, sizeof(err)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron expression \"%s\"", text),
				 errdetail("%c%s.", pg_toupper((unsigned char) err[0]), err + 1)));
}

pg_tz *
DwcLookupTimezone(const char *name)
{
	pg_tz	   *tz;

	if (name == NULL || *name == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone must not be empty")));
	tz = pg_tzset(name);
	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" not recognized", name),
				 errhint("Use a name from pg_timezone_names, such as \"Europe/Madrid\" or \"UTC\".")));
	return tz;
}

/*
 * Next fire time of a schedule strictly after "after".  Intervals step from
 * anchor (the schedule's first fire time): anchor + k * interval.
 */
TimestampTz
DwcScheduleNext(const DwcScheduleSpec *spec, pg_tz *tz, TimestampTz after, TimestampTz anchor)
{
	if (spec->is_interval)
	{
		int64		k;

		if (after < anchor)
			return anchor;
		k = (after - anchor) / spec->interval_us + 1;
		return anchor + k * spec->interval_us;
	}
	return DwcCronNext(&spec->cron, tz, after);
}
