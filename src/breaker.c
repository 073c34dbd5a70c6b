/*-------------------------------------------------------------------------
 *
 * breaker.c
 *		Circuit breakers shared by every backend: breaker_allow,
 *		breaker_record, breaker_state, breaker_reset, breaker_force and the
 *		rows behind the view resilience.breakers.
 *
 * The state machine is Resilience4j's:
 *
 *	closed     every call is allowed; each breaker_record goes into a
 *	           sliding time window; once the window holds at least min_calls
 *	           calls (from every backend) and failures / calls >=
 *	           failure_rate, the breaker opens.
 *	open       no call is allowed until open_for has passed since it opened;
 *	           the first breaker_allow after that makes it half-open.
 *	half_open  exactly `probes` calls are allowed, counted across every
 *	           backend; when all of them have been recorded, failures /
 *	           probes >= failure_rate opens the breaker again, anything less
 *	           closes it with an empty window.  Probes that never report back
 *	           (their client died) are given up open_for after the round of
 *	           probes began, and a new round is admitted, so a breaker cannot
 *	           stay half-open for ever.
 *	forced_open, disabled
 *	           set by breaker_force only: nothing allowed, or everything
 *	           allowed and nothing recorded, until forced again or reset.
 *
 * A call is a failure when success is false, or when the breaker has a
 * slow_call threshold and duration >= slow_call.
 *
 * The window is BREAKER_BUCKETS buckets of window / BREAKER_BUCKETS each; a
 * bucket is reused when time moves past it, so the window slides in steps
 * of one bucket.  The settings are those of the latest breaker_allow; a
 * changed window empties the buckets.
 *
 * State: one BreakerEntry per (database, name) in breaker_table (shmem.c),
 * every field under the entry's spinlock, so breaker_allow's check and
 * count of probes is one atomic step for all backends.
 *
 * Eviction (resilience.max_breakers reached): 5% of the table at a time,
 * the closed breakers with no failure in their window used least recently
 * first (of any database: forgetting one changes nothing but its
 * settings), then, when there are not enough of those, the closed ones
 * with failures and after them the open and the half-open ones, used least
 * recently first, all of one database: the inserting one if it holds at
 * least its share of them, else the one holding the most
 * (shmem_evict_costly), so that a database filling the table pushes out
 * its own (and cannot keep another's failing service from ever opening its
 * breaker by forgetting its failures).  Forgetting an open breaker lets
 * calls through to a service known to be failing until min_calls of them
 * open it again, as after a restart; but keeping every
 * open breaker would let any role that may call breaker_allow fill the
 * table with breakers that never close (open_for is the caller's) and
 * refuse every new breaker of every database.  A forced-open or disabled
 * breaker (breaker_force, an operator's) is never dropped, or any role
 * could undo an operator's decision by filling the table: if every breaker
 * is forced open or disabled, creating one more fails with 53400.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "args.h"
#include "clock.h"
#include "resilience.h"
#include "shmem.h"
#include "stats.h"

#define BREAKER_BUCKETS 20

typedef enum BreakerState
{
	BREAKER_CLOSED,
	BREAKER_OPEN,
	BREAKER_HALF_OPEN,
	BREAKER_FORCED_OPEN,
	BREAKER_DISABLED
} BreakerState;

static const char *const breaker_state_names[] = {
	"closed", "open", "half_open", "forced_open", "disabled"
};

/* The settings breaker_allow passes. */
typedef struct BreakerConfig
{
	float4		failure_rate;
	double		failure_share;	/* failure_rate as the decimal written */
	int32		min_calls;
	int64		window_us;
	int64		open_for_us;
	int32		probes;
	int64		slow_call_us;	/* -1: duration does not count */
} BreakerConfig;

static const BreakerConfig breaker_defaults = {
	.failure_rate = 0.5,
	.failure_share = 0.5,
	.min_calls = 20,
	.window_us = 60 * USECS_PER_SEC,
	.open_for_us = 30 * USECS_PER_SEC,
	.probes = 1,
	.slow_call_us = -1,
};

