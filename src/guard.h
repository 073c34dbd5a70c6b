/*-------------------------------------------------------------------------
 *
 * guard.h
 *		Named advisory locks ("guards") in resilience's own lock space.
 *
 * Other concerns (idempotency keys) lock keys through this API so that
 * every lock resilience takes shares one lock space, one key function and
 * one timeout behaviour.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_GUARD_H
#define RESILIENCE_GUARD_H

#include "postgres.h"

#include "storage/lock.h"

/*
 * locktag_field4 of every guard.  The built-in pg_advisory_* functions use
 * 1 (one bigint key) and 2 (two int4 keys), so guards never collide with an
 * application's own advisory locks.  pg_locks shows a guard as locktype
 * 'advisory', database = the current database, classid = high 32 bits of
 * the key, objid = low 32 bits, objsubid = this value.
 */
#define GUARD_LOCKTAG_FIELD4	29287

/* timeout_ms value meaning "no timeout of our own" (lock_timeout applies) */
#define GUARD_WAIT_DEFAULT		(-1)

/* lock_key(): first 8 bytes of SHA-256 of the UTF-8 bytes, big-endian. */
extern int64 guard_key_from_name(const char *name, int len);

/* Fill a LOCKTAG for key in the current database's guard space. */
extern void guard_set_locktag(LOCKTAG *tag, int64 key);

/*
 * Take a guard.  timeout_ms: 0 = do not wait, > 0 = wait at most that long
 * (instead of lock_timeout), GUARD_WAIT_DEFAULT = wait like any lock.
 * Returns false if it was not granted in time (nothing is left held or
 * queued); cancel, statement_timeout and deadlocks raise their own errors.
 * session = true takes a session-level lock, else it is released at the
 * end of the transaction.  When it has to wait it does so inside an
 * internal subtransaction (released on success, rolled back on timeout), so
 * call it where a PL/pgSQL EXCEPTION block could run; not in parallel mode.
 */
extern bool guard_acquire(int64 key, bool shared, bool session, int timeout_ms);

/*
 * As guard_acquire, but raises 55P03 naming the guard (name) and its
 * holders when it is not granted in time.
 */
extern void guard_lock(int64 key, const char *name, bool shared, bool session,
					   int timeout_ms);

/* Release one session-level hold; false (no warning) if none is held. */
extern bool guard_session_release(int64 key, bool shared);

#endif							/* RESILIENCE_GUARD_H */
