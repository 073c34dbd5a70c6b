/*-------------------------------------------------------------------------
 *
 * guard.c
 *		Named advisory locks ("guards"): lock_key, lock, try_lock,
 *		lock_many and the session_* variants.
 *
 * A guard's key is the first 8 bytes of SHA-256 of its name's UTF-8 bytes,
 * read big-endian as a signed bigint, so any client can compute it and two
 * names collide with probability ~2^-64 (hashtext's 32 bits collide after
 * ~77000 names with 50% probability).  The lock tag is an advisory tag
 * with locktag_field4 = GUARD_LOCKTAG_FIELD4, a value the built-in
 * pg_advisory_* functions never use, so guards cannot collide with an
 * application's own advisory locks yet still show up in pg_locks.
 *
 * Waiting always happens in the lock manager (ProcSleep), never in a
 * polling loop: a bounded wait sets the LockTimeout variable for the one
 * LockAcquireExtended call and restores it on every path, so the session's
 * lock_timeout is left exactly as it was.  The wait runs in an internal
 * subtransaction: if it times out, the subtransaction is rolled back (the
 * only sound way to carry on after an error thrown from ProcSleep) and the
 * caller gets false, or our own 55P03 naming the guard and its holders.
 * Every other error (cancel, statement_timeout, deadlock) is re-thrown as
 * it was.  The uncontended path is a single conditional LockAcquire with no
 * subtransaction.
 *
 * Session-level holds are counted per (key, mode) in a backend-local hash,
 * so session_unlock can answer false without the lock manager's WARNING and
 * session_unlock_all releases guards only, never the application's own
 * advisory locks (pg_advisory_unlock_all releases everything in the user
 * lock method, guards included).  The counts can only overstate what is
 * held (after pg_advisory_unlock_all or DISCARD ALL), so every release
 * first checks LockHeldByMe.
 *
 * Vocabulary.  In SQL names and in messages, what a caller takes is a lock
 * (lock, try_lock, lock_many, session_lock, lock_key, lock_holders, the view
 * resilience.locks; "could not acquire lock", "lock name must not be
 * empty").  "Guard" names the capability: this file, the C prefix guard_,
 * docs/guards.md, and in prose a lock in resilience's own lock space as
 * opposed to the application's advisory locks.  Never "guard" in a message.
 *
 * C entry points are named <file prefix>_<SQL name>, the prefix not
 * repeated when the SQL name starts with it (guard_lock_key for lock_key,
 * backoff_delay for backoff_delay).  The 1.0 install script binds four
 * older names that keep working that way: guard_xact_lock (lock),
 * guard_try_xact_lock (try_lock), idempotency_run (idempotent) and
 * cursor_rotate_key (rotate_cursor_key); renaming them would mean exporting
 * both names, since 1.0 must stay installable with the current library.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "args.h"
#include "guard.h"
#include "resilience.h"
#include "sha256.h"
#include "stats.h"
#include "subxact.h"

#if PG_VERSION_NUM >= 170000
#define guard_held_by_me(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define guard_held_by_me(tag, mode) LockHeldByMe((tag), (mode))
#endif

/* LockAcquireExtended without a locallock pointer; 18 added logLockFailure */
#if PG_VERSION_NUM >= 180000
#define guard_lock_acquire(tag, mode, session, dontWait) \
	LockAcquireExtended((tag), (mode), (session), (dontWait), true, NULL, false)
#else
#define guard_lock_acquire(tag, mode, session, dontWait) \
	LockAcquireExtended((tag), (mode), (session), (dontWait), true, NULL)
#endif

/* timeout_ms value meaning "no timeout of our own" (lock_timeout applies) */
#define GUARD_WAIT_DEFAULT		(-1)

RESILIENCE_FUNCTION(guard_lock_key);
RESILIENCE_FUNCTION(guard_xact_lock);
RESILIENCE_FUNCTION(guard_try_xact_lock);
RESILIENCE_FUNCTION(guard_lock_many);
RESILIENCE_FUNCTION(guard_session_lock);
RESILIENCE_FUNCTION(guard_try_session_lock);
RESILIENCE_FUNCTION(guard_session_unlock);
RESILIENCE_FUNCTION(guard_session_unlock_all);

/* one session-level hold count per (key, mode) */
typedef struct GuardSessionKey
{
	int64		key;
	LOCKMODE	mode;
} GuardSessionKey;

typedef struct GuardSessionEntry
{
	GuardSessionKey id;			/* hash key, must be first */
	int64		count;			/* session-level holds we took */
} GuardSessionEntry;

static HTAB *guard_session_holds = NULL;