typedef struct BreakerBucket
{
	int64		slot;			/* time / bucket width when last written */
	int64		calls;			/* a bucket of a long window sees many calls */
	int64		failures;
} BreakerBucket;

typedef struct BreakerEntry
{
	ShmemKey	key;
	slock_t		mutex;			/* guards everything below */
	BreakerConfig config;
	BreakerState state;
	TimestampTz opened_at;		/* open: when; else when it last opened */
	TimestampTz round_at;		/* half_open: when this round of probes began */
	int32		admitted;		/* half_open: probes allowed this round */
	int32		probe_calls;	/* half_open: probes recorded this round */
	int32		probe_failures;
	int64		times_opened;
	TimestampTz last_used;
	BreakerBucket buckets[BREAKER_BUCKETS];
} BreakerEntry;

static int	breaker_evict(HTAB *htab, int count, int max);

ShmemTable	breaker_table = {
	.name = "resilience breakers",
	.entrysize = sizeof(BreakerEntry),
	.max_entries = &shmem_max_breakers,
	.setting = "resilience.max_breakers",
	.evict = breaker_evict,
};

RESILIENCE_FUNCTION(breaker_allow);
RESILIENCE_FUNCTION(breaker_record);
RESILIENCE_FUNCTION(breaker_state);
RESILIENCE_FUNCTION(breaker_reset);
RESILIENCE_FUNCTION(breaker_force);
RESILIENCE_FUNCTION(breaker_list);

/* A positive interval argument in microseconds; 22023 otherwise. */
static int64
breaker_positive_interval(FunctionCallInfo fcinfo, int argno, const char *name)
{
	int64		us;

	args_not_null(fcinfo, argno, name);
	us = args_interval_usec(PG_GETARG_INTERVAL_P(argno), name);
	if (us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a positive interval", name),
				 errhint("Pass a duration such as '30 seconds'.")));
	return us;
}

/*
 * A failure_rate as the share it was written as: the real 0.1 is
 * 0.100000001, which 1 failure in 10 calls would not reach.  The shortest
 * decimal that reads back as the same real, as a double, is compared with
 * failures / calls (a correctly rounded division: the same double when the
 * two are equal).
 */
static double
breaker_share(float4 rate)
{
	char		buf[32];

	float_to_shortest_decimal_buf(rate, buf);
	return strtod(buf, NULL);
}

/* breaker_allow's arguments 1..6 as a config; 22004/22023 on bad ones. */
static void
breaker_read_config(FunctionCallInfo fcinfo, BreakerConfig *c)
{
	args_not_null(fcinfo, 1, "failure_rate");
	args_not_null(fcinfo, 2, "min_calls");
	args_not_null(fcinfo, 5, "probes");
	c->failure_rate = PG_GETARG_FLOAT4(1);
	c->min_calls = PG_GETARG_INT32(2);
	c->window_us = breaker_positive_interval(fcinfo, 3, "window");
	c->open_for_us = breaker_positive_interval(fcinfo, 4, "open_for");
	c->probes = PG_GETARG_INT32(5);
	c->slow_call_us = PG_ARGISNULL(6) ? -1 :
		breaker_positive_interval(fcinfo, 6, "slow_call");

	if (isnan(c->failure_rate) || c->failure_rate <= 0 || c->failure_rate > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("failure_rate must be in (0, 1], not %g", c->failure_rate),
				 errhint("Pass the share of failed calls that opens the breaker, for example 0.5.")));
	c->failure_share = breaker_share(c->failure_rate);
	if (c->min_calls < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_calls must be at least 1, not %d", c->min_calls),
				 errhint("Pass how many calls the window must hold before failures can open the breaker.")));
	if (c->probes < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("probes must be at least 1, not %d", c->probes),
				 errhint("Pass how many calls a half-open breaker lets through to test the service.")));
}

