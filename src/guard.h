/*-------------------------------------------------------------------------
 *
 * guard.h
 *		Guards: named advisory locks in resilience's own lock space.
 *
 * Nothing outside guard.c takes guards; the SQL functions are the whole
 * interface (idempotency keys are guarded by their own rows, not by these
 * locks).  This header only fixes the lock space, which is also visible to
 * users through pg_locks and the view resilience.locks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_GUARD_H
#define RESILIENCE_GUARD_H

/*
 * locktag_field4 of every guard.  The built-in pg_advisory_* functions use
 * 1 (one bigint key) and 2 (two int4 keys), so guards never collide with an
 * application's own advisory locks.  pg_locks shows a guard as locktype
 * 'advisory', database = the current database, classid = high 32 bits of
 * the key, objid = low 32 bits, objsubid = this value (src/guard.sql's view
 * resilience.locks spells it as a literal).
 */
#define GUARD_LOCKTAG_FIELD4	29287

#endif							/* RESILIENCE_GUARD_H */