/*
 * The first 8 bytes of SHA-256(data), big-endian.
 *
 * Computed with sha256.c rather than pg_cryptohash: with OpenSSL that
 * allocates a digest context and registers it with the resource owner on
 * every call, which costs more than the rest of taking a guard.  The
 * regression suite checks it against the server's sha256() over many names
 * and lengths.
 */
static uint64
guard_sha256_prefix(const uint8 *data, size_t len)
{
	uint8		digest[SHA256_DIGEST_LEN];
	uint64		key = 0;

	sha256(data, len, digest);
	for (int i = 0; i < 8; i++)
		key = (key << 8) | digest[i];
	return key;
}

/* lock_key(): SHA-256 prefix of a name's UTF-8 bytes, as a signed bigint. */
static int64
guard_key_from_name(const char *name, int len)
{
	const char *utf8 = name;
	uint64		key;

	/* the key is defined on UTF-8 bytes, whatever the server encoding */
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		utf8 = pg_server_to_any(name, len, PG_UTF8);
		if (utf8 != name)
			len = strlen(utf8);
	}
	key = guard_sha256_prefix((const uint8 *) utf8, len);
	if (utf8 != name)
		pfree((char *) utf8);
	return (int64) key;
}

/* The lock tag of a guard in the current database. */
static void
guard_set_locktag(LOCKTAG *tag, int64 key)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId,
						 (uint32) ((uint64) key >> 32),
						 (uint32) ((uint64) key & 0xFFFFFFFF),
						 GUARD_LOCKTAG_FIELD4);
}

/* Advisory locks cannot be shared with parallel workers. */
static void
guard_check_parallel(void)
{
	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot take a lock during a parallel operation")));
}