/* The bucket width of a window (at least 1 microsecond). */
static int64
breaker_bucket_us(int64 window_us)
{
	/* rounded up without window_us + BREAKER_BUCKETS - 1, which can overflow */
	return Max(window_us / BREAKER_BUCKETS + (window_us % BREAKER_BUCKETS != 0), 1);
}

/*
 * Whether at least us microseconds have passed from since to now.  Both are
 * valid timestamps, whose difference can exceed int64 when
 * resilience.clock_override moves the clock across the whole range: a
 * clock moved back has not passed anything.
 */
static bool
breaker_elapsed(TimestampTz now, TimestampTz since, int64 us)
{
	int64		d;

	if (now < since)
		return false;
	return pg_sub_s64_overflow(now, since, &d) || d >= us;
}

/* Empty the window. */
static void
breaker_clear_window(BreakerEntry *e)
{
	for (int i = 0; i < BREAKER_BUCKETS; i++)
	{
		e->buckets[i].slot = -1;
		e->buckets[i].calls = 0;
		e->buckets[i].failures = 0;
	}
}

/* Calls and failures in the window ending at now. */
static void
breaker_window(const BreakerEntry *e, TimestampTz now, int64 *calls,
			   int64 *failures)
{
	int64		slot = now / breaker_bucket_us(e->config.window_us);

	*calls = 0;
	*failures = 0;
	for (int i = 0; i < BREAKER_BUCKETS; i++)
	{
		const BreakerBucket *b = &e->buckets[i];

		if (b->slot > slot - BREAKER_BUCKETS && b->slot <= slot)
		{
			*calls += b->calls;
			*failures += b->failures;
		}
	}
}

/* A new entry in the closed state. */
static void
breaker_init_entry(BreakerEntry *e, const BreakerConfig *c, TimestampTz now)
{
	SpinLockInit(&e->mutex);
	e->config = *c;
	e->state = BREAKER_CLOSED;
	e->opened_at = 0;
	e->round_at = 0;
	e->admitted = 0;
	e->probe_calls = 0;
	e->probe_failures = 0;
	e->times_opened = 0;
	e->last_used = now;
	breaker_clear_window(e);
}

/* What a state counts as: forced_open as open, disabled as closed. */
static StatsBreakerState
breaker_state_class(BreakerState state)
{
	return state == BREAKER_OPEN || state == BREAKER_FORCED_OPEN ? STATS_BREAKER_OPEN :
		state == BREAKER_HALF_OPEN ? STATS_BREAKER_HALF_OPEN :
		STATS_BREAKER_CLOSED;
}

/*
 * Move to state (under the spinlock).  Only a change of what the state
 * counts as is counted (open to forced_open is not; closed to disabled is
 * not), in the stats and in times_opened.
 */
static void
breaker_set_state(BreakerEntry *e, BreakerState state, TimestampTz now)
{
	StatsBreakerState to = breaker_state_class(state);
	bool		changed = breaker_state_class(e->state) != to;

	if (changed)
		stats_breaker_state_change(to);
	e->state = state;
	e->admitted = 0;
	e->probe_calls = 0;
	e->probe_failures = 0;
	if (to == STATS_BREAKER_OPEN)
	{
		e->opened_at = now;
		if (changed)
			e->times_opened++;
	}
	if (state == BREAKER_HALF_OPEN)
		e->round_at = now;
	if (state == BREAKER_CLOSED)
		breaker_clear_window(e);
}

/* The entry of name (argument 0), created if missing. */
static BreakerEntry *
breaker_get(FunctionCallInfo fcinfo, const char *funcname,
			const BreakerConfig *config, TimestampTz now, LWLock **lock)
{
	ShmemKey	key;
	BreakerEntry *e;
	bool		found;

	shmem_key_from_arg(fcinfo, 0, "name", &key);
	shmem_require(&breaker_table, funcname);
	e = shmem_lookup(&breaker_table, &key, true, &found, lock);
	if (!found)
		breaker_init_entry(e, config, now);
	return e;
}

