/*-------------------------------------------------------------------------
 *
 * lease.h
 *		The token floor shared by leases and job claims (queue.c): a token
 *		granted on a timeline is at least timeline << 40, so after a
 *		promotion every new token exceeds every token the old primary gave.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_LEASE_H
#define RESILIENCE_LEASE_H

#include "postgres.h"

/*
 * timeline << 40 for the current WAL insertion timeline (primary only).
 * The calling transaction then commits synchronously, so that a token it
 * grants cannot be lost in a crash and granted again (see lease.c).
 */
extern int64 lease_token_floor_value(void);

#endif							/* RESILIENCE_LEASE_H */