/* The session hold count of (key, mode); created on demand. */
static GuardSessionEntry *
guard_session_entry(int64 key, LOCKMODE mode, bool create)
{
	GuardSessionKey id;
	bool		found;
	GuardSessionEntry *entry;

	if (guard_session_holds == NULL)
	{
		HASHCTL		ctl;

		if (!create)
			return NULL;
		ctl.keysize = sizeof(GuardSessionKey);
		ctl.entrysize = sizeof(GuardSessionEntry);
		ctl.hcxt = TopMemoryContext;
		guard_session_holds = hash_create("resilience guard session holds", 16,
										  &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&id, 0, sizeof(id));
	id.key = key;
	id.mode = mode;
	entry = (GuardSessionEntry *) hash_search(guard_session_holds, &id,
											  create ? HASH_ENTER : HASH_FIND,
											  &found);
	if (create && !found)
		entry->count = 0;
	return entry;
}

/*
 * The conditional acquisition of the uncontended path; a full lock table
 * (53200 from the lock manager) is counted for the monitoring views.
 */
static LockAcquireResult
guard_try_acquire(const LOCKTAG *tag, LOCKMODE mode, bool session)
{
	LockAcquireResult res;

	PG_TRY();
	{
		res = guard_lock_acquire(tag, mode, session, true);
	}
	PG_CATCH();
	{
		if (geterrcode() == ERRCODE_OUT_OF_MEMORY)
			stats_guard_lock_table_full();
		PG_RE_THROW();
	}
	PG_END_TRY();
	return res;
}

/* What guard_wait does inside its subtransaction. */
typedef struct GuardWait
{
	const LOCKTAG *tag;
	LOCKMODE	mode;
	bool		session;
	int			timeout_ms;
} GuardWait;

static void
guard_wait_work(void *arg)
{
	GuardWait  *w = (GuardWait *) arg;

	if (w->timeout_ms != GUARD_WAIT_DEFAULT)
		LockTimeout = w->timeout_ms;
	(void) guard_lock_acquire(w->tag, w->mode, w->session, false);
}

/*
 * Wait for a lock in the lock manager, inside a subtransaction so that a
 * lock timeout can be survived.  true if granted, false on a lock timeout;
 * other errors propagate unchanged.  An xact-scope lock moves to the
 * caller's resource owner when the subtransaction is released.
 */
static bool
guard_wait(const LOCKTAG *tag, LOCKMODE mode, bool session, int timeout_ms)
{
	GuardWait	w = {tag, mode, session, timeout_ms};
	int			saved_lock_timeout = LockTimeout;
	ErrorData  *edata;

	edata = subxact_run(guard_wait_work, &w, CurrentMemoryContext);
	LockTimeout = saved_lock_timeout;
	if (edata == NULL)
		return true;
	if (edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
		stats_guard_lock_table_full();
	if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		ReThrowError(edata);
	FreeErrorData(edata);
	return false;
}

/*
 * Take a guard; false if it was not granted in time (nothing is left held
 * or queued).  timeout_ms: 0 = do not wait, > 0 = wait at most that long
 * (instead of lock_timeout), GUARD_WAIT_DEFAULT = wait like any lock;
 * cancel, statement_timeout and deadlocks raise their own errors.  session
 * takes a session-level lock, else it goes at the end of the transaction.
 * A wait runs in an internal subtransaction, so call it only where a
 * PL/pgSQL EXCEPTION block could run; never in parallel mode.  name (len
 * bytes) is what the monitoring counters file the attempt under.
 */
static bool
guard_acquire(int64 key, bool shared, bool session, int timeout_ms,
			  const char *name, int len)
{
	LOCKTAG		tag;
	LOCKMODE	mode = shared ? ShareLock : ExclusiveLock;
	GuardSessionEntry *entry;
	volatile bool granted = true;
	volatile TimestampTz waited = 0;	/* when the wait began, if any */

	Assert(timeout_ms >= 0 || timeout_ms == GUARD_WAIT_DEFAULT);
	guard_check_parallel();
	guard_set_locktag(&tag, key);

	/* make room for the count first: nothing may fail once it is held */
	if (!session)
	{
		if (guard_try_acquire(&tag, mode, false) == LOCKACQUIRE_NOT_AVAIL)
		{
			if (timeout_ms == 0)
				granted = false;
			else
			{
				waited = GetCurrentTimestamp();
				granted = guard_wait(&tag, mode, false, timeout_ms);
			}
		}
		stats_guard_acquire(name, len, false, shared, waited != 0,
							waited != 0 ? GetCurrentTimestamp() - waited : 0, granted);
		return granted;
	}

	entry = guard_session_entry(key, mode, true);
	PG_TRY();
	{
		if (guard_try_acquire(&tag, mode, true) == LOCKACQUIRE_NOT_AVAIL)
		{
			if (timeout_ms == 0)
				granted = false;
			else
			{
				waited = GetCurrentTimestamp();
				granted = guard_wait(&tag, mode, true, timeout_ms);
			}
		}
	}
	PG_CATCH();
	{
		/* a cancel during the wait: forget an entry made for nothing */
		if (entry->count == 0)
			hash_search(guard_session_holds, &entry->id, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (granted)
		entry->count++;
	else if (entry->count == 0)
		hash_search(guard_session_holds, &entry->id, HASH_REMOVE, NULL);
	stats_guard_acquire(name, len, true, shared, waited != 0,
						waited != 0 ? GetCurrentTimestamp() - waited : 0, granted);
	return granted;
}

/* Who is in the way of mode on tag, as "process 123, process 456", or NULL. */
static char *
guard_blockers(const LOCKTAG *tag, LOCKMODE mode, bool *waiters)
{
	LockData   *data = GetLockStatusData();
	LOCKMASK	conflicts = GetLockTagsMethodTable(tag)->conflictTab[mode];
	StringInfoData buf;
	int			n = 0;

	initStringInfo(&buf);
	/* holders first; if none conflicts, whoever queued ahead of us */
	for (int pass = 0; pass < 2 && n == 0; pass++)
	{
		*waiters = (pass == 1);
		for (int i = 0; i < data->nelements; i++)
		{
			LockInstanceData *inst = &data->locks[i];

			if (memcmp(&inst->locktag, tag, sizeof(LOCKTAG)) != 0 ||
				inst->pid == MyProcPid)
				continue;
			if (pass == 0 ? (inst->holdMask & conflicts) == 0 :
				(inst->waitLockMode == NoLock ||
				 (LOCKBIT_ON(inst->waitLockMode) & conflicts) == 0))
				continue;
			if (n > 0)
				appendStringInfoString(&buf, ", ");
			/* a prepared transaction holds locks without a process */
			if (inst->pid == 0)
				appendStringInfoString(&buf, "a prepared transaction");
			else
				appendStringInfo(&buf, "process %d", inst->pid);
			n++;
		}
	}
	return n > 0 ? buf.data : NULL;
}

/* Raise 55P03 for a guard not granted within timeout_ms. */
static void
guard_report_unavailable(int64 key, const char *name, bool shared,
						 int timeout_ms)
{
	LOCKTAG		tag;
	char	   *blockers;
	bool		waiters;
	char		waited[64];

	guard_set_locktag(&tag, key);
	blockers = guard_blockers(&tag, shared ? ShareLock : ExclusiveLock, &waiters);
	if (timeout_ms == 0)
		waited[0] = '\0';
	else if (timeout_ms == GUARD_WAIT_DEFAULT)
		snprintf(waited, sizeof(waited), "Gave up after lock_timeout (%d ms). ", LockTimeout);
	else
		snprintf(waited, sizeof(waited), "Gave up after %d ms. ", timeout_ms);

	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not acquire lock \"%s\"", name),
			 blockers == NULL ?
			 errdetail("%sIts holders released it as the wait ended.", waited) :
			 waiters ?
			 errdetail("%sWaiting ahead of this session: %s.", waited, blockers) :
			 errdetail("%sHeld by %s.", waited, blockers),
			 errhint("resilience.lock_holders() and the view resilience.locks show who holds it (key " INT64_FORMAT ").",
					 key)));
}

/* Release one session-level hold of a guard; false if none is held. */
static bool
guard_session_release(int64 key, bool shared)
{
	LOCKTAG		tag;
	LOCKMODE	mode = shared ? ShareLock : ExclusiveLock;
	GuardSessionEntry *entry = guard_session_entry(key, mode, false);

	if (entry == NULL || entry->count <= 0)
		return false;
	guard_set_locktag(&tag, key);
	/* pg_advisory_unlock_all or DISCARD ALL may have released it */
	if (!guard_held_by_me(&tag, mode))
	{
		hash_search(guard_session_holds, &entry->id, HASH_REMOVE, NULL);
		return false;
	}
	if (!LockRelease(&tag, mode, true))
		return false;
	if (--entry->count == 0)
		hash_search(guard_session_holds, &entry->id, HASH_REMOVE, NULL);
	return true;
}

/* A guard name argument: not NULL, not empty. */
static text *
guard_name_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *name;

	args_not_null(fcinfo, argno, "name");
	name = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(name) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lock name must not be empty")));
	return name;
}