/* breaker_allow(name, failure_rate, min_calls, window, open_for, probes, slow_call) */
Datum
breaker_allow(PG_FUNCTION_ARGS)
{
	BreakerConfig config;
	BreakerEntry *e;
	LWLock	   *lock;
	TimestampTz now;
	bool		allowed = false;

	breaker_read_config(fcinfo, &config);
	now = clock_now();
	e = breaker_get(fcinfo, "breaker_allow", &config, now, &lock);

	SpinLockAcquire(&e->mutex);
	if (e->config.window_us != config.window_us)
		breaker_clear_window(e);
	e->config = config;
	e->last_used = now;
	switch (e->state)
	{
		case BREAKER_CLOSED:
		case BREAKER_DISABLED:
			allowed = true;
			break;
		case BREAKER_FORCED_OPEN:
			allowed = false;
			break;
		case BREAKER_OPEN:
			if (!breaker_elapsed(now, e->opened_at, config.open_for_us))
			{
				allowed = false;
				break;
			}
			breaker_set_state(e, BREAKER_HALF_OPEN, now);
			/* FALLTHROUGH */
		case BREAKER_HALF_OPEN:
			if (e->admitted >= config.probes &&
				breaker_elapsed(now, e->round_at, config.open_for_us))
			{
				/* the probes never reported back: a new round */
				breaker_set_state(e, BREAKER_HALF_OPEN, now);
			}
			if (e->admitted < config.probes)
			{
				e->admitted++;
				allowed = true;
			}
			break;
	}
	SpinLockRelease(&e->mutex);
	LWLockRelease(lock);
	stats_breaker_decision(allowed);
	PG_RETURN_BOOL(allowed);
}

/* breaker_record(name, success, duration) */
Datum
breaker_record(PG_FUNCTION_ARGS)
{
	BreakerEntry *e;
	LWLock	   *lock;
	TimestampTz now;
	bool		success;
	int64		duration_us = -1;
	bool		failure;

	args_not_null(fcinfo, 1, "success");
	success = PG_GETARG_BOOL(1);
	if (!PG_ARGISNULL(2))
	{
		duration_us = args_interval_usec(PG_GETARG_INTERVAL_P(2), "duration");
		if (duration_us < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("duration must not be negative"),
					 errhint("Pass how long the call took, or NULL.")));
	}
	now = clock_now();
	e = breaker_get(fcinfo, "breaker_record", &breaker_defaults, now, &lock);

	SpinLockAcquire(&e->mutex);
	failure = !success ||
		(e->config.slow_call_us >= 0 && duration_us >= e->config.slow_call_us);
	e->last_used = now;
	switch (e->state)
	{
		case BREAKER_CLOSED:
			{
				int64		width = breaker_bucket_us(e->config.window_us);
				int64		slot = now / width;
				/* before 2000 (a test clock) slot is negative, and so is C's % */
				int			idx = (int) (slot % BREAKER_BUCKETS);
				BreakerBucket *b = &e->buckets[idx < 0 ? idx + BREAKER_BUCKETS : idx];
				int64		calls;
				int64		failures;

				if (b->slot != slot)
				{
					b->slot = slot;
					b->calls = 0;
					b->failures = 0;
				}
				b->calls++;
				if (failure)
					b->failures++;
				breaker_window(e, now, &calls, &failures);
				if (calls >= e->config.min_calls &&
					(double) failures / calls >= e->config.failure_share)
				{
					breaker_set_state(e, BREAKER_OPEN, now);
					breaker_clear_window(e);
				}
				break;
			}
		case BREAKER_HALF_OPEN:
			/* only as many results as probes were admitted */
			if (e->probe_calls >= e->admitted)
				break;
			e->probe_calls++;
			if (failure)
				e->probe_failures++;
			if (e->probe_calls >= e->config.probes)
			{
				if ((double) e->probe_failures / e->probe_calls >=
					e->config.failure_share)
					breaker_set_state(e, BREAKER_OPEN, now);
				else
					breaker_set_state(e, BREAKER_CLOSED, now);
			}
			break;
		case BREAKER_OPEN:
		case BREAKER_FORCED_OPEN:
		case BREAKER_DISABLED:
			/* a late result from before it opened, or not counted */
			break;
	}
	SpinLockRelease(&e->mutex);
	LWLockRelease(lock);
	PG_RETURN_VOID();
}

