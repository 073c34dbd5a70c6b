/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		The shared-memory tables (see shmem.h), their hooks and settings.
 *
 * Follows contrib/pg_stat_statements: _PG_init, when run from
 * shared_preload_libraries, defines the size settings (PGC_POSTMASTER) and
 * installs shmem_request_hook, which asks for each table's memory and
 * LWLock tranche, and shmem_startup_hook, which creates or attaches to the
 * tables.  Loaded any other way the tables stay NULL and their functions
 * raise 55000; everything else in the extension works.
 *
 * A table's size is fixed at startup.  The entry count is kept in an atomic
 * counter that an insert reserves a slot in before it enters the hash
 * table, so the table never grows past its setting; when the counter is at
 * the limit, the inserting backend takes every partition lock exclusively
 * and lets the table's owner evict by its documented rule; if that drops
 * nothing, the entries of databases that no longer exist are forgotten.
 *
 * A table whose owner looks up keys it will not add (the monitoring names,
 * once full, admit only some new names) sets filtered: shmem.c then keeps
 * a bit per hash value of the entries present, set by inserts and rebuilt
 * after each eviction or sweep (and by its owner after a reset), so such a lookup of a missing key mostly takes no lock.
 *
 * A table to add is one more ShmemTable and one more line in
 * shmem_tables[]; a plain fixed-size struct (the queue's wakeup slots) is
 * a ShmemStruct listed in shmem_structs[].  The monitoring counters
 * (stats.c) have a table (their per-name entries) and a fixed struct of
 * atomics besides, which these hooks request and attach through
 * stats_shmem_size and stats_shmem_startup (it also reads the saved file).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "args.h"
#include "shmem.h"
#include "stats.h"

int			shmem_max_rate_limit_keys = 10000;
int			shmem_max_breakers = 1000;
int			shmem_max_stats_names = 5000;

static ShmemTable *const shmem_tables[] = {&limit_table, &breaker_table,
&stats_name_table};

#define SHMEM_NTABLES ((int) lengthof(shmem_tables))

static ShmemStruct *const shmem_structs[] = {&queue_wakeup_struct};

#define SHMEM_NSTRUCTS ((int) lengthof(shmem_structs))

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void shmem_request(void);
static uint32 shmem_key_hash(const void *key, Size keysize);
static int	shmem_key_match(const void *key1, const void *key2, Size keysize);
static void shmem_startup(void);
static uint32 shmem_filter_bits(int max);
static Size shmem_filter_size(int max);

/*
 * When preloading: define the settings and install the hooks.  Otherwise
 * nothing: PGC_POSTMASTER settings cannot be defined after startup (a FATAL
 * error), and without the hooks they would mean nothing anyway.
 */
void
shmem_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("resilience.max_rate_limit_keys",
							"Number of rate limit keys kept in shared memory.",
							"When full, keys at rest (allowing a full burst) are dropped first.",
							&shmem_max_rate_limit_keys,
							10000, 100, INT_MAX / 2,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("resilience.max_breakers",
							"Number of circuit breakers kept in shared memory.",
							"When full, the breakers used least recently are dropped, closed ones first, forced-open ones never.",
							&shmem_max_breakers,
							1000, 10, INT_MAX / 2,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("resilience.stats_max_names",
							"Number of guard, lease and queue names the monitoring counters track.",
							"When full, the tenth of the names with the fewest events is dropped.",
							&shmem_max_stats_names,
							5000, 100, INT_MAX / 2,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

/* Ask for each table's memory and partition locks. */
static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	for (int i = 0; i < SHMEM_NTABLES; i++)
	{
		ShmemTable *t = shmem_tables[i];

		RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(ShmemTableHeader)),
										hash_estimate_size(*t->max_entries,
														   t->entrysize)));
		if (t->filtered)
			RequestAddinShmemSpace(shmem_filter_size(*t->max_entries));
		RequestNamedLWLockTranche(t->name, SHMEM_PARTITIONS);
	}
	RequestAddinShmemSpace(stats_shmem_size());
	for (int i = 0; i < SHMEM_NSTRUCTS; i++)
		RequestAddinShmemSpace(MAXALIGN(shmem_structs[i]->size));
}

