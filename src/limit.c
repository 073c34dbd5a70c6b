/*-------------------------------------------------------------------------
 *
 * limit.c
 *		Rate limits shared by every backend: rate_limit, rate_limit_reset
 *		and the rows behind the view resilience.rate_limits.
 *
 * The algorithm is GCRA as redis-cell's CL.THROTTLE implements it, in
 * integer nanoseconds.  For a key with theoretical arrival time TAT (a key
 * never seen, or evicted, has TAT <= now):
 *
 *		T         = per / rate                  emission interval
 *		tau       = T * burst                   delay variation tolerance
 *		new_tat   = max(TAT, now) + T * cost
 *		allow_at  = new_tat - tau
 *		allowed   = now >= allow_at             (then TAT := new_tat)
 *		ttl       = allowed ? new_tat - now : TAT - now
 *		remaining = floor((tau - ttl) / T), 0 if that is below 0
 *		retry_after = allowed ? 0 : allow_at - now
 *		reset_after = ttl
 *
 * burst is redis-cell's "limit" (its max_burst + 1): the number of calls of
 * cost 1 a key at rest allows at once.  A denied call leaves TAT as it was,
 * so it consumes nothing.  Intervals are returned rounded up to the
 * microsecond, so waiting retry_after always suffices.
 *
 * State: one LimitEntry per (database, key) in limit_table (shmem.c).  The
 * read-modify-write of TAT happens under the entry's spinlock, with the
 * partition lock held shared, so N backends racing on a key are decided in
 * some serial order and are allowed exactly what one backend would be.
 * The time of a call is read before the spinlock is taken; a backend that
 * read an earlier time and updates second only sees the key as slightly
 * more used, never less.
 *
 * Eviction (resilience.max_rate_limit_keys reached): every key at rest
 * (TAT <= now, which behaves exactly like a missing key), of any database,
 * is dropped; if that frees fewer than 5% of the table, keys closest to rest
 * are dropped too until 5% is free, all of one database: the inserting
 * one if it holds at least its share of the keys, else the one holding the
 * most (shmem_evict_costly), so that a database filling the table resets
 * its own keys, not another's.  Those lose at most what they had left to
 * refill.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/typcache.h"
#include "utils/timestamp.h"

#include "args.h"
#include "clock.h"
#include "resilience.h"
#include "shmem.h"
#include "stats.h"

/* the longest tolerance accepted: 10 years (with limit_now_ns, keeps every sum in int64) */
#define LIMIT_MAX_TOLERANCE_NS	(INT64CONST(10) * 36525 * 864 * INT64CONST(1000000000))

/* the times limit_now_ns accepts: 2000 +- 100 years (in ns) */
#define LIMIT_CLOCK_RANGE_NS	(INT64CONST(100) * 36525 * 864 * INT64CONST(1000000000))

/* the TAT of a new key: before any time limit_now_ns accepts */
#define LIMIT_AT_REST			(PG_INT64_MIN / 2)

typedef struct LimitEntry
{
	ShmemKey	key;
	slock_t		mutex;			/* guards everything below */
	int64		tat_ns;			/* theoretical arrival time, ns since 2000 */
	int64		emission_ns;	/* T of the last call, for the view */
	int32		burst;			/* burst of the last call, for the view */
	int64		allowed;		/* calls allowed */
	int64		denied;			/* calls denied */
	TimestampTz last_call;
} LimitEntry;

static int	limit_evict(HTAB *htab, int count, int max);

ShmemTable	limit_table = {
	.name = "resilience rate limits",
	.entrysize = sizeof(LimitEntry),
	.max_entries = &shmem_max_rate_limit_keys,
	.setting = "resilience.max_rate_limit_keys",
	.evict = limit_evict,
};

/* One GCRA decision. */
typedef struct LimitDecision
{
	bool		allowed;
	int32		remaining;
	int64		retry_after_ns;
	int64		reset_after_ns;
} LimitDecision;

RESILIENCE_FUNCTION(limit_rate_limit);
RESILIENCE_FUNCTION(limit_reset);
RESILIENCE_FUNCTION(limit_keys);

/* GCRA (see the file header); updates *tat_ns when the call is allowed. */
static void
limit_gcra(int64 *tat_ns, int64 now_ns, int64 emission_ns, int64 tolerance_ns,
		   int64 increment_ns, LimitDecision *d)
{
	int64		tat = Max(*tat_ns, now_ns);
	int64		new_tat = tat + increment_ns;
	int64		allow_at = new_tat - tolerance_ns;
	int64		ttl;
	int64		next;

	if (now_ns < allow_at)
	{
		d->allowed = false;
		d->retry_after_ns = allow_at - now_ns;
		ttl = tat - now_ns;
	}
	else
	{
		d->allowed = true;
		d->retry_after_ns = 0;
		ttl = new_tat - now_ns;
		*tat_ns = new_tat;
	}
	next = tolerance_ns - ttl;
	d->remaining = next > -emission_ns ? (int32) (next / emission_ns) : 0;
	d->reset_after_ns = ttl;
}