/* The shared argument: not NULL. */
static bool
guard_shared_arg(FunctionCallInfo fcinfo, int argno)
{
	args_not_null_hint(fcinfo, argno, "shared",
					   "Pass true for a shared lock, false for an exclusive one.");
	return PG_GETARG_BOOL(argno);
}

/* A timeout argument in ms: NULL = GUARD_WAIT_DEFAULT, rounded up. */
static int
guard_timeout_arg(FunctionCallInfo fcinfo, int argno)
{
	int64		us;
	int64		ms;

	if (PG_ARGISNULL(argno))
		return GUARD_WAIT_DEFAULT;
	us = args_interval_usec(PG_GETARG_INTERVAL_P(argno), "timeout");
	if (us < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative"),
				 errhint("Use 0 not to wait, or NULL to wait like any lock.")));
	ms = us / 1000 + (us % 1000 != 0);
	if (ms > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be less than %d milliseconds", INT_MAX),
				 errhint("Use NULL to wait without a timeout of its own.")));
	return (int) ms;
}

/* The key of a text name. */
static int64
guard_text_key(text *name)
{
	return guard_key_from_name(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name));
}

/* lock_key(name text) RETURNS bigint */
Datum
guard_lock_key(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(guard_text_key(PG_GETARG_TEXT_PP(0)));
}

/* Shared body of lock and session_lock. */
static Datum
guard_lock_common(FunctionCallInfo fcinfo, bool session)
{
	text	   *name = guard_name_arg(fcinfo, 0);
	int			timeout_ms = guard_timeout_arg(fcinfo, 1);
	bool		shared = guard_shared_arg(fcinfo, 2);

	int64		key = guard_text_key(name);

	/* the name is only needed as a C string for the error */
	if (!guard_acquire(key, shared, session, timeout_ms,
					   VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name)))
		guard_report_unavailable(key, text_to_cstring(name), shared, timeout_ms);
	PG_RETURN_VOID();
}

/* Shared body of try_lock and try_session_lock. */
static Datum
guard_try_common(FunctionCallInfo fcinfo, bool session)
{
	text	   *name = guard_name_arg(fcinfo, 0);
	int			timeout_ms = guard_timeout_arg(fcinfo, 1);
	bool		shared = guard_shared_arg(fcinfo, 2);

	PG_RETURN_BOOL(guard_acquire(guard_text_key(name), shared, session,
								 timeout_ms, VARDATA_ANY(name),
								 VARSIZE_ANY_EXHDR(name)));
}

/* lock(name text, timeout interval, shared boolean) RETURNS void */
Datum
guard_xact_lock(PG_FUNCTION_ARGS)
{
	return guard_lock_common(fcinfo, false);
}

/* try_lock(name text, timeout interval, shared boolean) RETURNS boolean */
Datum
guard_try_xact_lock(PG_FUNCTION_ARGS)
{
	return guard_try_common(fcinfo, false);
}