/* Create the tables (postmaster) or attach to them (EXEC_BACKEND). */
static void
shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < SHMEM_NTABLES; i++)
	{
		ShmemTable *t = shmem_tables[i];
		HASHCTL		info;
		bool		found;
		char		hdrname[64];

		snprintf(hdrname, sizeof(hdrname), "%s header", t->name);
		t->header = ShmemInitStruct(hdrname, sizeof(ShmemTableHeader), &found);
		if (!found)
		{
			pg_atomic_init_u32(&t->header->count, 0);
			pg_atomic_init_u64(&t->header->evicted, 0);
		}
		info.keysize = sizeof(ShmemKey);
		info.entrysize = t->entrysize;
		info.hash = shmem_key_hash;
		info.match = shmem_key_match;
		info.num_partitions = SHMEM_PARTITIONS;
		t->htab = ShmemInitHash(t->name, *t->max_entries, *t->max_entries,
								&info,
								HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
								HASH_PARTITION | HASH_FIXED_SIZE);
		t->locks = GetNamedLWLockTranche(t->name);
		if (t->filtered)
		{
			snprintf(hdrname, sizeof(hdrname), "%s filter", t->name);
			t->filter = ShmemInitStruct(hdrname, shmem_filter_size(*t->max_entries),
										&found);
			if (!found)
			{
				uint32		nbits = shmem_filter_bits(*t->max_entries);

				t->filter->mask = nbits - 1;
				pg_atomic_init_u32(&t->filter->gen, 0);
				for (uint32 w = 0; w < nbits / 64; w++)
					pg_atomic_init_u64(&t->filter->words[w], 0);
			}
		}
	}
	/* the postmaster loads the saved names here: filters follow them */
	stats_shmem_startup();
	if (!IsUnderPostmaster)
	{
		for (int i = 0; i < SHMEM_NTABLES; i++)
			if (shmem_tables[i]->filtered)
				shmem_filter_rebuild(shmem_tables[i]);
	}
	for (int i = 0; i < SHMEM_NSTRUCTS; i++)
	{
		ShmemStruct *st = shmem_structs[i];
		bool		found;
		void	   *ptr = ShmemInitStruct(st->name, st->size, &found);

		if (!found)
		{
			memset(ptr, 0, st->size);
			st->init(ptr);
		}
		*st->ptr = ptr;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Bits of a filter for max entries: 16 per entry (one bit per key: a
 * missing key finds its bit set about 1 time in 16 when the table is
 * full), a power of two, at least 1024, at most 2^27 (16 MB).
 */
static uint32
shmem_filter_bits(int max)
{
	uint64		want = Max((uint64) max * 16, 1024);

	return (uint32) Min(pg_nextpower2_64(want), (uint64) 1 << 27);
}

static Size
shmem_filter_size(int max)
{
	return MAXALIGN(add_size(offsetof(ShmemFilter, words),
							 mul_size(shmem_filter_bits(max) / 64,
									  sizeof(pg_atomic_uint64))));
}

/* the word and the bit of hash */
static inline pg_atomic_uint64 *
shmem_filter_word(ShmemFilter *f, uint32 hash, uint64 *bit)
{
	uint32		b = hash & f->mask;

	*bit = UINT64CONST(1) << (b % 64);
	return &f->words[b / 64];
}

/*
 * Could the key of hash be in the table?  No lock: true (so the caller
 * looks) unless its bit is clear and no rebuild ran meanwhile.  A bit that
 * an insert has not set yet may be missed: the insert had not happened.
 */
static inline bool
shmem_filter_test(ShmemFilter *f, uint32 hash)
{
	uint32		gen = pg_atomic_read_u32(&f->gen);
	uint64		bit;
	bool		set;

	if (gen & 1)
		return true;
	pg_read_barrier();
	set = (pg_atomic_read_u64(shmem_filter_word(f, hash, &bit)) & bit) != 0;
	pg_read_barrier();
	return set || pg_atomic_read_u32(&f->gen) != gen;
}

/* Set the bit of hash, with its partition lock held exclusively. */
static inline void
shmem_filter_set(ShmemFilter *f, uint32 hash)
{
	uint64		bit;
	pg_atomic_uint64 *w = shmem_filter_word(f, hash, &bit);

	/* other partitions set bits of the same word concurrently */
	if ((pg_atomic_read_u64(w) & bit) == 0)
		pg_atomic_fetch_or_u64(w, bit);
}

/* Rebuild a table's filter; see shmem.h. */
void
shmem_filter_rebuild(ShmemTable *table)
{
	ShmemFilter *f = table->filter;
	uint32		nwords;
	HASH_SEQ_STATUS seq;
	ShmemKey   *e;

	if (f == NULL)
		return;
	nwords = (f->mask + 1) / 64;
	pg_atomic_add_fetch_u32(&f->gen, 1);	/* odd: readers take the lock */
	pg_write_barrier();
	for (uint32 w = 0; w < nwords; w++)
		pg_atomic_write_u64(&f->words[w], 0);
	hash_seq_init(&seq, table->htab);
	while ((e = (ShmemKey *) hash_seq_search(&seq)) != NULL)
	{
		uint64		bit;
		pg_atomic_uint64 *w = shmem_filter_word(f, get_hash_value(table->htab, e), &bit);

		pg_atomic_write_u64(w, pg_atomic_read_u64(w) | bit);
	}
	pg_write_barrier();
	pg_atomic_add_fetch_u32(&f->gen, 1);
}

/* Hash of a key: its database and the used bytes of its name. */
static uint32
shmem_key_hash(const void *key, Size keysize)
{
	const ShmemKey *k = (const ShmemKey *) key;

	return hash_combine(murmurhash32(k->dbid),
						hash_bytes((const unsigned char *) k->name, k->len));
}

/* 0 if two keys are equal, as dynahash's match functions answer. */
static int
shmem_key_match(const void *key1, const void *key2, Size keysize)
{
	const ShmemKey *a = (const ShmemKey *) key1;
	const ShmemKey *b = (const ShmemKey *) key2;

	if (a->dbid != b->dbid || a->len != b->len)
		return 1;
	return memcmp(a->name, b->name, a->len);
}

/* 55000 unless the table exists. */
void
shmem_require(ShmemTable *table, const char *funcname)
{
	if (table->htab == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs resilience in shared_preload_libraries", funcname),
				 errdetail("Rate limits and circuit breakers keep their state in shared memory, which is set up only when the server starts."),
				 errhint("Add resilience to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* A name argument as a table key. */
void
shmem_key_from_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
				   ShmemKey *key)
{
	text	   *t;
	int			len;

	args_not_null_hint(fcinfo, argno, argname,
					   "Name what is limited, for example 'api:' || user_id.");
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname),
				 errhint("Name what is limited, for example 'api:' || user_id.")));
	if (len > SHMEM_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long (%d bytes)", argname, len),
				 errdetail("The limit is %d bytes.", SHMEM_NAME_MAX),
				 errhint("Pass a shorter name, or a hash of a long one, such as md5(name).")));
	key->dbid = MyDatabaseId;
	key->len = (uint16) len;
	memcpy(key->name, VARDATA_ANY(t), len);
	key->name[len] = '\0';
}

