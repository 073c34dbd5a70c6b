/*-------------------------------------------------------------------------
 *
 * cron_expr.c
 *		Schedule expressions: parsing into bitmaps and the next period after
 *		a time.  No server calls (no palloc, no ereport, no catalog): plain
 *		C over a string and int64 microseconds, so every path can be tested
 *		through cron_next() exhaustively.
 *
 * Accepted, as pg_cron does (Vixie cron's syntax):
 *
 *		minute hour day-of-month month day-of-week
 *
 * each field a comma-separated list of '*', n, a-b, * /s or a-b/s (a step
 * needs '*' or a range, as in pg_cron; a range must not run backwards);
 * months may be named jan..dec and days of the week sun..sat (either case,
 * also as range ends); day of week 7 is Sunday as 0 is; day of month '$'
 * alone is the month's last day.  When both day of month and day of week
 * are restricted (neither field starts with '*'), a day matching either
 * matches; otherwise a day must match both (Vixie cron's rule, which
 * pg_cron keeps: '* /2' counts as starting with '*').  Macros: @yearly and
 * @annually (0 0 1 1 *), @monthly (0 0 1 * *), @weekly (0 0 * * 0), @daily
 * and @midnight (0 0 * * *), @hourly (0 * * * *).  Times are UTC.
 *
 * Intervals: '@every <n unit> [<n unit> ...]', units second(s)/sec(s)/s,
 * minute(s)/min(s)/m, hour(s)/h, day(s)/d, week(s)/w, written apart or
 * together ('@every 1h30m', '@every 90 seconds'); whole seconds, from 1
 * second to 3660 days.  pg_cron's 'n seconds' (1-59) means '@every n
 * seconds'.  Months and years have no fixed length and are refused.  The
 * periods are the multiples of the interval since 1970-01-01 00:00:00 UTC,
 * so '@every 1 hour' falls on the hour, '@every 1 day' at midnight UTC and
 * '@every 1 week' on Thursdays (1970-01-01 was one), on every node alike.
 *
 * An expression that can never match (day of month 30 in February only,
 * with day of week '*') is refused, so cron_next_period always finds a
 * period within 8 years (February 29th) and its loop is bounded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "port/pg_bitutils.h"

#include "cron.h"

/* 1970-01-01 00:00:00 UTC as a TimestampTz */
#define CRON_UNIX_EPOCH		(-INT64CONST(946684800) * USECS_PER_SEC)

/* the first TimestampTz past the range PostgreSQL accepts (294277-01-01) */
#define CRON_END			INT64CONST(9223371331200000000)

/* the same, in minutes since the Unix epoch */
#define CRON_END_MINUTES	(CRON_END / USECS_PER_MINUTE - CRON_UNIX_EPOCH / USECS_PER_MINUTE)

static const char *const cron_month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};

static const char *const cron_dow_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

typedef struct CronFieldSpec
{
	const char *name;
	int			low;
	int			high;
	const char *const *names;	/* names of low, low + 1, ... or NULL */
	const char *takes;			/* what the field takes, for hints */
} CronFieldSpec;

/* room for cron_quote's output */
#define CRON_QUOTE_SIZE		32

static const CronFieldSpec cron_fields[5] = {
	{"minute", 0, 59, NULL, "0-59"},
	{"hour", 0, 23, NULL, "0-23"},
	{"day of month", 1, 31, NULL, "1-31 or $ (the last day)"},
	{"month", 1, 12, cron_month_names, "1-12 or jan-dec"},
	{"day of week", 0, 7, cron_dow_names, "0-7 (0 and 7 are Sunday) or sun-sat"},
};

typedef struct CronMacro
{
	const char *name;
	const char *fields;
} CronMacro;

static const CronMacro cron_macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
	{NULL, NULL}
};

/* ASCII classes: the server's locale must not change what parses. */
static inline bool
cron_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
cron_isalpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
cron_isalnum(char c)
{
	return cron_isdigit(c) || cron_isalpha(c);
}

/*
 * Up to len bytes of s (20 at most) quoted for an error message, into buf:
 * ASCII only, so a multibyte character is never cut; "..." where it stops
 * short.
 */
static const char *
cron_quote(const char *s, size_t len, char *buf)
{
	size_t		n = 0;

	while (n < len && n < 20 && s[n] != '\0' && !IS_HIGHBIT_SET(s[n]))
		n++;
	if (n == 0 && IS_HIGHBIT_SET(s[0]))
		return "a character that is not ASCII";
	snprintf(buf, CRON_QUOTE_SIZE, "\"%.*s%s\"", (int) n, s,
			 n < len && s[n] != '\0' ? "..." : "");
	return buf;
}

