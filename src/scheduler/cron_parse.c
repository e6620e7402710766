/*-------------------------------------------------------------------------
 *
 * cron_parse.c
 *		Parser for 5-field cron expressions (Vixie cron semantics).
 *
 *   minute hour day-of-month month day-of-week
 *
 * Each field is a comma-separated list of items; an item is '*', a value,
 * or a range a-b, optionally followed by /step (a value with a step, 5/15,
 * means 5-max/15).  Months and weekdays accept three-letter English names
 * (JAN..DEC, SUN..SAT, any case); weekday 7 is Sunday too.  '$' in the
 * day-of-month field means the last day of the month.  The macros @yearly
 * (@annually), @monthly, @weekly, @daily (@midnight) and @hourly stand for
 * their usual expansions.
 *
 * As in Vixie cron, a day-of-month or day-of-week field is "unrestricted"
 * when it starts with '*' (so "*" and "*" followed by a step); when both are
 * restricted a day matches if either field matches, otherwise both must.
 *
 * This file has no PostgreSQL dependency: it is also built into the fuzz
 * target.  It never allocates memory.
 *
 * src/scheduler/cron_parse.c
 *
 *-------------------------------------------------------------------------
 */
#include "scheduler/cron_parse.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct FieldDef
{
	const char *name;
	int			min;
	int			max;
	const char *const *names;	/* index = value - names_base */
	int			names_base;
	int			nnames;
} FieldDef;

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"
};
static const char *const dow_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"
};

enum
{
	F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, NFIELDS
};

static const FieldDef fields[NFIELDS] = {
	{"minute", 0, 59, NULL, 0, 0},
	{"hour", 0, 23, NULL, 0, 0},
	{"day-of-month", 1, 31, NULL, 0, 0},
	{"month", 1, 12, month_names, 1, 12},
	{"day-of-week", 0, 7, dow_names, 0, 7},
};

static const struct
{
	const char *macro;
	const char *expansion;
} macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

#ifdef __GNUC__
static bool fail(char *errbuf, size_t errlen, const char *fmt,...) __attribute__((format(printf, 3, 4)));
#endif

static bool
fail(char *errbuf, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	return false;
}

/*
 * Parse one value (number, name, or '$' when allowed) at *p, advancing *p.
 * Sets *is_last for '$'.
 */
static bool
parse_value(const FieldDef *f, const char **p, int *value, bool *is_last,
			const char *item, char *errbuf, size_t errlen)
{
	const char *s = *p;

	*is_last = false;
	if (isdigit((unsigned char) *s))
	{
		long		v = 0;
		int			ndigits = 0;

		while (isdigit((unsigned char) *s))
		{
			if (++ndigits > 4)
				return fail(errbuf, errlen, "%s field: value in \"%s\" is out of range (%d-%d)",
							f->name, item, f->min, f->max);
			v = v * 10 + (*s - '0');
			s++;
		}
		if (v < f->min || v > f->max)
			return fail(errbuf, errlen, "%s field: value %ld in \"%s\" is out of range (%d-%d)",
						f->name, v, item, f->min, f->max);
		*value = (int) v;
		*p = s;
		return true;
	}
	if (*s == '$')
	{
		if (f != &fields[F_DOM])
			return fail(errbuf, errlen, "%s field: \"$\" (last day of the month) is only allowed in the day-of-month field",
						f->name);
		s++;
		if (isalnum((unsigned char) *s))
			return fail(errbuf, errlen, "%s field: invalid value \"%s\"", f->name, item);
		*is_last = true;
		*value = f->max;
		*p = s;
		return true;
	}
	if (isalpha((unsigned char) *s) && f->names != NULL)
	{
		int			i;

		for (i = 0; i < f->nnames; i++)
		{
			if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char) s[3]))
			{
				*value = f->names_base + i;
				*p = s + 3;
				return true;
			}
		}
	}
	return fail(errbuf, errlen, "%s field: invalid value \"%s\"", f->name, item);
}

/*
 * Parse one comma-separated item into the bitmask.  item is a NUL-terminated
 * copy of the item text, used for parsing and in messages.
 */
static bool
parse_item(const FieldDef *f, const char *item, uint64_t *bits, bool *last,
		   char *errbuf, size_t errlen)
{
	const char *p = item;
	int			lo,
				hi,
				step = 1;
	bool		lo_last = false,
				hi_last = false;
	int			v;

	if (*p == '*')
	{
		lo = f->min;
		hi = f->max;
		p++;
	}
	else
	{
		if (!parse_value(f, &p, &lo, &lo_last, item, errbuf, errlen))
			return false;
		hi = lo;
		if (*p == '-')
		{
			p++;
			if (!parse_value(f, &p, &hi, &hi_last, item, errbuf, errlen))
				return false;
			if (lo_last)
				return fail(errbuf, errlen, "%s field: \"$\" cannot start a range in \"%s\"", f->name, item);
			if (hi < lo)
				return fail(errbuf, errlen, "%s field: range \"%s\" ends before it starts", f->name, item);
		}
	}

	if (*p == '/')
	{
		long		s = 0;
		int			ndigits = 0;

		p++;
		if (!isdigit((unsigned char) *p))
			return fail(errbuf, errlen, "%s field: step in \"%s\" must be a positive number", f->name, item);
		while (isdigit((unsigned char) *p))
		{
			if (++ndigits > 4)
				break;
			s = s * 10 + (*p - '0');
			p++;
		}
		if (s < 1 || ndigits > 4 || s > f->max - f->min + 1)
			return fail(errbuf, errlen, "%s field: step in \"%s\" must be between 1 and %d",
						f->name, item, f->max - f->min + 1);
		step = (int) s;
		/* a single value with a step runs to the end of the field: 5/15 */
		if (item[0] != '*' && hi == lo && !lo_last)
			hi = f->max;
		if (lo_last || hi_last)
			return fail(errbuf, errlen, "%s field: \"$\" cannot take a step in \"%s\"", f->name, item);
	}

	if (*p != '\0')
		return fail(errbuf, errlen, "%s field: invalid item \"%s\"", f->name, item);

	if (lo_last && hi == lo)
	{
		*last = true;
		return true;
	}
	if (hi_last)
		*last = true;			/* a-$ : a..31, and the last day, whatever it is */
	for (v = lo; v <= hi; v += step)
		*bits |= (uint64_t) 1 << v;
	return true;
}