/*
 * Forget the entries of databases that no longer exist; returns how many.
 * No table's own rule drops an operator's entries (a forced-open or disabled
 * breaker), and once their database is dropped nothing can reach them to
 * reset them: they would hold a full table full until a restart.  The
 * catalog is read with no partition lock held (a lookup may read from disk
 * and take locks of its own), between a shared pass that lists the
 * databases and an exclusive one that removes; only inside a transaction.
 * An entry is made only by a backend connected to its database, so a
 * database found missing gets no new entries.
 */
static int
shmem_forget_dropped(ShmemTable *table)
{
	HASH_SEQ_STATUS seq;
	ShmemKey   *e;
	Oid		   *dbs;
	int			ndbs = 0;
	int			ngone = 0;
	int			removed = 0;
	int			cap = *table->max_entries;

	if (!IsTransactionState())
		return 0;
	dbs = palloc(sizeof(Oid) * Max(cap, 1));
	shmem_lock_all(table, LW_SHARED);
	hash_seq_init(&seq, table->htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		int			i;

		for (i = 0; i < ndbs && dbs[i] != e->dbid; i++)
			;
		if (i == ndbs && ndbs < cap)
			dbs[ndbs++] = e->dbid;
	}
	shmem_unlock_all(table);

	for (int i = 0; i < ndbs; i++)
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbs[i])))
			dbs[ngone++] = dbs[i];
	if (ngone > 0)
	{
		shmem_lock_all(table, LW_EXCLUSIVE);
		hash_seq_init(&seq, table->htab);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			for (int i = 0; i < ngone; i++)
			{
				if (dbs[i] == e->dbid)
				{
					/* removing the entry just returned is allowed */
					hash_search(table->htab, e, HASH_REMOVE, NULL);
					removed++;
					break;
				}
			}
		}
		if (removed > 0)
		{
			pg_atomic_sub_fetch_u32(&table->header->count, removed);
			pg_atomic_add_fetch_u64(&table->header->evicted, removed);
			shmem_filter_rebuild(table);
		}
		shmem_unlock_all(table);
	}
	pfree(dbs);
	return removed;
}

