/*-------------------------------------------------------------------------
 *
 * stats.c
 *		The monitoring counters (see stats.h): the shared counters,
 *		histograms and per-name entries, and the events that add to them.
 *		Reading them is stats_read.c's, their file across restarts
 *		stats_file.c's; stats_int.h holds what the three share.
 *
 * Shared state, set up by shmem.c's hooks when preloading:
 *  - StatsShared and its StatsSlots: one value per counter (see
 *	  STATS_COUNTERS in stats_int.h) and per histogram bucket in each
 *	  backend's slot, which only that backend writes (a plain read and
 *	  write, no lock and no locked instruction), summed by readers; and a
 *	  small table of (retry function, SQLSTATE) pairs claimed by
 *	  compare-and-swap, for the rare calls that give up.
 *  - stats_name_table: a ShmemTable (shmem.c) of per-name entries for
 *	  guards, leases and queues, bounded by resilience.stats_max_names.  An
 *	  event takes the name's partition lock in shared mode and adds to the
 *	  entry's atomics; only a name's first event takes it exclusively.
 *	  Eviction rule: when the table is full, the tenth of the entries with
 *	  the fewest events (at least one entry) is dropped in one pass (a sort
 *	  of the event counts with every partition lock held), so a full table
 *	  pays that pass once per max/10 new names.  The global counters keep
 *	  counting every name; only the per-name rows are lost.
 *	  Admission: once the table is full (holds at least what an eviction
 *	  leaves), an uncontended lock of a name not in it adds the name only
 *	  one time in STATS_ADMIT_ONE_IN (at random); every other event (a wait,
 *	  a timeout, any lease or queue event) adds its name at once.  A busy
 *	  name so gets a row within about STATS_ADMIT_ONE_IN locks, while a
 *	  stream of names used once or twice (more names than the table holds)
 *	  causes about 1/STATS_ADMIT_ONE_IN of the inserts and evictions it
 *	  would: those were most of what counting cost.  Such a lock first asks
 *	  the table's presence filter (shmem.c), so most names not in the table
 *	  cost no lock at all; one being added by another backend at that very
 *	  moment may be missed, as if the lock had come just before.
 *
 * Histograms: bucket i (0..STATS_NBUCKETS-2) counts values v with
 * 2^(i-1) < v <= 2^i (bucket 0: v <= 1); the last bucket counts the rest
 * (+Inf).  Durations are microseconds.
 *
 * Persistence: see stats_file.c.
 *
 * Reset races: an event that runs during stats_reset() may be lost or may
 * survive it; nothing else is ever lost.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "common/pg_prng.h"
#include "commands/trigger.h"
#include "catalog/pg_type.h"
#include "catalog/pg_control.h"
#include "commands/dbcommands.h"
#include "common/controldata_utils.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "executor/spi.h"
#include "catalog/pg_collation.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "access/twophase.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "args.h"
#include "extension.h"
#include "resilience.h"
#include "shmem.h"
#include "spiplan.h"
#include "stats_int.h"
#include "stats.h"

RESILIENCE_FUNCTION(stats_lease_trigger);
RESILIENCE_FUNCTION(stats_lease_note);

const StatsDef stats_counter_defs[STATS_NCOUNTERS] = {STATS_COUNTERS(STATS_DEF)};
const StatsDef stats_hist_defs[STATS_NHISTS] = {STATS_HISTOGRAMS(STATS_DEF)};

bool		stats_track = true;
StatsShared *stats_shared = NULL;

static int	stats_evict(HTAB *htab, int count, int max);

/* qsort comparator of uint64 */
static int
stats_cmp_u64(const void *a, const void *b)
{
	uint64		x = *(const uint64 *) a;
	uint64		y = *(const uint64 *) b;

	return (x > y) - (x < y);
}

ShmemTable	stats_name_table = {
	.name = "resilience stats names",
	.entrysize = sizeof(StatsNameEntry),
	.max_entries = &shmem_max_stats_names,
	.setting = "resilience.stats_max_names",
	.evict = stats_evict,
	.filtered = true,
};

