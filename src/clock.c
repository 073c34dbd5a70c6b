/*-------------------------------------------------------------------------
 *
 * clock.c
 *		The time rate limits and circuit breakers are decided at.
 *
 * Normally the wall clock at the moment of the call (clock_timestamp(), not
 * the transaction's start: a limiter called in a long transaction must see
 * time pass).  For deterministic tests a superuser may stop this session's
 * clock with SET resilience.clock_override = '<timestamptz>'; '' (the
 * default) runs it again.  The setting is PGC_SUSET, so an ordinary role
 * cannot make its own calls look older or newer, and it affects only the
 * session that sets it: other sessions keep deciding on the real clock
 * against the same shared state.
 *
 * The value is parsed when first used after each change (parsing needs a
 * transaction for time zone names), and an invalid value is an error then
 * (22007), naming the setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "clock.h"

static char *clock_override = NULL;

/* the parsed override, valid while clock_parsed_from equals the setting */
static char *clock_parsed_from = NULL;
static TimestampTz clock_parsed = 0;

/* Define resilience.clock_override. */
void
clock_define_gucs(void)
{
	DefineCustomStringVariable("resilience.clock_override",
							   "Stops the clock of rate limits and circuit breakers at this time (tests only).",
							   "Empty: the real clock.  Affects only the session that sets it.",
							   &clock_override,
							   "",
							   PGC_SUSET, GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}

/* The current time, or the override. */
TimestampTz
clock_now(void)
{
	if (clock_override == NULL || clock_override[0] == '\0')
		return GetCurrentTimestamp();
	if (clock_parsed_from == NULL || strcmp(clock_parsed_from, clock_override) != 0)
	{
		Datum		d;

		d = DirectFunctionCall3(timestamptz_in, CStringGetDatum(clock_override),
								ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		if (TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(d)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("resilience.clock_override must be a finite time")));
		if (clock_parsed_from)
			pfree(clock_parsed_from);
		clock_parsed_from = MemoryContextStrdup(TopMemoryContext, clock_override);
		clock_parsed = DatumGetTimestampTz(d);
	}
	return clock_parsed;
}