/*
 * Make room in a full table: every partition lock, then the owner's rule.
 * The callback removes entries only after anything that can fail (its
 * allocations), so an error leaves the count right.
 */
static void
shmem_evict(ShmemTable *table)
{
	int			removed;
	uint32		count;

	shmem_lock_all(table, LW_EXCLUSIVE);
	count = pg_atomic_read_u32(&table->header->count);
	/* another backend may have made room meanwhile */
	if (count < (uint32) *table->max_entries)
	{
		shmem_unlock_all(table);
		return;
	}
	removed = table->evict(table->htab, (int) count, *table->max_entries);
	if (removed > 0)
	{
		pg_atomic_sub_fetch_u32(&table->header->count, removed);
		pg_atomic_add_fetch_u64(&table->header->evicted, removed);
		shmem_filter_rebuild(table);
	}
	shmem_unlock_all(table);
	if (removed == 0 && shmem_forget_dropped(table) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("%s is full (%d entries)", table->setting, *table->max_entries),
				 errdetail("Every entry is in use, and none may be dropped."),
				 errhint("Raise %s and restart the server.", table->setting)));
}

/* Look up (and optionally create) an entry; see shmem.h. */
void *
shmem_lookup(ShmemTable *table, const ShmemKey *key, bool create,
			 bool *found, LWLock **lock)
{
	uint32		hash = get_hash_value(table->htab, key);
	LWLock	   *part = &table->locks[hash % SHMEM_PARTITIONS].lock;
	void	   *entry;

	if (!create && table->filter != NULL && !shmem_filter_test(table->filter, hash))
	{
		*found = false;
		*lock = part;
		return NULL;
	}
	LWLockAcquire(part, LW_SHARED);
	entry = hash_search_with_hash_value(table->htab, key, hash, HASH_FIND, NULL);
	if (entry != NULL || !create)
	{
		if (entry == NULL)
			LWLockRelease(part);
		*found = entry != NULL;
		*lock = part;
		return entry;
	}
	LWLockRelease(part);

	for (;;)
	{
		LWLockAcquire(part, LW_EXCLUSIVE);
		entry = hash_search_with_hash_value(table->htab, key, hash, HASH_FIND, NULL);
		if (entry != NULL)
		{
			/* entered meanwhile; exclusive serves as well as shared */
			*found = true;
			*lock = part;
			return entry;
		}
		if (pg_atomic_fetch_add_u32(&table->header->count, 1) < (uint32) *table->max_entries)
		{
			bool		dummy;

			entry = hash_search_with_hash_value(table->htab, key, hash,
												HASH_ENTER_NULL, &dummy);
			if (entry == NULL)
			{
				/* cannot happen: the slot was reserved */
				pg_atomic_sub_fetch_u32(&table->header->count, 1);
				LWLockRelease(part);
				elog(ERROR, "no free entry in %s", table->name);
			}
			if (table->filter != NULL)
				shmem_filter_set(table->filter, hash);
			*found = false;
			*lock = part;
			return entry;
		}
		pg_atomic_sub_fetch_u32(&table->header->count, 1);
		LWLockRelease(part);
		shmem_evict(table);
	}
}

