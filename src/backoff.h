/*-------------------------------------------------------------------------
 *
 * backoff.h
 *		Exponential backoff with jitter, shared by the retry wrappers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_BACKOFF_H
#define RESILIENCE_BACKOFF_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef enum BackoffJitter
{
	BACKOFF_JITTER_NONE,		/* the ceiling itself */
	BACKOFF_JITTER_FULL,		/* uniform in [0, ceiling] */
	BACKOFF_JITTER_EQUAL		/* uniform in [ceiling/2, ceiling] */
} BackoffJitter;

/* Parse a jitter name; ERROR (22023, with the valid names) if unrecognized. */
extern BackoffJitter backoff_parse_jitter(const char *name);

/*
 * Validate (attempt >= 1, base > 0, cap >= base), ERROR 22023 otherwise.
 * argument names are used in the messages.
 */
extern void backoff_check_args(int32 attempt, int64 base_us, int64 cap_us,
							   const char *base_name, const char *cap_name);

/* min(cap, base * 2^(attempt-1)), overflow-safe for any attempt >= 1. */
extern int64 backoff_ceiling_usec(int32 attempt, int64 base_us, int64 cap_us);

/* A delay in microseconds for this attempt, drawn from the backend's PRNG. */
extern int64 backoff_delay_usec(int32 attempt, int64 base_us, int64 cap_us,
								BackoffJitter jitter);

#endif							/* RESILIENCE_BACKOFF_H */
