/*-------------------------------------------------------------------------
 *
 * inval.c
 *		Catalog invalidations fanned out to the extension's caches (plans
 *		over member tables, cursor keys, keyset specs).
 *
 * PostgreSQL keeps a fixed number of relcache callbacks per backend (10 in
 * PostgreSQL 15) for every loaded module together, and a backend that needs
 * one more fails with FATAL.  So the whole module registers one relcache
 * callback and one pg_namespace syscache callback, the first time any cache
 * listens, and calls each listener from them; a schema change reaches the
 * listeners as "any relation" (InvalidOid).
 *
 * Invariants: listeners are added, never removed, at most INVAL_MAX of
 * them (one per cache; more is a programming error); the callbacks only
 * count (inval_generation) and call listeners, which only mark entries
 * stale (see inval.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/inval.h"
#include "utils/syscache.h"

#include "inval.h"

#define INVAL_MAX	8

static InvalListener inval_listeners[INVAL_MAX];
static int	inval_count = 0;
static bool inval_registered = false;
uint64		inval_generation = 0;

/* Relcache callback: relid changed (InvalidOid: every relation). */
static void
inval_relcache(Datum arg, Oid relid)
{
	inval_generation++;
	for (int i = 0; i < inval_count; i++)
		inval_listeners[i] (relid);
}

/* Syscache callback on pg_namespace: a schema was renamed or dropped. */
static void
inval_namespace(Datum arg, int cacheid, uint32 hashvalue)
{
	inval_relcache(arg, InvalidOid);
}

void
inval_listen(InvalListener fn)
{
	if (inval_count >= INVAL_MAX)
		elog(ERROR, "too many resilience invalidation listeners");
	if (!inval_registered)
	{
		CacheRegisterRelcacheCallback(inval_relcache, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, inval_namespace, (Datum) 0);
		inval_registered = true;
	}
	inval_listeners[inval_count++] = fn;
}