/* counting is on and the shared memory exists */
#define STATS_ACTIVE() (stats_shared != NULL && stats_track)

/* _PG_init: resilience.track. */
void
stats_define_gucs(void)
{
	DefineCustomBoolVariable("resilience.track",
							 "Counts what resilience's functions do, for the monitoring views.",
							 "Needs resilience in shared_preload_libraries.",
							 &stats_track,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/* the slots: one per PGPROC, and one for processes without one */
static StatsSlot *stats_slots = NULL;

/* slots are a whole number of cache lines apart */
#define STATS_SLOT_STRIDE TYPEALIGN(PG_CACHE_LINE_SIZE, sizeof(StatsSlot))
#define STATS_SLOT(i) ((StatsSlot *) ((char *) stats_slots + (Size) (i) * STATS_SLOT_STRIDE))

/* PGPROCs there are (what InitProcGlobal makes): one slot each */
static int
stats_nslots(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

/* zero a histogram, before anyone reads it */
static void
stats_hist_init(StatsHist *h)
{
	for (int b = 0; b < STATS_NBUCKETS; b++)
		pg_atomic_init_u64(&h->buckets[b], 0);
	pg_atomic_init_u64(&h->sum, 0);
}

/* zero the fixed counters and histograms of a slot or of the offsets */
static void
stats_values_init(pg_atomic_uint64 *counters, StatsHist *hists)
{
	for (int c = 0; c < STATS_NCOUNTERS; c++)
		pg_atomic_init_u64(&counters[c], 0);
	for (int h = 0; h < STATS_NHISTS; h++)
		stats_hist_init(&hists[h]);
}

/* Shared memory the fixed counters need (shmem.c's request hook). */
Size
stats_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(StatsShared)),
					add_size(mul_size(stats_nslots() + 1, STATS_SLOT_STRIDE),
							 PG_CACHE_LINE_SIZE));
}

/*
 * shmem.c's startup hook, after the tables are attached: create or attach
 * to the fixed counters; the postmaster loads the file and arranges to
 * write it at exit.
 */
void
stats_shmem_startup(void)
{
	bool		found;
	bool		slots_found;
	int			nslots = stats_nslots();
	char	   *slots;

	stats_shared = ShmemInitStruct("resilience stats", sizeof(StatsShared), &found);
	slots = ShmemInitStruct("resilience stats slots",
							add_size(mul_size(nslots + 1, STATS_SLOT_STRIDE),
									 PG_CACHE_LINE_SIZE),
							&slots_found);
	stats_slots = (StatsSlot *) TYPEALIGN(PG_CACHE_LINE_SIZE, slots);
	if (!slots_found)
	{
		for (int i = 0; i <= nslots; i++)
			stats_values_init(STATS_SLOT(i)->counters, STATS_SLOT(i)->hists);
	}
	if (!found)
	{
		stats_shared->nslots = nslots;
		pg_atomic_init_u64(&stats_shared->since, 0);
		stats_values_init(stats_shared->counters, stats_shared->hists);
		for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
		{
			pg_atomic_init_u32(&stats_shared->gave_up[i].key, 0);
			pg_atomic_init_u64(&stats_shared->gave_up[i].calls, 0);
		}
		pg_atomic_init_u64(&stats_shared->gave_up_other, 0);
		pg_atomic_write_u64(&stats_shared->since, (uint64) GetCurrentTimestamp());
		stats_load();
	}
	if (!IsUnderPostmaster)
		on_shmem_exit(stats_shmem_shutdown, (Datum) 0);
}

/*
 * This backend's slot, and whether it is its own (else the shared spare
 * slot, added to with atomics).
 */
static inline StatsSlot *
stats_my_slot(bool *own)
{
	int			procno;

	if (MyProc == NULL)
	{
		*own = false;
		return STATS_SLOT(stats_shared->nslots);
	}
#if PG_VERSION_NUM >= 170000
	procno = MyProcNumber;
#else
	procno = MyProc->pgprocno;
#endif
	*own = procno >= 0 && procno < stats_shared->nslots;
	return STATS_SLOT(*own ? procno : stats_shared->nslots);
}