/* breaker_state(name) -> closed, open, half_open, forced_open or disabled */
Datum
breaker_state(PG_FUNCTION_ARGS)
{
	ShmemKey	key;
	BreakerEntry *e;
	LWLock	   *lock;
	bool		found;
	BreakerState state = BREAKER_CLOSED;

	shmem_key_from_arg(fcinfo, 0, "name", &key);
	shmem_require(&breaker_table, "breaker_state");
	e = shmem_lookup(&breaker_table, &key, false, &found, &lock);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		state = e->state;
		SpinLockRelease(&e->mutex);
		LWLockRelease(lock);
	}
	PG_RETURN_TEXT_P(cstring_to_text(breaker_state_names[state]));
}

/* breaker_reset(name) -> whether it was known; it is closed and empty now */
Datum
breaker_reset(PG_FUNCTION_ARGS)
{
	ShmemKey	key;

	shmem_key_from_arg(fcinfo, 0, "name", &key);
	shmem_require(&breaker_table, "breaker_reset");
	PG_RETURN_BOOL(shmem_remove(&breaker_table, &key));
}

/* breaker_force(name, state) */
Datum
breaker_force(PG_FUNCTION_ARGS)
{
	BreakerEntry *e;
	LWLock	   *lock;
	TimestampTz now;
	char	   *name;
	int			state = -1;

	args_not_null(fcinfo, 1, "state");
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	for (int i = 0; i < (int) lengthof(breaker_state_names); i++)
		if (strcmp(name, breaker_state_names[i]) == 0)
			state = i;
	if (state < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown breaker state \"%s\"", name),
				 errhint("Pass closed, open, half_open, forced_open or disabled.")));
	now = clock_now();
	e = breaker_get(fcinfo, "breaker_force", &breaker_defaults, now, &lock);
	SpinLockAcquire(&e->mutex);
	e->last_used = now;
	breaker_set_state(e, (BreakerState) state, now);
	if (state == BREAKER_OPEN || state == BREAKER_FORCED_OPEN)
		breaker_clear_window(e);
	SpinLockRelease(&e->mutex);
	LWLockRelease(lock);
	PG_RETURN_VOID();
}

/* interval Datum of microseconds */
static Datum
breaker_interval(int64 us)
{
	Interval   *iv = (Interval *) palloc0(sizeof(Interval));

	iv->time = us;
	return IntervalPGetDatum(iv);
}

