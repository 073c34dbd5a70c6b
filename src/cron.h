/*-------------------------------------------------------------------------
 *
 * cron.h
 *		Schedule expressions (cron_expr.c: no server calls) and the hook
 *		claim() calls to enqueue due periods (cron.c).
 *
 * A schedule is either five cron fields (minute hour day-of-month month
 * day-of-week, pg_cron's syntax, in UTC) or a fixed interval ('@every 30
 * seconds', pg_cron's '30 seconds'), whose periods are the multiples of the
 * interval since the Unix epoch, 1970-01-01 00:00:00 UTC, so every node
 * computes the same periods.  Times are TimestampTz values: microseconds
 * since 2000-01-01 00:00:00 UTC.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_CRON_H
#define RESILIENCE_CRON_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef enum CronKind
{
	CRON_FIELDS,				/* five fields, minute resolution */
	CRON_EVERY					/* a fixed interval since the Unix epoch */
} CronKind;

/* The fields of a cron expression, in order; CRON_WHOLE: the expression. */
typedef enum CronField
{
	CRON_WHOLE = -1,
	CRON_MINUTE,
	CRON_HOUR,
	CRON_DOM,
	CRON_MONTH,
	CRON_DOW
} CronField;

/* A compiled expression. */
typedef struct CronSchedule
{
	CronKind	kind;
	uint64		minutes;		/* bit m: minute m (0-59) */
	uint32		hours;			/* bit h: hour h (0-23) */
	uint32		days;			/* bit d: day of month d (1-31) */
	uint16		months;			/* bit m: month m (1-12) */
	uint8		weekdays;		/* bit d: day of week d (0-6, 0 = Sunday) */
	bool		dom_last;		/* day of month '$': the month's last day */
	bool		dom_star;		/* day-of-month field starts with '*' */
	bool		dow_star;		/* day-of-week field starts with '*' */
	int64		every_usec;		/* CRON_EVERY: the period, > 0 */
} CronSchedule;

/* Why an expression was refused: which field, what, and what it takes. */
typedef struct CronError
{
	CronField	field;
	char		detail[160];
	char		hint[200];
} CronError;

/* The longest expression accepted, in bytes. */
#define CRON_MAX_LEN			1000

/* The longest @every period accepted: 3660 days. */
#define CRON_EVERY_MAX_USEC		(INT64CONST(3660) * USECS_PER_DAY)

/* Parse text into *s; false with *err filled if it is not a schedule. */
extern bool cron_parse(const char *text, CronSchedule *s, CronError *err);

/*
 * The first period of s strictly after after, in *next; false if there is
 * none before the end of the timestamp range.
 */
extern bool cron_next_period(const CronSchedule *s, TimestampTz after,
							 TimestampTz *next);

/* The name of a field, as error messages give it. */
extern const char *cron_field_name(CronField field);

/*
 * claim(): enqueue the due periods of queue's schedules at now, the time
 * the claim decides at (cron.c); cheap when none is due.  True if it
 * enqueued (this transaction then holds the schedules' rows).
 */
extern bool cron_claim_tick(const char *queue, TimestampTz now);

/* _PG_init: define resilience.schedule_* settings. */
extern void cron_define_gucs(void);

#endif							/* RESILIENCE_CRON_H */