/* Fill *err; always false, for returning. */
static bool pg_attribute_printf(3, 4)
cron_fail(CronError *err, CronField field, const char *fmt,...)
{
	va_list		ap;

	err->field = field;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	if (field == CRON_WHOLE)
		snprintf(err->hint, sizeof(err->hint),
				 "Write five fields (minute hour day-of-month month day-of-week) such as '*/5 * * * *', a macro such as '@daily', or '@every 30 seconds'.");
	else
		snprintf(err->hint, sizeof(err->hint),
				 "Fix field %d (%s): it takes %s, as n, a-b, */s, a-b/s or a comma-separated list of those.",
				 (int) field + 1, cron_fields[field].name, cron_fields[field].takes);
	return false;
}

/* The name of a field, as error messages give it. */
const char *
cron_field_name(CronField field)
{
	return field == CRON_WHOLE ? "expression" : cron_fields[field].name;
}

/* Case-insensitive comparison of n bytes with a lower-case word. */
static bool
cron_word_eq(const char *s, size_t n, const char *word)
{
	if (strlen(word) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (pg_ascii_tolower((unsigned char) s[i]) != word[i])
			return false;
	return true;
}

/*
 * One value of a field at *p (a number or a name), advancing *p; false
 * with *err filled if there is none or it is out of range.
 */
static bool
cron_value(const char **p, CronField field, int *value, CronError *err)
{
	char		q[CRON_QUOTE_SIZE];
	const CronFieldSpec *f = &cron_fields[field];
	const char *s = *p;
	size_t		n = 0;
	bool		digits = true;

	while (cron_isalnum(s[n]))
	{
		if (!cron_isdigit(s[n]))
			digits = false;
		n++;
	}
	if (n == 0)
		return cron_fail(err, field, "Expected a number in the %s field at %s.",
						 f->name, cron_quote(s, strlen(s), q));
	if (digits)
	{
		int			v = 0;

		for (size_t i = 0; i < n; i++)
		{
			v = v * 10 + (s[i] - '0');
			if (v > 1000)
				break;
		}
		if (v < f->low || v > f->high)
			return cron_fail(err, field, "The %s %.*s is out of range %d-%d.",
							 f->name, (int) Min(n, 20), s, f->low, f->high);
		*value = v;
		*p = s + n;
		return true;
	}
	if (f->names)
	{
		for (int i = 0; f->names[i] != NULL; i++)
			if (cron_word_eq(s, n, f->names[i]))
			{
				*value = f->low + i;
				*p = s + n;
				return true;
			}
	}
	return cron_fail(err, field, "Unknown %s \"%.*s\".", f->name, (int) Min(n, 20), s);
}

/* A step (1 or more) at *p, advancing *p. */
static bool
cron_step(const char **p, CronField field, int *step, CronError *err)
{
	const char *s = *p;
	int			v = 0;
	int			n = 0;

	while (cron_isdigit(s[n]))
	{
		if (v < 1000)
			v = v * 10 + (s[n] - '0');
		n++;
	}
	if (n == 0 || cron_isalpha(s[n]))
		return cron_fail(err, field, "Expected a step (a number) after '/' in the %s field.",
						 cron_fields[field].name);
	if (v == 0)
		return cron_fail(err, field, "A step of 0 in the %s field.", cron_fields[field].name);
	*step = v;
	*p = s + n;
	return true;
}

/*
 * One field, from *p up to the next blank or the end; sets the bits of
 * values low..high in *bits (bit v for value v) and *star if it starts
 * with '*'.
 */
static bool
cron_parse_field(const char **p, CronField field, uint64 *bits, bool *star,
				 CronError *err)
{
	char		q[CRON_QUOTE_SIZE];
	const CronFieldSpec *f = &cron_fields[field];
	const char *s = *p;

	*bits = 0;
	*star = (*s == '*');
	for (;;)
	{
		int			lo;
		int			hi;
		int			step = 1;

		if (*s == '*')
		{
			lo = f->low;
			hi = f->high;
			s++;
		}
		else
		{
			if (!cron_value(&s, field, &lo, err))
				return false;
			hi = lo;
			if (*s == '-')
			{
				s++;
				if (!cron_value(&s, field, &hi, err))
					return false;
				if (hi < lo)
					return cron_fail(err, field, "The range %d-%d in the %s field runs backwards.",
									 lo, hi, f->name);
			}
			else if (*s == '/')
				return cron_fail(err, field, "A step needs '*' or a range before it in the %s field (write %d-%d/s).",
								 f->name, lo, f->high);
		}
		if (*s == '/')
		{
			s++;
			if (!cron_step(&s, field, &step, err))
				return false;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= UINT64CONST(1) << v;
		if (*s == ',')
		{
			s++;
			continue;
		}
		if (*s == '\0' || *s == ' ' || *s == '\t')
			break;
		return cron_fail(err, field, "Unexpected %s in the %s field.",
						 cron_quote(s, strlen(s), q), f->name);
	}
	*p = s;
	return true;
}

/* Skip blanks. */
static const char *
cron_skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

/* Days in month m (1-12) of year y (proleptic Gregorian). */
static int
cron_days_in_month(int64 y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return 29;
	return days[m - 1];
}

/* The five fields of text (macros expanded) into *s. */
static bool
cron_parse_fields(const char *text, CronSchedule *s, CronError *err)
{
	char		q[CRON_QUOTE_SIZE];
	const char *p = cron_skip_blanks(text);
	uint64		bits;
	bool		star;

	for (int i = 0; i < 5; i++)
	{
		CronField	field = (CronField) i;

		if (*p == '\0')
			return cron_fail(err, CRON_WHOLE, "The expression has %d field%s, not 5.",
							 i, i == 1 ? "" : "s");
		if (field == CRON_DOM && *p == '$')
		{
			p++;
			if (*p != '\0' && *p != ' ' && *p != '\t')
				return cron_fail(err, field, "'$' (the last day) must be the whole day of month field.");
			s->dom_last = true;
			s->dom_star = false;
			s->days = 0;
		}
		else
		{
			if (!cron_parse_field(&p, field, &bits, &star, err))
				return false;
			switch (field)
			{
				case CRON_MINUTE:
					s->minutes = bits;
					break;
				case CRON_HOUR:
					s->hours = (uint32) bits;
					break;
				case CRON_DOM:
					s->days = (uint32) bits;
					s->dom_star = star;
					break;
				case CRON_MONTH:
					s->months = (uint16) bits;
					break;
				case CRON_DOW:
					/* 7 is Sunday */
					s->weekdays = (uint8) ((bits | (bits >> 7)) & 0x7F);
					s->dow_star = star;
					break;
				case CRON_WHOLE:
					break;
			}
		}
		p = cron_skip_blanks(p);
	}
	if (*p != '\0')
		return cron_fail(err, CRON_WHOLE, "The expression has more than 5 fields (%s follows them).",
						 cron_quote(p, strlen(p), q));

	/* a day must be able to match: only day of month can rule every day out */
	if (!s->dom_last && (s->dom_star || s->dow_star))
	{
		bool		possible = false;

		for (int m = 1; m <= 12 && !possible; m++)
			if (s->months & (1 << m))
				for (int d = 1; d <= cron_days_in_month(2000, m); d++)
					if (s->days & (((uint32) 1) << d))
					{
						possible = true;
						break;
					}
		if (!possible)
			return cron_fail(err, CRON_DOM, "No day of month in the day of month field occurs in the months of the month field, so the expression never matches.");
	}
	s->kind = CRON_FIELDS;
	return true;
}

/* '@every ...' or pg_cron's 'n seconds' (after the prefix, at p). */
static bool
cron_parse_every(const char *p, bool pg_cron_seconds, CronSchedule *s, CronError *err)
{
	char		q[CRON_QUOTE_SIZE];
	int64		total = 0;
	int			terms = 0;

	p = cron_skip_blanks(p);
	while (*p != '\0')
	{
		int64		n = 0;
		int64		unit;
		size_t		len = 0;
		const char *word;

		if (!cron_isdigit(*p))
			return cron_fail(err, CRON_WHOLE, "Expected a whole number at %s in the interval.",
							 cron_quote(p, strlen(p), q));
		while (cron_isdigit(*p))
		{
			if (n < CRON_EVERY_MAX_USEC)
				n = n * 10 + (*p - '0');
			p++;
		}
		if (*p == '.' || *p == ',')
			return cron_fail(err, CRON_WHOLE, "The interval takes whole numbers (write '@every 90 minutes' rather than '@every 1.5 hours').");
		p = cron_skip_blanks(p);
		word = p;
		while (cron_isalpha(p[len]))
			len++;
		if (len == 0)
			return cron_fail(err, CRON_WHOLE, "The number %lld in the interval has no unit.",
							 (long long) Min(n, INT64CONST(999999999)));
		if (cron_word_eq(word, len, "s") || cron_word_eq(word, len, "sec") ||
			cron_word_eq(word, len, "secs") || cron_word_eq(word, len, "second") ||
			cron_word_eq(word, len, "seconds"))
			unit = USECS_PER_SEC;
		else if (pg_cron_seconds)
			return cron_fail(err, CRON_WHOLE, "Expected 'seconds' after the number.");
		else if (cron_word_eq(word, len, "m") || cron_word_eq(word, len, "min") ||
				 cron_word_eq(word, len, "mins") || cron_word_eq(word, len, "minute") ||
				 cron_word_eq(word, len, "minutes"))
			unit = USECS_PER_MINUTE;
		else if (cron_word_eq(word, len, "h") || cron_word_eq(word, len, "hour") ||
				 cron_word_eq(word, len, "hours"))
			unit = USECS_PER_HOUR;
		else if (cron_word_eq(word, len, "d") || cron_word_eq(word, len, "day") ||
				 cron_word_eq(word, len, "days"))
			unit = USECS_PER_DAY;
		else if (cron_word_eq(word, len, "w") || cron_word_eq(word, len, "week") ||
				 cron_word_eq(word, len, "weeks"))
			unit = 7 * USECS_PER_DAY;
		else if (cron_word_eq(word, len, "mon") || cron_word_eq(word, len, "mons") ||
				 cron_word_eq(word, len, "month") || cron_word_eq(word, len, "months") ||
				 cron_word_eq(word, len, "y") || cron_word_eq(word, len, "year") ||
				 cron_word_eq(word, len, "years"))
			return cron_fail(err, CRON_WHOLE, "Months and years have no fixed length: an interval takes seconds, minutes, hours, days or weeks (for a monthly schedule write '0 0 1 * *').");
		else
			return cron_fail(err, CRON_WHOLE, "Unknown unit \"%.*s\" in the interval (seconds, minutes, hours, days or weeks).",
							 (int) Min(len, 20), word);
		p = cron_skip_blanks(word + len);
		if (n > CRON_EVERY_MAX_USEC / unit)
			return cron_fail(err, CRON_WHOLE, "The interval is longer than 3660 days.");
		total += n * unit;
		if (total > CRON_EVERY_MAX_USEC)
			return cron_fail(err, CRON_WHOLE, "The interval is longer than 3660 days.");
		terms++;
	}
	if (terms == 0)
		return cron_fail(err, CRON_WHOLE, "'@every' needs an interval, such as '@every 30 seconds'.");
	if (total <= 0)
		return cron_fail(err, CRON_WHOLE, "The interval must be at least 1 second.");
	if (pg_cron_seconds && (terms != 1 || total > 59 * USECS_PER_SEC))
		return cron_fail(err, CRON_WHOLE, "'n seconds' takes 1-59 seconds (write '@every %lld seconds' for longer).",
						 (long long) (total / USECS_PER_SEC));
	s->kind = CRON_EVERY;
	s->every_usec = total;
	return true;
}

/* ok, or false with the hint of a bad interval in *err. */
static bool
cron_every_hint(bool ok, CronError *err)
{
	if (!ok)
		snprintf(err->hint, sizeof(err->hint),
				 "Write '@every' and whole numbers of seconds, minutes, hours, days or weeks, such as '@every 30 seconds', '@every 1h30m' or '@every 2 days'.");
	return ok;
}

/* Parse text into *s; false with *err filled if it is not a schedule. */
bool
cron_parse(const char *text, CronSchedule *s, CronError *err)
{
	char		q[CRON_QUOTE_SIZE];
	const char *p = cron_skip_blanks(text);

	memset(s, 0, sizeof(*s));
	memset(err, 0, sizeof(*err));
	if (strlen(text) > CRON_MAX_LEN)
		return cron_fail(err, CRON_WHOLE, "The expression is longer than %d characters.", CRON_MAX_LEN);
	if (*p == '\0')
		return cron_fail(err, CRON_WHOLE, "The expression is empty.");
	if (*p == '@')
	{
		size_t		len = 0;

		while (p[len] != '\0' && p[len] != ' ' && p[len] != '\t')
			len++;
		if (cron_word_eq(p, len, "@every"))
			return cron_every_hint(cron_parse_every(p + len, false, s, err), err);
		for (int i = 0; cron_macros[i].name != NULL; i++)
			if (cron_word_eq(p, len, cron_macros[i].name))
			{
				if (*cron_skip_blanks(p + len) != '\0')
					return cron_fail(err, CRON_WHOLE, "%s takes nothing after it.", cron_macros[i].name);
				return cron_parse_fields(cron_macros[i].fields, s, err);
			}
		if (cron_word_eq(p, len, "@reboot") || cron_word_eq(p, len, "@restart"))
			return cron_fail(err, CRON_WHOLE, "%.*s is not a schedule here: there is no server start to run at.",
							 (int) len, p);
		return cron_fail(err, CRON_WHOLE, "Unknown macro %s (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every).",
						 cron_quote(p, len, q));
	}
	/* pg_cron's 'n seconds': a number and a word, nothing else */
	{
		const char *q = p;

		while (cron_isdigit(*q))
			q++;
		if (q > p)
		{
			q = cron_skip_blanks(q);
			if (cron_isalpha(*q))
			{
				while (cron_isalpha(*q))
					q++;
				if (*cron_skip_blanks(q) == '\0')
					return cron_every_hint(cron_parse_every(p, true, s, err), err);
			}
		}
	}
	return cron_parse_fields(p, s, err);
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil). */
static int64
cron_days_from_civil(int64 y, int m, int d)
{
	int64		era;
	int64		yoe;
	int64		doy;
	int64		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The civil date of days since 1970-01-01 (H. Hinnant's civil_from_days). */
static void
cron_civil_from_days(int64 z, int64 *y, int *m, int *d)
{
	int64		era;
	int64		doe;
	int64		yoe;
	int64		doy;
	int64		mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* floor(a / b) for b > 0. */
static int64
cron_floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	if (a % b != 0 && a < 0)
		q--;
	return q;
}

/* Whether day (y, m, d) with day of week wday matches s. */
static bool
cron_day_matches(const CronSchedule *s, int64 y, int m, int d, int wday)
{
	bool		dom;
	bool		dow = (s->weekdays & (1 << wday)) != 0;

	if (s->dom_last)
		dom = (d == cron_days_in_month(y, m));
	else
		dom = (s->days & (((uint32) 1) << d)) != 0;
	if (s->dom_star || s->dow_star)
		return dom && dow;
	return dom || dow;
}

/* The first period of a five-field schedule strictly after after. */
static bool
cron_next_fields(const CronSchedule *s, TimestampTz after, TimestampTz *next)
{
	/* minutes since the Unix epoch (the epoch is a whole minute) */
	int64		t = cron_floor_div(after, USECS_PER_MINUTE) -
		CRON_UNIX_EPOCH / USECS_PER_MINUTE + 1;

	/*
	 * Each turn either returns or moves t to the start of a later month,
	 * day, hour or minute; parsing made sure some day matches within 8
	 * years, so this ends well within the bound.
	 */
	for (int guard = 0; guard < 100000; guard++)
	{
		int64		z = cron_floor_div(t, 24 * 60);
		int			minute_of_day = (int) (t - z * 24 * 60);
		int			h = minute_of_day / 60;
		int			mi = minute_of_day % 60;
		int64		y;
		int			m;
		int			d;
		int			wday;
		uint64		later;

		if (t >= CRON_END_MINUTES)
			return false;
		cron_civil_from_days(z, &y, &m, &d);
		if (!(s->months & (1 << m)))
		{
			t = (m == 12 ? cron_days_from_civil(y + 1, 1, 1)
				 : cron_days_from_civil(y, m + 1, 1)) * 24 * 60;
			continue;
		}
		wday = (int) ((z % 7 + 7 + 4) % 7);
		if (!cron_day_matches(s, y, m, d, wday))
		{
			t = (z + 1) * 24 * 60;
			continue;
		}
		if (!(s->hours & (((uint32) 1) << h)))
		{
			t = z * 24 * 60 + (h + 1) * 60;
			continue;
		}
		later = s->minutes & ~((UINT64CONST(1) << mi) - 1);
		if (later == 0)
		{
			t = z * 24 * 60 + (h + 1) * 60;
			continue;
		}
		t = z * 24 * 60 + h * 60 + pg_rightmost_one_pos64(later);
		*next = (t + CRON_UNIX_EPOCH / USECS_PER_MINUTE) * USECS_PER_MINUTE;
		return true;
	}
	return false;
}

/*
 * The first period of s strictly after after, in *next; false if there is
 * none before the end of the timestamp range.
 */
bool
cron_next_period(const CronSchedule *s, TimestampTz after, TimestampTz *next)
{
	if (s->kind == CRON_EVERY)
	{
		int64		rel;
		int64		k;
		int64		t;

		if (pg_sub_s64_overflow(after, CRON_UNIX_EPOCH, &rel))
			return false;
		k = cron_floor_div(rel, s->every_usec) + 1;
		if (pg_mul_s64_overflow(k, s->every_usec, &t) ||
			pg_add_s64_overflow(t, CRON_UNIX_EPOCH, &t) ||
			t >= CRON_END)
			return false;
		*next = t;
		return true;
	}
	return cron_next_fields(s, after, next);
}