/* session_lock(name text, timeout interval, shared boolean) RETURNS void */
Datum
guard_session_lock(PG_FUNCTION_ARGS)
{
	return guard_lock_common(fcinfo, true);
}

/* try_session_lock(name text, timeout interval, shared boolean) RETURNS boolean */
Datum
guard_try_session_lock(PG_FUNCTION_ARGS)
{
	return guard_try_common(fcinfo, true);
}

/* session_unlock(name text, shared boolean) RETURNS boolean */
Datum
guard_session_unlock(PG_FUNCTION_ARGS)
{
	text	   *name = guard_name_arg(fcinfo, 0);
	bool		shared = guard_shared_arg(fcinfo, 1);

	PG_RETURN_BOOL(guard_session_release(guard_text_key(name), shared));
}

/* session_unlock_all() RETURNS void: every session-level guard we hold */
Datum
guard_session_unlock_all(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS status;
	GuardSessionEntry *entry;

	if (guard_session_holds == NULL)
		PG_RETURN_VOID();

	hash_seq_init(&status, guard_session_holds);
	while ((entry = (GuardSessionEntry *) hash_seq_search(&status)) != NULL)
	{
		LOCKTAG		tag;

		guard_set_locktag(&tag, entry->id.key);
		while (entry->count > 0 && guard_held_by_me(&tag, entry->id.mode) &&
			   LockRelease(&tag, entry->id.mode, true))
			entry->count--;
		/* removing the entry just returned is allowed during a scan */
		hash_search(guard_session_holds, &entry->id, HASH_REMOVE, NULL);
	}
	PG_RETURN_VOID();
}

/* one name of a lock_many call, sortable by key */
typedef struct GuardManyItem
{
	int64		key;
	text	   *name;
} GuardManyItem;

/* qsort comparator: by key */
static int
guard_many_cmp(const void *a, const void *b)
{
	int64		ka = ((const GuardManyItem *) a)->key;
	int64		kb = ((const GuardManyItem *) b)->key;

	return (ka > kb) - (ka < kb);
}

/*
 * lock_many(names text[], timeout interval, shared boolean) RETURNS void
 *
 * Takes the guards in ascending key order, each once, so that callers
 * naming the same guards in any order never deadlock.  timeout bounds the
 * whole call.  On failure the error aborts the (sub)transaction, which
 * releases every guard this call took.
 */
Datum
guard_lock_many(PG_FUNCTION_ARGS)
{
	ArrayType  *names;
	int			timeout_ms = guard_timeout_arg(fcinfo, 1);
	bool		shared = guard_shared_arg(fcinfo, 2);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			n = 0;
	GuardManyItem *items;
	TimestampTz start = 0;

	args_not_null(fcinfo, 0, "names");
	names = PG_GETARG_ARRAYTYPE_P(0);
	/* any shape is accepted (elements in storage order), as in 1.0 */
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);

	items = palloc(sizeof(GuardManyItem) * Max(nelems, 1));
	for (int i = 0; i < nelems; i++)
	{
		text	   *name;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("lock name must not be null"),
					 errdetail("Element %d of the array is null.", i + 1)));
		name = DatumGetTextPP(elems[i]);
		if (VARSIZE_ANY_EXHDR(name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lock name must not be empty"),
					 errdetail("Element %d of the array is empty.", i + 1)));
		items[i].key = guard_text_key(name);
		items[i].name = name;
	}

	/* canonical order, duplicates (same key) taken once */
	if (nelems > 1)
		qsort(items, nelems, sizeof(GuardManyItem), guard_many_cmp);
	for (int i = 0; i < nelems; i++)
	{
		if (n == 0 || items[i].key != items[n - 1].key)
			items[n++] = items[i];
	}

	if (timeout_ms > 0)
		start = GetCurrentTimestamp();
	for (int i = 0; i < n; i++)
	{
		int			left = timeout_ms;

		if (timeout_ms > 0)
		{
			long		secs;
			int			usecs;
			int64		spent_ms;

			TimestampDifference(start, GetCurrentTimestamp(), &secs, &usecs);
			spent_ms = (int64) secs * 1000 + usecs / 1000;
			/* out of time: the rest may still be free, so do not wait */
			left = spent_ms >= timeout_ms ? 0 : (int) (timeout_ms - spent_ms);
		}
		if (!guard_acquire(items[i].key, shared, false, left,
						   VARDATA_ANY(items[i].name),
						   VARSIZE_ANY_EXHDR(items[i].name)))
			guard_report_unavailable(items[i].key, text_to_cstring(items[i].name),
									 shared, timeout_ms);
	}
	PG_RETURN_VOID();
}