/* add n to a value of a slot: see stats_my_slot */
static inline void
stats_slot_add(pg_atomic_uint64 *v, uint64 n, bool own)
{
	if (own)
		pg_atomic_write_u64(v, pg_atomic_read_u64(v) + n);
	else
		pg_atomic_fetch_add_u64(v, n);
}

/* add n to a counter */
static inline void
stats_add(StatsCounterId c, uint64 n)
{
	bool		own;
	StatsSlot  *slot = stats_my_slot(&own);

	stats_slot_add(&slot->counters[c], n, own);
}

/* the bucket of a value: 0 for <= 1, i for 2^(i-1) < v <= 2^i */
static inline int
stats_bucket(int64 v)
{
	int			b;

	if (v <= 1)
		return 0;
	b = pg_leftmost_one_pos64((uint64) (v - 1)) + 1;
	return Min(b, STATS_NBUCKETS - 1);
}

/* one value into a per-name histogram (shared by all backends) */
static inline void
stats_hist_add(StatsHist *h, int64 v)
{
	if (v < 0)
		v = 0;
	pg_atomic_fetch_add_u64(&h->buckets[stats_bucket(v)], 1);
	pg_atomic_fetch_add_u64(&h->sum, (uint64) v);
}

/* one value into a fixed histogram */
static inline void
stats_hist_note(StatsHistId id, int64 v)
{
	bool		own;
	StatsHist  *h = &stats_my_slot(&own)->hists[id];

	if (v < 0)
		v = 0;
	stats_slot_add(&h->buckets[stats_bucket(v)], 1, own);
	stats_slot_add(&h->sum, (uint64) v, own);
}

/*
 * The slots' sums (offsets not added).  A slot read while its backend adds
 * gives the value before or after: each value is read whole.
 */
static void
stats_slot_sums(StatsTotals *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i <= stats_shared->nslots; i++)
	{
		StatsSlot  *slot = STATS_SLOT(i);

		for (int c = 0; c < STATS_NCOUNTERS; c++)
			t->counters[c] += pg_atomic_read_u64(&slot->counters[c]);
		for (int h = 0; h < STATS_NHISTS; h++)
		{
			for (int b = 0; b < STATS_NBUCKETS; b++)
				t->buckets[h][b] += pg_atomic_read_u64(&slot->hists[h].buckets[b]);
			t->sums[h] += pg_atomic_read_u64(&slot->hists[h].sum);
		}
	}
}

/*
 * The totals readers see: each offset, then (after it) the slots, whose
 * values only grow, so a reset's offset never makes a total negative.
 */
void
stats_totals(StatsTotals *t)
{
	StatsTotals off;

	for (int c = 0; c < STATS_NCOUNTERS; c++)
		off.counters[c] = pg_atomic_read_u64(&stats_shared->counters[c]);
	for (int h = 0; h < STATS_NHISTS; h++)
	{
		for (int b = 0; b < STATS_NBUCKETS; b++)
			off.buckets[h][b] = pg_atomic_read_u64(&stats_shared->hists[h].buckets[b]);
		off.sums[h] = pg_atomic_read_u64(&stats_shared->hists[h].sum);
	}
	pg_read_barrier();
	stats_slot_sums(t);
	for (int c = 0; c < STATS_NCOUNTERS; c++)
		t->counters[c] += off.counters[c];
	for (int h = 0; h < STATS_NHISTS; h++)
	{
		for (int b = 0; b < STATS_NBUCKETS; b++)
			t->buckets[h][b] += off.buckets[h][b];
		t->sums[h] += off.sums[h];
	}
}

/*
 * Zero every fixed counter and histogram (not stats_since): each offset
 * becomes minus its slots' sum.  An event added meanwhile may be counted
 * or not.
 */
