/*-------------------------------------------------------------------------
 *
 * backoff.c
 *		resilience.backoff_delay(): exponential backoff with jitter.
 *
 * Attempt n (1-based) has the ceiling min(cap, base * 2^(n-1)); the jitter
 * mode picks the delay under it ("Exponential Backoff and Jitter", AWS
 * Architecture Blog, 2015): none = the ceiling, full = uniform [0, ceiling],
 * equal = uniform [ceiling/2, ceiling].  Full jitter spreads retrying
 * clients the most and is what retry_transaction uses.
 *
 * Everything is computed in int64 microseconds.  The doubling never
 * overflows: it stops as soon as the ceiling would pass the cap, so any
 * attempt number up to INT32_MAX is fine.  Random draws come from the
 * backend's own PRNG (pg_global_prng_state, seeded per process), which is
 * unbiased over an inclusive range.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "args.h"
#include "backoff.h"
#include "resilience.h"

RESILIENCE_FUNCTION(backoff_delay);

static const struct
{
	const char *name;
	BackoffJitter jitter;
}			jitter_names[] =
{
	{"none", BACKOFF_JITTER_NONE},
	{"full", BACKOFF_JITTER_FULL},
	{"equal", BACKOFF_JITTER_EQUAL},
};

/* Parse a jitter mode name (case-sensitive, as documented). */
BackoffJitter
backoff_parse_jitter(const char *name)
{
	for (size_t i = 0; i < lengthof(jitter_names); i++)
	{
		if (strcmp(name, jitter_names[i].name) == 0)
			return jitter_names[i].jitter;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized jitter mode \"%s\"", name),
			 errhint("Valid jitter modes are \"none\", \"full\" and \"equal\".")));
	pg_unreachable();
}

/* Argument checks shared by backoff_delay and the retry wrappers. */
void
backoff_check_args(int32 attempt, int64 base_us, int64 cap_us,
				   const char *base_name, const char *cap_name)
{
	if (attempt < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("attempt must be at least 1, not %d", attempt),
				 errhint("Attempts are numbered from 1.")));
	if (base_us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", base_name),
				 errhint("Use a delay such as '10ms'.")));
	if (cap_us < base_us)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be less than %s", cap_name, base_name),
				 errhint("The cap is the longest delay; make it at least the base delay.")));
}

/* min(cap, base * 2^(attempt-1)) without overflow. */
int64
backoff_ceiling_usec(int32 attempt, int64 base_us, int64 cap_us)
{
	int64		ceiling = base_us;

	Assert(attempt >= 1 && base_us > 0 && cap_us >= base_us);

	/* Doubling at most 63 times reaches any int64 cap; stop at the cap. */
	for (int32 i = 1; i < attempt; i++)
	{
		if (ceiling > cap_us / 2)
			return cap_us;
		ceiling *= 2;
	}
	return Min(ceiling, cap_us);
}

/* Uniform draw in [lo, hi] from the backend's PRNG. */
static int64
backoff_uniform(int64 lo, int64 hi)
{
	Assert(lo >= 0 && lo <= hi);
	return (int64) pg_prng_uint64_range(&pg_global_prng_state,
										(uint64) lo, (uint64) hi);
}

/* The delay for an attempt, given validated arguments. */
int64
backoff_delay_usec(int32 attempt, int64 base_us, int64 cap_us,
				   BackoffJitter jitter)
{
	int64		ceiling = backoff_ceiling_usec(attempt, base_us, cap_us);

	switch (jitter)
	{
		case BACKOFF_JITTER_NONE:
			return ceiling;
		case BACKOFF_JITTER_FULL:
			return backoff_uniform(0, ceiling);
		case BACKOFF_JITTER_EQUAL:
			return backoff_uniform(ceiling / 2 + ceiling % 2, ceiling);
	}
	elog(ERROR, "unrecognized jitter mode: %d", (int) jitter);
	pg_unreachable();
}

/*
 * backoff_delay(attempt int, base interval, cap interval, jitter text)
 *		RETURNS interval
 */
Datum
backoff_delay(PG_FUNCTION_ARGS)
{
	int32		attempt = PG_GETARG_INT32(0);
	Interval   *base = PG_GETARG_INTERVAL_P(1);
	Interval   *cap = PG_GETARG_INTERVAL_P(2);
	char	   *jitter_name = text_to_cstring(PG_GETARG_TEXT_PP(3));
	BackoffJitter jitter;
	int64		base_us;
	int64		cap_us;
	Interval   *result;

	base_us = args_interval_usec(base, "base");
	cap_us = args_interval_usec(cap, "cap");
	backoff_check_args(attempt, base_us, cap_us, "base", "cap");
	jitter = backoff_parse_jitter(jitter_name);

	result = (Interval *) palloc0(sizeof(Interval));
	result->time = backoff_delay_usec(attempt, base_us, cap_us, jitter);
	PG_RETURN_INTERVAL_P(result);
}