/* Parse one whitespace-free field text into its bitmask. */
static bool
parse_field(const FieldDef *f, const char *text, uint64_t *bits, bool *last,
			char *errbuf, size_t errlen)
{
	const char *p = text;

	*bits = 0;
	*last = false;
	for (;;)
	{
		char		item[DWC_CRON_MAX_LEN + 1];
		size_t		len = strcspn(p, ",");

		if (len == 0)
			return fail(errbuf, errlen, "%s field: empty item in \"%s\"", f->name, text);
		memcpy(item, p, len);
		item[len] = '\0';
		if (!parse_item(f, item, bits, last, errbuf, errlen))
			return false;
		if (p[len] == '\0')
			return true;
		p += len + 1;
	}
}

bool
DwcCronParse(const char *expr, DwcCron *cron, char *errbuf, size_t errlen)
{
	char		buf[DWC_CRON_MAX_LEN + 1];
	char	   *tokens[NFIELDS + 1];
	int			ntokens = 0;
	char	   *p;
	size_t		len;
	int			i;
	uint64_t	bits;
	bool		last;

	memset(cron, 0, sizeof(*cron));
	if (expr == NULL)
		return fail(errbuf, errlen, "cron expression is missing");
	len = strlen(expr);
	if (len > DWC_CRON_MAX_LEN)
		return fail(errbuf, errlen, "cron expression is longer than %d characters", DWC_CRON_MAX_LEN);

	/* trim, and expand macros */
	while (*expr == ' ' || *expr == '\t')
		expr++;
	len = strlen(expr);
	while (len > 0 && (expr[len - 1] == ' ' || expr[len - 1] == '\t'))
		len--;
	if (len == 0)
		return fail(errbuf, errlen, "cron expression is empty");
	memcpy(buf, expr, len);
	buf[len] = '\0';

	if (buf[0] == '@')
	{
		for (i = 0; i < (int) (sizeof(macros) / sizeof(macros[0])); i++)
		{
			if (strcasecmp(buf, macros[i].macro) == 0)
			{
				strcpy(buf, macros[i].expansion);
				break;
			}
		}
		if (buf[0] == '@')
			return fail(errbuf, errlen, "unknown cron macro \"%s\" (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)",
						buf);
	}

	/* split into fields on runs of blanks */
	p = buf;
	while (*p)
	{
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (ntokens == NFIELDS)
		{
			ntokens++;
			break;
		}
		tokens[ntokens++] = p;
		while (*p && *p != ' ' && *p != '\t')
		{
			if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
				return fail(errbuf, errlen, "cron expression contains an invalid character (byte 0x%02x)",
							(unsigned char) *p);
			p++;
		}
	}
	if (ntokens != NFIELDS)
	{
		if (ntokens > NFIELDS)
			return fail(errbuf, errlen, "cron expression has more than 5 fields (minute hour day-of-month month day-of-week)");
		return fail(errbuf, errlen, "cron expression has %d field%s, expected 5 (minute hour day-of-month month day-of-week)",
					ntokens, ntokens == 1 ? "" : "s");
	}

	for (i = 0; i < NFIELDS; i++)
	{
		if (!parse_field(&fields[i], tokens[i], &bits, &last, errbuf, errlen))
			return false;
		switch (i)
		{
			case F_MINUTE:
				cron->minutes = bits;
				cron->wildcard |= (tokens[i][0] == '*');
				break;
			case F_HOUR:
				cron->hours = (uint32_t) bits;
				cron->wildcard |= (tokens[i][0] == '*');
				break;
			case F_DOM:
				cron->days = (uint32_t) bits;
				cron->last_day = last;
				cron->dom_star = (tokens[i][0] == '*');
				break;
			case F_MONTH:
				cron->months = (uint16_t) bits;
				break;
			case F_DOW:
				/* 7 is Sunday, like 0 */
				if (bits & ((uint64_t) 1 << 7))
					bits = (bits | 1) & ~((uint64_t) 1 << 7);
				cron->dows = (uint8_t) bits;
				cron->dow_star = (tokens[i][0] == '*');
				break;
		}
	}
	return true;
}