void
stats_zero(void)
{
	StatsTotals t;

	stats_slot_sums(&t);
	pg_memory_barrier();
	for (int c = 0; c < STATS_NCOUNTERS; c++)
		pg_atomic_write_u64(&stats_shared->counters[c], -t.counters[c]);
	for (int h = 0; h < STATS_NHISTS; h++)
	{
		for (int b = 0; b < STATS_NBUCKETS; b++)
			pg_atomic_write_u64(&stats_shared->hists[h].buckets[b], -t.buckets[h][b]);
		pg_atomic_write_u64(&stats_shared->hists[h].sum, -t.sums[h]);
	}
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		pg_atomic_write_u64(&stats_shared->gave_up[i].calls, 0);
		pg_atomic_write_u32(&stats_shared->gave_up[i].key, 0);
	}
	pg_atomic_write_u64(&stats_shared->gave_up_other, 0);
}

/* init a fresh name entry's counters (its key is set) */
void
stats_name_init(StatsNameEntry *e)
{
	pg_atomic_init_u64(&e->events, 0);
	for (int i = 0; i < STATS_NAME_NCOUNTERS; i++)
		pg_atomic_init_u64(&e->counters[i], 0);
	stats_hist_init(&e->hist);
}

/*
 * The table counts as full from the size an eviction leaves it at: else each
 * eviction would let the next tenth of new names in unsampled.
 */
static inline uint32
stats_admit_above(void)
{
	return (uint32) (shmem_max_stats_names - Max(shmem_max_stats_names / 10, 1));
}

/*
 * The entry of (kind, name) in this database, with its partition lock held
 * (*lock); release it after adding.  A name longer than the key holds is cut
 * at a character boundary.  A missing name is added, but when the table is
 * full and the event is a sampled one (an uncontended lock), only one time
 * in STATS_ADMIT_ONE_IN, at random (full: as full as an eviction leaves it,
 * see stats_admit_above): then NULL (no lock held) means the event
 * counts in the totals only.
 */
static StatsNameEntry *
stats_name_get(char kind, const char *name, int len, bool sampled, LWLock **lock)
{
	ShmemKey	key;
	StatsNameEntry *e;
	bool		found;

	if (len > SHMEM_NAME_MAX - 1)
		len = pg_mbcliplen(name, len, SHMEM_NAME_MAX - 1);
	key.dbid = MyDatabaseId;
	key.len = (uint16) (len + 1);
	key.name[0] = kind;
	memcpy(key.name + 1, name, len);
	key.name[len + 1] = '\0';
	if (sampled && shmem_count(&stats_name_table) >= stats_admit_above())
	{
		e = (StatsNameEntry *) shmem_lookup(&stats_name_table, &key, false, &found, lock);
		if (e != NULL ||
			pg_prng_uint32(&pg_global_prng_state) % STATS_ADMIT_ONE_IN != 0)
			return e;
	}
	e = (StatsNameEntry *) shmem_lookup(&stats_name_table, &key, true, &found, lock);
	if (!found)
		stats_name_init(e);
	return e;
}

/*
 * Eviction (see the file header): drop the tenth of the entries with the
 * fewest events, at least one.  Runs with every partition lock held.
 */
static int
stats_evict(HTAB *htab, int count, int max)
{
	HASH_SEQ_STATUS status;
	StatsNameEntry *e;
	uint64	   *weights;
	int			n = 0;
	int			quota = Max(count / 10, 1);
	uint64		threshold;
	int			removed = 0;

	/* no memory for the sort: drop the first quota entries rather than fail */
	weights = palloc_extended(sizeof(uint64) * Max(count, 1), MCXT_ALLOC_NO_OOM);
	if (weights == NULL)
	{
		hash_seq_init(&status, htab);
		while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
		{
			hash_search(htab, &e->key, HASH_REMOVE, NULL);
			if (++removed >= quota)
			{
				hash_seq_term(&status);
				break;
			}
		}
		return removed;
	}
	hash_seq_init(&status, htab);
	while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
	{
		if (n < count)
			weights[n++] = pg_atomic_read_u64(&e->events);
	}
	if (n == 0)
	{
		pfree(weights);
		return 0;
	}
	qsort(weights, n, sizeof(uint64), stats_cmp_u64);
	threshold = weights[Min(quota, n) - 1];
	pfree(weights);

	/* below the threshold first, then ties, until the quota is met */
	for (int pass = 0; pass < 2 && removed < quota; pass++)
	{
		hash_seq_init(&status, htab);
		while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
		{
			uint64		w = pg_atomic_read_u64(&e->events);

			if (removed >= quota)
			{
				hash_seq_term(&status);
				break;
			}
			if (pass == 0 ? w < threshold : w == threshold)
			{
				hash_search(htab, &e->key, HASH_REMOVE, NULL);
				removed++;
			}
		}
	}
	return removed;
}