/* breaker_list(): the rows of resilience.breakers, this database's */
Datum
breaker_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	BreakerEntry *e;
	BreakerEntry *copy;
	int			n = 0;
	int			cap;
	TimestampTz now;

	shmem_require(&breaker_table, "breaker_list");
	InitMaterializedSRF(fcinfo, 0);
	now = clock_now();

	/* holding every partition lock keeps the count still */
	shmem_lock_all(&breaker_table, LW_SHARED);
	cap = (int) pg_atomic_read_u32(&breaker_table.header->count);
	copy = palloc_extended(sizeof(BreakerEntry) * Max(cap, 1), MCXT_ALLOC_HUGE);
	hash_seq_init(&seq, breaker_table.htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId || n >= cap)
			continue;
		SpinLockAcquire(&e->mutex);
		copy[n++] = *e;
		SpinLockRelease(&e->mutex);
	}
	shmem_unlock_all(&breaker_table);

	for (int i = 0; i < n; i++)
	{
		BreakerEntry *c = &copy[i];
		Datum		values[16];
		bool		nulls[16] = {0};
		int64		calls;
		int64		failures;
		TimestampTz next_probe;

		breaker_window(c, now, &calls, &failures);
		values[0] = CStringGetTextDatum(c->key.name);
		values[1] = CStringGetTextDatum(breaker_state_names[c->state]);
		values[2] = Int64GetDatum(calls);
		values[3] = Int64GetDatum(failures);
		if (calls > 0)
			values[4] = Float4GetDatum((float4) failures / calls);
		else
			nulls[4] = true;
		values[5] = TimestampTzGetDatum(c->opened_at);
		nulls[5] = c->opened_at == 0;
		/* a huge open_for may point past the last valid timestamp */
		if (c->state != BREAKER_OPEN ||
			pg_add_s64_overflow(c->opened_at, c->config.open_for_us, &next_probe) ||
			!IS_VALID_TIMESTAMP(next_probe))
			nulls[6] = true;
		else
			values[6] = TimestampTzGetDatum(next_probe);
		values[7] = Int32GetDatum(c->admitted);
		values[8] = Int64GetDatum(c->times_opened);
		values[9] = TimestampTzGetDatum(c->last_used);
		values[10] = Float4GetDatum(c->config.failure_rate);
		values[11] = Int32GetDatum(c->config.min_calls);
		values[12] = breaker_interval(c->config.window_us);
		values[13] = breaker_interval(c->config.open_for_us);
		values[14] = Int32GetDatum(c->config.probes);
		values[15] = breaker_interval(c->config.slow_call_us);
		nulls[15] = c->config.slow_call_us < 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * qsort: closed before open and half-open (among the breakers that are
 * not free to drop: a closed one counting failures is cheaper to forget
 * than one known to be failing), then least recently used first.
 */
static int
breaker_cmp_used(const void *a, const void *b)
{
	const BreakerEntry *ea = *(BreakerEntry *const *) a;
	const BreakerEntry *eb = *(BreakerEntry *const *) b;
	int			ta = ea->state != BREAKER_CLOSED;
	int			tb = eb->state != BREAKER_CLOSED;

	if (ta != tb)
		return ta - tb;
	return (ea->last_used > eb->last_used) - (ea->last_used < eb->last_used);
}

/*
 * Eviction rule (see the file header).  Whether a closed breaker has
 * failures in its window is judged by the real clock, as limit.c judges
 * keys at rest: a session's clock_override must not make another
 * database's windows look empty.
 */
static int
breaker_evict(HTAB *htab, int count, int max)
{
	HASH_SEQ_STATUS seq;
	BreakerEntry **all;
	Oid		   *dbs;
	BreakerEntry *e;
	TimestampTz now = GetCurrentTimestamp();
	int			nfree = 0;
	int			ncostly = 0;
	int			want = Max(max / 20, 1);
	int			removed;

	/* free ones from the start of all, the others from its end */
	all = palloc_extended(sizeof(BreakerEntry *) * count, MCXT_ALLOC_HUGE);
	dbs = palloc_extended(sizeof(Oid) * count, MCXT_ALLOC_HUGE);
	hash_seq_init(&seq, htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		int64		calls;
		int64		failures = 0;

		/* an operator's states stay (a dropped one would come back closed) */
		if (nfree + ncostly >= count || e->state == BREAKER_FORCED_OPEN ||
			e->state == BREAKER_DISABLED)
			continue;
		if (e->state == BREAKER_CLOSED)
			breaker_window(e, now, &calls, &failures);
		if (e->state == BREAKER_CLOSED && failures == 0)
			all[nfree++] = e;
		else
			all[count - ++ncostly] = e;
	}
	qsort(all, nfree, sizeof(BreakerEntry *), breaker_cmp_used);
	qsort(all + count - ncostly, ncostly, sizeof(BreakerEntry *), breaker_cmp_used);
	/* closed ones with no failure in their window, of any database */
	for (removed = 0; removed < nfree && removed < want; removed++)
		hash_search(htab, &all[removed]->key, HASH_REMOVE, NULL);
	/* then the others of the database over its share */
	removed += shmem_evict_costly(htab, (void **) (all + count - ncostly), ncostly,
								  want - removed, dbs);
	pfree(dbs);
	pfree(all);
	return removed;
}
