/*-------------------------------------------------------------------------
 *
 * resilience.h
 *		Declarations shared by every part of the resilience extension.
 *
 * Each concern (backoff, keyset, guard, lease, retry, idempotency) lives in
 * its own src/<concern>.c with a header naming what other files may call.
 * This header only carries what the module entry point needs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_H
#define RESILIENCE_H

#include "postgres.h"

/* Version-portability shims (PostgreSQL 13 to 17). */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

extern void _PG_init(void);

#endif							/* RESILIENCE_H */