/* ---- the events ---- */

/* A call of a retry function starts. */
void
stats_retry_call(StatsRetryFunc func)
{
	if (!STATS_ACTIVE())
		return;
	stats_add(func == STATS_RETRY_TRANSACTION ? SC_RETRY_TX_CALLS : SC_RETRY_ST_CALLS, 1);
}

/* A call committed (succeeded) after attempts, elapsed_us after it began. */
void
stats_retry_commit(StatsRetryFunc func, int attempts, int64 elapsed_us)
{
	bool		tx = func == STATS_RETRY_TRANSACTION;

	if (!STATS_ACTIVE())
		return;
	stats_add(tx ? SC_RETRY_TX_COMMITS : SC_RETRY_ST_COMMITS, 1);
	stats_add(tx ? SC_RETRY_TX_ATTEMPTS : SC_RETRY_ST_ATTEMPTS, attempts);
	stats_hist_note(tx ? SC_H_RETRY_TX_ATTEMPTS : SC_H_RETRY_ST_ATTEMPTS, attempts);
	stats_hist_note(tx ? SC_H_RETRY_TX_COMMIT : SC_H_RETRY_ST_COMMIT, elapsed_us);
}

/* A call gave up after attempts, raising sqlerrcode. */
void
stats_retry_gave_up(StatsRetryFunc func, int attempts, int sqlerrcode)
{
	bool		tx = func == STATS_RETRY_TRANSACTION;
	uint32		key = ((uint32) (func + 1) << 30) | ((uint32) sqlerrcode & 0x3FFFFFFF);

	if (!STATS_ACTIVE())
		return;
	stats_add(tx ? SC_RETRY_TX_GAVE_UP : SC_RETRY_ST_GAVE_UP, 1);
	stats_add(tx ? SC_RETRY_TX_ATTEMPTS : SC_RETRY_ST_ATTEMPTS, attempts);
	stats_hist_note(tx ? SC_H_RETRY_TX_ATTEMPTS : SC_H_RETRY_ST_ATTEMPTS, attempts);

	/* find the pair's slot, or claim a free one */
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		StatsGaveUp *slot = &stats_shared->gave_up[i];
		uint32		cur = pg_atomic_read_u32(&slot->key);

		if (cur == 0)
		{
			uint32		expected = 0;

			if (pg_atomic_compare_exchange_u32(&slot->key, &expected, key))
				cur = key;
			else
				cur = expected;
		}
		if (cur == key)
		{
			pg_atomic_fetch_add_u64(&slot->calls, 1);
			return;
		}
	}
	pg_atomic_fetch_add_u64(&stats_shared->gave_up_other, 1);
}

/* A retry function slept slept_us in backoff. */
void
stats_retry_slept(StatsRetryFunc func, int64 slept_us)
{
	if (!STATS_ACTIVE() || slept_us <= 0)
		return;
	stats_add(func == STATS_RETRY_TRANSACTION ? SC_RETRY_TX_SLEEP_US : SC_RETRY_ST_SLEEP_US,
			  (uint64) slept_us);
}

