/*-------------------------------------------------------------------------
 *
 * clock.h
 *		The clock rate limits and circuit breakers read, which tests can
 *		stop (resilience.clock_override).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_CLOCK_H
#define RESILIENCE_CLOCK_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* _PG_init: define resilience.clock_override. */
extern void clock_define_gucs(void);

/* clock_timestamp(), or resilience.clock_override when it is set. */
extern TimestampTz clock_now(void);

#endif							/* RESILIENCE_CLOCK_H */
