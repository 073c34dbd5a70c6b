/*-------------------------------------------------------------------------
 *
 * inval.h
 *		Catalog invalidations for the extension's backend-local caches,
 *		through one relcache and one pg_namespace syscache callback.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_INVAL_H
#define RESILIENCE_INVAL_H

#include "postgres.h"

/*
 * A listener: relation relid changed, or, with InvalidOid, any relation may
 * have (a full reset, or a schema was renamed or dropped, which changes the
 * qualified names the caches' SQL holds).  It runs at arbitrary catalog
 * accesses and while errors unwind: it may only mark entries stale.
 */
typedef void (*InvalListener) (Oid relid);

/* Add fn, once per backend (the caller keeps its own "listening" flag). */
extern void inval_listen(InvalListener fn);

/*
 * Bumped by every invalidation the module receives, once any cache listens:
 * a cache that looks things up (after listening) reads it before and trusts
 * the result only if it is unchanged after, so neither an invalidation
 * during the lookups nor an error in them leaves a stale entry trusted.
 */
extern uint64 inval_generation;

#endif							/* RESILIENCE_INVAL_H */