/* One acquisition attempt of a guard name. */
void
stats_guard_acquire(const char *name, int len, bool session, bool shared,
					bool waited, int64 wait_us, bool granted)
{
	StatsNameEntry *e;
	LWLock	   *lock;

	if (!STATS_ACTIVE())
		return;
	if (granted)
		stats_add(session ? (shared ? SC_GUARD_SESSION_SHARED : SC_GUARD_SESSION_EXCL) :
				  (shared ? SC_GUARD_XACT_SHARED : SC_GUARD_XACT_EXCL), 1);
	else
		stats_add(SC_GUARD_TIMEOUTS, 1);
	if (waited)
	{
		stats_add(SC_GUARD_WAITS, 1);
		stats_hist_note(SC_H_GUARD_WAIT, wait_us);
	}

	/* a wait or a timeout always gets its name a row */
	e = stats_name_get(STATS_KIND_GUARD, name, len, granted && !waited, &lock);
	if (e == NULL)
		return;
	pg_atomic_fetch_add_u64(&e->events, 1);
	if (granted)
		pg_atomic_fetch_add_u64(&e->counters[NAME_GUARD_ACQUIRED], 1);
	else
		pg_atomic_fetch_add_u64(&e->counters[NAME_GUARD_TIMEOUTS], 1);
	if (waited)
	{
		pg_atomic_fetch_add_u64(&e->counters[NAME_GUARD_WAITS], 1);
		pg_atomic_fetch_add_u64(&e->counters[NAME_GUARD_WAIT_US], (uint64) Max(wait_us, 0));
	}
	LWLockRelease(lock);
}

/* The lock manager's table was full. */
void
stats_guard_lock_table_full(void)
{
	if (!STATS_ACTIVE())
		return;
	stats_add(SC_GUARD_LOCK_TABLE_FULL, 1);
}

/* A lease event of lease name. */
void
stats_lease_event(const char *name, int len, StatsLeaseEvent ev)
{
	static const StatsCounterId totals[STATS_LEASE_NEVENTS] = {
		SC_LEASE_GRANTS, SC_LEASE_RENEWALS, SC_LEASE_TAKEOVERS,
		SC_LEASE_REFUSED, SC_LEASE_FENCE_REJECTED, SC_LEASE_RELEASES
	};
	StatsNameEntry *e;
	LWLock	   *lock;

	if (!STATS_ACTIVE() || (int) ev < 0 || ev >= STATS_LEASE_NEVENTS)
		return;
	stats_add(totals[ev], 1);
	e = stats_name_get(STATS_KIND_LEASE, name, len, false, &lock);
	pg_atomic_fetch_add_u64(&e->events, 1);
	pg_atomic_fetch_add_u64(&e->counters[ev], 1);
	LWLockRelease(lock);
}

/* idempotent(): the first call of a key ran the request */
void
stats_idempotency_first(void)
{
	if (STATS_ACTIVE())
		stats_add(SC_IDEM_FIRST, 1);
}

/* idempotent(): a recorded result was replayed */
void
stats_idempotency_replay(void)
{
	if (STATS_ACTIVE())
		stats_add(SC_IDEM_REPLAYS, 1);
}

/* idempotent(): a key came with another request (22023) */
void
stats_idempotency_mismatch(void)
{
	if (STATS_ACTIVE())
		stats_add(SC_IDEM_MISMATCHES, 1);
}

/* idempotent(): waited behind a concurrent call of the same key */
void
stats_idempotency_wait(void)
{
	if (STATS_ACTIVE())
		stats_add(SC_IDEM_WAITS, 1);
}

/* A page of rows rows was served. */
void
stats_keyset_page(int64 rows)
{
	if (!STATS_ACTIVE())
		return;
	stats_add(SC_KEYSET_PAGES, 1);
	stats_add(SC_KEYSET_ROWS, (uint64) Max(rows, 0));
}

/* A cursor was refused. */
void
stats_keyset_cursor_rejected(StatsCursorReject why)
{
	static const StatsCounterId ids[] = {
		SC_KEYSET_REJ_MALFORMED, SC_KEYSET_REJ_FORGED,
		SC_KEYSET_REJ_RETIRED, SC_KEYSET_REJ_SORT, SC_KEYSET_REJ_OTHER
	};

	if (!STATS_ACTIVE())
		return;
	stats_add(ids[(int) why >= 0 && why <= STATS_CURSOR_OTHER ? why : STATS_CURSOR_OTHER], 1);
}

/* A page plan was looked up in the plan cache. */
void
stats_keyset_plan_cache(bool hit)
{
	if (STATS_ACTIVE())
		stats_add(hit ? SC_KEYSET_PLAN_HITS : SC_KEYSET_PLAN_MISSES, 1);
}