/* qsort: Oids in order */
static int
shmem_cmp_oid(const void *a, const void *b)
{
	Oid			oa = *(const Oid *) a;
	Oid			ob = *(const Oid *) b;

	return (oa > ob) - (oa < ob);
}

/*
 * The database that costly evictions take from (see shmem_evict_costly),
 * given the databases of the candidates (sorted here).
 */
static Oid
shmem_evict_database(Oid *dbs, int n)
{
	Oid			largest = MyDatabaseId;
	int			largest_n = 0;
	int			mine = 0;
	int			ndb = 0;

	if (n == 0)
		return MyDatabaseId;
	qsort(dbs, n, sizeof(Oid), shmem_cmp_oid);
	for (int i = 0; i < n;)
	{
		int			j = i;

		while (j < n && dbs[j] == dbs[i])
			j++;
		ndb++;
		if (dbs[i] == MyDatabaseId)
			mine = j - i;
		if (j - i > largest_n)
		{
			largest_n = j - i;
			largest = dbs[i];
		}
		i = j;
	}
	return (mine > 0 && mine >= n / ndb) ? MyDatabaseId : largest;
}

/* Drop costly entries of one database; see shmem.h. */
int
shmem_evict_costly(HTAB *htab, void **entries, int n, int want, Oid *dbs)
{
	Oid			db;
	int			removed = 0;

	if (n <= 0 || want <= 0)
		return 0;
	for (int i = 0; i < n; i++)
		dbs[i] = ((ShmemKey *) entries[i])->dbid;
	db = shmem_evict_database(dbs, n);
	for (int i = 0; i < n && removed < want; i++)
	{
		ShmemKey   *key = (ShmemKey *) entries[i];

		if (key->dbid != db)
			continue;
		hash_search(htab, key, HASH_REMOVE, NULL);
		removed++;
	}
	return removed;
}

/* Remove an entry. */
bool
shmem_remove(ShmemTable *table, const ShmemKey *key)
{
	uint32		hash = get_hash_value(table->htab, key);
	LWLock	   *part = &table->locks[hash % SHMEM_PARTITIONS].lock;
	bool		found;

	LWLockAcquire(part, LW_EXCLUSIVE);
	hash_search_with_hash_value(table->htab, key, hash, HASH_REMOVE, &found);
	if (found)
		pg_atomic_sub_fetch_u32(&table->header->count, 1);
	LWLockRelease(part);
	return found;
}

/* Every partition lock, in order (the only order used, so no deadlock). */
void
shmem_lock_all(ShmemTable *table, LWLockMode mode)
{
	for (int i = 0; i < SHMEM_PARTITIONS; i++)
		LWLockAcquire(&table->locks[i].lock, mode);
}

/* Release what shmem_lock_all took. */
void
shmem_unlock_all(ShmemTable *table)
{
	for (int i = SHMEM_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&table->locks[i].lock);
}