/*
 * A time as ns since 2000; 22008 outside 2000 +- 100 years (reachable only
 * through resilience.clock_override).  Within that range every sum and
 * difference of limit_gcra fits in int64: a stored TAT is at most now plus
 * one tolerance (10 years), so TAT - now stays under 210 years (6.6e18 ns)
 * even when the clock is moved back from the range's end to its start.
 */
static int64
limit_now_ns(TimestampTz now)
{
	int64		ns;

	if (pg_mul_s64_overflow(now, 1000, &ns) ||
		ns >= LIMIT_CLOCK_RANGE_NS || ns <= -LIMIT_CLOCK_RANGE_NS)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time %s is out of range for rate limits", timestamptz_to_str(now)),
				 errhint("Set resilience.clock_override to a time between 1900 and 2099, or reset it.")));
	return ns;
}

/* ns as an interval, rounded up to the microsecond. */
static Datum
limit_interval(int64 ns)
{
	Interval   *iv = (Interval *) palloc0(sizeof(Interval));

	iv->time = ns <= 0 ? 0 : (ns + 999) / 1000;
	return IntervalPGetDatum(iv);
}

/*
 * rate_limit(key, rate, per, burst, cost) -> (allowed, remaining,
 * retry_after, reset_after)
 */
Datum
limit_rate_limit(PG_FUNCTION_ARGS)
{
	ShmemKey	key;
	int32		rate;
	int64		per_us;
	int64		per_ns;
	int32		burst;
	int32		cost;
	int64		emission_ns;
	int64		tolerance_ns;
	int64		now_ns;
	TimestampTz now;
	LimitEntry *entry;
	LWLock	   *lock;
	bool		found;
	LimitDecision d;
	Oid			rettype;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	shmem_key_from_arg(fcinfo, 0, "key", &key);
	args_not_null(fcinfo, 1, "rate");
	args_not_null(fcinfo, 2, "per");
	args_not_null(fcinfo, 4, "cost");
	rate = PG_GETARG_INT32(1);
	per_us = args_interval_usec(PG_GETARG_INTERVAL_P(2), "per");
	burst = PG_ARGISNULL(3) ? rate : PG_GETARG_INT32(3);
	cost = PG_GETARG_INT32(4);

	if (rate <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rate must be positive, not %d", rate),
				 errhint("Pass the number of calls allowed per \"per\", for example rate_limit(key, 100, '1 minute').")));
	if (per_us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("per must be a positive interval"),
				 errhint("Pass the period the rate is counted over, for example '1 second'.")));
	if (burst < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("burst must be at least 1, not %d", burst),
				 errhint("Pass the number of calls a key at rest may make at once, or NULL for rate.")));
	if (cost < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cost must not be negative, not %d", cost),
				 errhint("Pass 0 to look at a key without using it.")));
	if (cost > burst)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cost %d is more than burst %d", cost, burst),
				 errdetail("Such a call could never be allowed."),
				 errhint("Raise burst to at least the largest cost, or split the call.")));
	if (pg_mul_s64_overflow(per_us, 1000, &per_ns))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("per is too long"),
				 errdetail("A period is counted in nanoseconds, up to about 292 years."),
				 errhint("Pass a shorter period, with a rate to match.")));
	emission_ns = per_ns / rate;
	if (emission_ns == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rate %d per %s is more than one call per nanosecond", rate,
						DatumGetCString(DirectFunctionCall1(interval_out,
															PG_GETARG_DATUM(2)))),
				 errhint("Pass a lower rate or a longer period.")));
	if (pg_mul_s64_overflow(emission_ns, burst, &tolerance_ns) ||
		tolerance_ns > LIMIT_MAX_TOLERANCE_NS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a burst of %d at this rate takes more than 10 years to refill", burst),
				 errhint("Pass a smaller burst or a higher rate.")));

	shmem_require(&limit_table, "rate_limit");

	/*
	 * The result's row type, resilience.rate_limit_decision: its descriptor
	 * comes from the type cache (a lookup per call; a descriptor made per
	 * call site would be made again by every execution of a statement).
	 */
	rettype = get_fn_expr_rettype(fcinfo->flinfo);
	if (!OidIsValid(rettype) &&
		get_call_result_type(fcinfo, &rettype, NULL) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	now = clock_now();
	now_ns = limit_now_ns(now);

	/* a look (cost 0) adds no key: a missing one is at rest */
	entry = shmem_lookup(&limit_table, &key, cost > 0, &found, &lock);
	if (entry == NULL)
	{
		int64		tat_ns = LIMIT_AT_REST;

		limit_gcra(&tat_ns, now_ns, emission_ns, tolerance_ns, 0, &d);
	}
	else
	{
		if (!found)
		{
			SpinLockInit(&entry->mutex);
			entry->tat_ns = LIMIT_AT_REST;
			entry->allowed = 0;
			entry->denied = 0;
		}
		SpinLockAcquire(&entry->mutex);
		limit_gcra(&entry->tat_ns, now_ns, emission_ns, tolerance_ns,
				   emission_ns * cost, &d);
		if (d.allowed)
			entry->allowed++;
		else
			entry->denied++;
		entry->emission_ns = emission_ns;
		entry->burst = burst;
		entry->last_call = now;
		SpinLockRelease(&entry->mutex);
		LWLockRelease(lock);
	}
	stats_limit_decision(d.allowed);

	values[0] = BoolGetDatum(d.allowed);
	values[1] = Int32GetDatum(d.remaining);
	values[2] = limit_interval(d.retry_after_ns);
	values[3] = limit_interval(d.reset_after_ns);
	tupdesc = lookup_rowtype_tupdesc(rettype, -1);
	if (tupdesc->natts != 4)
		elog(ERROR, "type %s does not have the 4 columns of a rate limit decision",
			 format_type_be(rettype));
	tuple = heap_form_tuple(tupdesc, values, nulls);
	ReleaseTupleDesc(tupdesc);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/* rate_limit_reset(key) -> whether the key was known */
Datum
limit_reset(PG_FUNCTION_ARGS)
{
	ShmemKey	key;

	shmem_key_from_arg(fcinfo, 0, "key", &key);
	shmem_require(&limit_table, "rate_limit_reset");
	PG_RETURN_BOOL(shmem_remove(&limit_table, &key));
}

/* rate_limit_keys(): the rows of resilience.rate_limits, this database's */
Datum
limit_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	LimitEntry *e;
	LimitEntry *copy;
	int			n = 0;
	int			cap;
	int64		now_ns;
	TimestampTz now;

	shmem_require(&limit_table, "rate_limit_keys");
	InitMaterializedSRF(fcinfo, 0);
	now = clock_now();
	now_ns = limit_now_ns(now);

	/*
	 * Copy under the locks, build the rows after.  Holding every partition
	 * lock keeps the count still (entering takes one exclusively).
	 */
	shmem_lock_all(&limit_table, LW_SHARED);
	cap = (int) pg_atomic_read_u32(&limit_table.header->count);
	copy = palloc_extended(sizeof(LimitEntry) * Max(cap, 1), MCXT_ALLOC_HUGE);
	hash_seq_init(&seq, limit_table.htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId || n >= cap)
			continue;
		SpinLockAcquire(&e->mutex);
		copy[n++] = *e;
		SpinLockRelease(&e->mutex);
	}
	shmem_unlock_all(&limit_table);

	for (int i = 0; i < n; i++)
	{
		LimitEntry *c = &copy[i];
		Datum		values[8];
		bool		nulls[8] = {0};
		int64		tat = c->tat_ns;
		LimitDecision d;

		/* a call of cost 0 now: what is left, without using any */
		limit_gcra(&tat, now_ns, c->emission_ns,
				   c->emission_ns * c->burst, 0, &d);
		values[0] = CStringGetTextDatum(c->key.name);
		values[1] = Int64GetDatum(c->allowed);
		values[2] = Int64GetDatum(c->denied);
		values[3] = TimestampTzGetDatum(c->last_call);
		values[4] = Int32GetDatum(d.remaining);
		values[5] = limit_interval(d.reset_after_ns);
		values[6] = Int32GetDatum(c->burst);
		values[7] = limit_interval(c->emission_ns);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* qsort: the entry closest to rest first */
static int
limit_cmp_tat(const void *a, const void *b)
{
	int64		ta = (*(LimitEntry *const *) a)->tat_ns;
	int64		tb = (*(LimitEntry *const *) b)->tat_ns;

	return (ta > tb) - (ta < tb);
}

/* Eviction rule (see the file header). */
static int
limit_evict(HTAB *htab, int count, int max)
{
	HASH_SEQ_STATUS seq;
	LimitEntry **all;
	Oid		   *dbs;
	LimitEntry *e;
	int			n = 0;
	int			want = Max(max / 20, 1);
	int			removed;
	/*
	 * At rest by the earlier of this session's clock and the real one: a
	 * test clock set ahead (resilience.clock_override, which is to affect
	 * only its own session) must not make every key of every database look
	 * at rest and drop it.
	 */
	int64		now_ns = limit_now_ns(Min(clock_now(), GetCurrentTimestamp()));

	all = palloc_extended(sizeof(LimitEntry *) * count, MCXT_ALLOC_HUGE);
	dbs = palloc_extended(sizeof(Oid) * count, MCXT_ALLOC_HUGE);
	hash_seq_init(&seq, htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (n < count)
			all[n++] = e;
	}
	qsort(all, n, sizeof(LimitEntry *), limit_cmp_tat);
	/* every key at rest, of any database: dropping one changes nothing */
	for (removed = 0; removed < n && all[removed]->tat_ns <= now_ns; removed++)
		hash_search(htab, &all[removed]->key, HASH_REMOVE, NULL);
	/* then the keys closest to rest of the database over its share */
	removed += shmem_evict_costly(htab, (void **) (all + removed), n - removed,
								  want - removed, dbs);
	pfree(dbs);
	pfree(all);
	return removed;
}