/* rate_limit() decided. */
void
stats_limit_decision(bool allowed)
{
	if (STATS_ACTIVE())
		stats_add(allowed ? SC_LIMIT_ALLOWED : SC_LIMIT_DENIED, 1);
}

/* A breaker decided whether a call may go ahead. */
void
stats_breaker_decision(bool allowed)
{
	if (STATS_ACTIVE())
		stats_add(allowed ? SC_BREAKER_ALLOWED : SC_BREAKER_DENIED, 1);
}

/* A breaker changed state. */
void
stats_breaker_state_change(StatsBreakerState to)
{
	if (!STATS_ACTIVE())
		return;
	stats_add(to == STATS_BREAKER_OPEN ? SC_BREAKER_TO_OPEN :
			  to == STATS_BREAKER_HALF_OPEN ? SC_BREAKER_TO_HALF_OPEN :
			  SC_BREAKER_TO_CLOSED, 1);
}

/* A queue event of queue; NULL: of a queue not known, the total only. */
void
stats_queue_event(const char *queue, int len, StatsQueueEvent ev, int64 n)
{
	StatsNameEntry *e;
	LWLock	   *lock;

	if (!STATS_ACTIVE() || (int) ev < 0 || ev >= STATS_QUEUE_NEVENTS || n <= 0)
		return;
	stats_add((StatsCounterId) (SC_QUEUE_ENQUEUED + ev), n);
	if (queue == NULL)
		return;
	e = stats_name_get(STATS_KIND_QUEUE, queue, len, false, &lock);
	pg_atomic_fetch_add_u64(&e->events, n);
	pg_atomic_fetch_add_u64(&e->counters[ev], n);
	LWLockRelease(lock);
}

/* A job of queue was claimed latency_us after it became runnable. */
void
stats_queue_pickup(const char *queue, int len, int64 latency_us)
{
	StatsNameEntry *e;
	LWLock	   *lock;

	if (!STATS_ACTIVE())
		return;
	stats_add(SC_QUEUE_CLAIMED, 1);
	stats_hist_note(SC_H_QUEUE_PICKUP, latency_us);
	e = stats_name_get(STATS_KIND_QUEUE, queue, len, false, &lock);
	pg_atomic_fetch_add_u64(&e->events, 1);
	pg_atomic_fetch_add_u64(&e->counters[STATS_QUEUE_CLAIMED], 1);
	stats_hist_add(&e->hist, latency_us);
	LWLockRelease(lock);
}

/*
 * The trigger on resilience.lease_state (AFTER INSERT OR UPDATE, each row):
 * what the row change means.  An insert or a new token is a grant, a grant
 * over another holder's row a takeover; the same token and holder is a
 * renewal; a holder cleared a release.  Only a role that may write the
 * table can cause counts, and only by changing a lease.
 */
Datum
stats_lease_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtup;
	int			name_att,
				holder_att,
				token_att;
	bool		isnull;
	bool		newholder_null;
	Datum		name;
	text	   *nametext;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("resilience.stats_lease_trigger() must be called as an AFTER ROW trigger")));
	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (!STATS_ACTIVE())
		return PointerGetDatum(newtup);

	desc = td->tg_relation->rd_att;
	name_att = SPI_fnumber(desc, "name");
	holder_att = SPI_fnumber(desc, "holder");
	token_att = SPI_fnumber(desc, "token");
	if (name_att <= 0 || holder_att <= 0 || token_att <= 0)
		return PointerGetDatum(newtup);
	name = heap_getattr(newtup, name_att, desc, &isnull);
	if (isnull)
		return PointerGetDatum(newtup);
	nametext = DatumGetTextPP(name);
	(void) heap_getattr(newtup, holder_att, desc, &newholder_null);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		stats_lease_event(VARDATA_ANY(nametext), VARSIZE_ANY_EXHDR(nametext), STATS_LEASE_GRANT);
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		HeapTuple	oldtup = td->tg_trigtuple;
		bool		oldholder_null;
		bool		tnull1,
					tnull2;
		Datum		oldholder = heap_getattr(oldtup, holder_att, desc, &oldholder_null);
		Datum		newholder = heap_getattr(newtup, holder_att, desc, &newholder_null);
		Datum		oldtoken = heap_getattr(oldtup, token_att, desc, &tnull1);
		Datum		newtoken = heap_getattr(newtup, token_att, desc, &tnull2);
		bool		same_holder = !oldholder_null && !newholder_null &&
			DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, oldholder, newholder));
		const char *n = VARDATA_ANY(nametext);
		int			len = VARSIZE_ANY_EXHDR(nametext);

		if (!tnull1 && !tnull2 && DatumGetInt64(oldtoken) != DatumGetInt64(newtoken))
		{
			stats_lease_event(n, len, STATS_LEASE_GRANT);
			if (!oldholder_null && !same_holder)
				stats_lease_event(n, len, STATS_LEASE_TAKEOVER);
		}
		else if (newholder_null && !oldholder_null)
			stats_lease_event(n, len, STATS_LEASE_RELEASE);
		else if (same_holder)
			stats_lease_event(n, len, STATS_LEASE_RENEWAL);
	}
	return PointerGetDatum(newtup);
}

/*
 * stats_lease_note(event text, name text, holder text, token bigint): the
 * lease events that write nothing, called by lease_acquire ('refused') and
 * lease_fence ('fence_rejected').  The event counts only if the lease is in
 * the state that causes it, as the caller sees lease_state now: a live lease
 * of another holder, or no live lease with that token.  So a direct call
 * counts only what the lease function would have counted in its place.
 * Without preloading or with resilience.track = off it checks its arguments
 * and does nothing else.
 */
Datum
stats_lease_note(PG_FUNCTION_ARGS)
{
	text	   *event;
	char	   *event_str;
	text	   *name;
	bool		refused;
	Oid			relid;
	char	   *sql;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, INT8OID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	int			rc;
	bool		found;

	/* holder or token may be NULL (each event uses one); these may not */
	args_not_null(fcinfo, 0, "event");
	args_not_null(fcinfo, 1, "name");
	/* the arguments are checked whether or not anything counts */
	event = PG_GETARG_TEXT_PP(0);
	event_str = text_to_cstring(event);
	if (strcmp(event_str, "refused") == 0)
		refused = true;
	else if (strcmp(event_str, "fence_rejected") == 0)
		refused = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized lease event \"%s\"", event_str),
				 errhint("Valid events are \"refused\" and \"fence_rejected\".")));
	pfree(event_str);
	if (!STATS_ACTIVE())
		PG_RETURN_VOID();
	name = PG_GETARG_TEXT_PP(1);
	if (refused ? PG_ARGISNULL(2) : PG_ARGISNULL(3))
		PG_RETURN_VOID();

	relid = resilience_member_table("lease_state", NULL);
	sql = refused ?
		psprintf("SELECT FROM %s l WHERE l.name OPERATOR(pg_catalog.=) $1"
				 " AND l.holder OPERATOR(pg_catalog.<>) $2"
				 " AND l.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()",
				 resilience_member_table_name(relid)) :
		psprintf("SELECT FROM %s l WHERE l.name OPERATOR(pg_catalog.=) $1"
				 " AND l.token OPERATOR(pg_catalog.=) $3 AND l.holder IS NOT NULL"
				 " AND l.expires_at OPERATOR(pg_catalog.>) pg_catalog.clock_timestamp()",
				 resilience_member_table_name(relid));
	values[0] = PointerGetDatum(name);
	values[1] = refused ? PG_GETARG_DATUM(2) : (Datum) 0;
	nulls[1] = refused ? ' ' : 'n';
	values[2] = refused ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[2] = refused ? 'n' : ' ';

	spiplan_connect();
	rc = SPI_execute_with_args(sql, 3, argtypes, values, nulls, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading lease state failed: %s", SPI_result_code_string(rc));
	found = SPI_processed > 0;
	SPI_finish();

	/* refused: a live lease of another holder; rejected: none with the token */
	if (refused == found)
		stats_lease_event(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name),
						  refused ? STATS_LEASE_REFUSED : STATS_LEASE_FENCE_REJECTED);
	PG_RETURN_VOID();
}

