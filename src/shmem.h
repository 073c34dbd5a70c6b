/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		Shared-memory tables of named entries (rate limits, breakers, the
 *		monitoring counters' names), the hooks that create them and the
 *		settings that size them.
 *
 * A ShmemTable is a fixed-size, partitioned shared hash table of entries
 * that start with a ShmemKey.  The module that owns a table declares it
 * (a ShmemTable with its name, entry size, size setting and eviction
 * callback) and lists it in shmem.c's table of tables; shmem.c requests its
 * memory and locks in shmem_request_hook and attaches to it in
 * shmem_startup_hook.  Without shared_preload_libraries the tables do not
 * exist and shmem_require() raises 55000.
 *
 * Locking: a partition lock (LWLock, one of SHMEM_PARTITIONS per table)
 * guards the existence of the entries that hash to it; shared mode is
 * enough to read or change an entry's fields, which its own spinlock
 * guards.  So calls on one hot key take the partition lock in shared mode
 * (one atomic add) and a spinlock held for a few dozen instructions, and
 * calls on different keys mostly touch different partitions.  Creating or
 * removing an entry takes its partition lock exclusively; eviction takes
 * every partition lock exclusively, in partition order.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_SHMEM_H
#define RESILIENCE_SHMEM_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"

/* longest rate limit key or breaker name, in bytes */
#define SHMEM_NAME_MAX		127
#define SHMEM_PARTITIONS	16

/*
 * An entry's hash key: the database and the name (NUL-terminated; only its
 * len bytes are hashed and compared, so a short name costs little).  Names
 * are per database.
 */
typedef struct ShmemKey
{
	Oid			dbid;
	uint16		len;
	char		name[SHMEM_NAME_MAX + 1];
} ShmemKey;

/* The part of a table in shared memory besides the hash table itself. */
typedef struct ShmemTableHeader
{
	pg_atomic_uint32 count;		/* entries in the table */
	pg_atomic_uint64 evicted;	/* entries ever evicted */
} ShmemTableHeader;

/*
 * Eviction callback: called with every partition lock held exclusively
 * when the table is full; removes entries (hash_search HASH_REMOVE) by the
 * table's rule and returns how many.  Returning 0 makes the insert fail.
 */
typedef int (*ShmemEvictFunc) (HTAB *htab, int count, int max);

/*
 * A table's presence filter (tables with filtered set): one bit per hash
 * value modulo nbits, set when an entry is added, so that a lookup that
 * must not add can tell most missing keys without a lock.  An eviction
 * rebuilds it from the entries left; gen is odd while it does, and readers
 * who see it change (a seqlock) take the lock instead.
 */
typedef struct ShmemFilter
{
	pg_atomic_uint32 gen;		/* odd while being rebuilt */
	uint32		mask;			/* nbits - 1 (nbits a power of two) */
	pg_atomic_uint64 words[FLEXIBLE_ARRAY_MEMBER];	/* nbits / 64 */
} ShmemFilter;

typedef struct ShmemTable
{
	const char *name;			/* shared memory and LWLock tranche name */
	Size		entrysize;		/* starts with ShmemKey */
	int		   *max_entries;	/* the size setting */
	const char *setting;		/* its name, for messages */
	ShmemEvictFunc evict;
	bool		filtered;		/* keep a presence filter (ShmemFilter) */
	/* attached in shmem_startup_hook; NULL without preloading */
	HTAB	   *htab;
	ShmemTableHeader *header;
	LWLockPadded *locks;
	ShmemFilter *filter;		/* NULL unless filtered */
} ShmemTable;

/* the settings (PGC_POSTMASTER) */
extern int	shmem_max_rate_limit_keys;
extern int	shmem_max_breakers;
extern int	shmem_max_stats_names;

/* the tables, owned by limit.c and breaker.c */
extern ShmemTable limit_table;
extern ShmemTable breaker_table;
extern ShmemTable stats_name_table;	/* stats.c: per-name counters */

/*
 * A fixed-size struct in shared memory (the queue's wakeup slots): shmem.c
 * requests size bytes and, at startup, points *ptr at them, calling init
 * on the first attach.  *ptr stays NULL without preloading.
 */
typedef struct ShmemStruct
{
	const char *name;			/* shared memory name */
	Size		size;
	void		(*init) (void *ptr);	/* zeroed memory to set up */
	void	  **ptr;
} ShmemStruct;

/* the structs, owned by queue.c */
extern ShmemStruct queue_wakeup_struct;

/* _PG_init: define the size settings; install the hooks when preloading. */
extern void shmem_init(void);

/*
 * 55000 naming funcname, with the hint to preload the library, unless the
 * table exists.
 */
extern void shmem_require(ShmemTable *table, const char *funcname);

/*
 * Fill *key from a text argument: 22004 if NULL, 22023 if empty or longer
 * than SHMEM_NAME_MAX bytes.  argno is the argument's position.
 */
extern void shmem_key_from_arg(FunctionCallInfo fcinfo, int argno,
							   const char *argname, ShmemKey *key);

/*
 * Look up key.  Returns the entry with its partition lock held (*lock) in
 * shared mode, or, when create is set and it was missing, a new entry
 * (*found false, only its key set) with the lock held exclusively, which
 * the caller must initialise before releasing.  When create is not set and
 * the key is missing, returns NULL with no lock held; in a filtered table
 * such a lookup takes no lock at all for most missing keys, and may then
 * miss an entry that another backend is adding at that moment.  A full
 * table is first made room in by its eviction rule; 53400 if that frees
 * nothing.
 */
extern void *shmem_lookup(ShmemTable *table, const ShmemKey *key,
						  bool create, bool *found, LWLock **lock);

/*
 * For an eviction callback: drop up to want of the n entries (an array of
 * pointers to entries, in the order to drop them) whose loss costs their
 * owners something (a rate limit key not at rest, an open breaker), all of
 * one database: the current one when it holds at least its share of them
 * (n over the number of databases holding any), else the one holding the
 * most, so that a database filling the table pushes out its own entries,
 * not another's.  Returns how many it dropped.  dbs: room for n database
 * OIDs, allocated by the caller before it removed anything (this function
 * allocates nothing, so an eviction never fails halfway through).
 */
extern int	shmem_evict_costly(HTAB *htab, void **entries, int n, int want,
							   Oid *dbs);

/* How many entries the table holds (a moment's reading, without a lock). */
static inline uint32
shmem_count(ShmemTable *table)
{
	return pg_atomic_read_u32(&table->header->count);
}

/*
 * Rebuild a filtered table's presence filter from its entries, with every
 * partition lock held exclusively (or before any backend runs).  Removing
 * entries leaves their bits set, which only costs a lock: eviction and
 * the sweep of dropped databases rebuild it; one who removes entries
 * another way may (stats_reset does).
 */
extern void shmem_filter_rebuild(ShmemTable *table);

/* Remove key; true if it was there. */
extern bool shmem_remove(ShmemTable *table, const ShmemKey *key);

/* Hold every partition lock in mode (for a scan); release them again. */
extern void shmem_lock_all(ShmemTable *table, LWLockMode mode);
extern void shmem_unlock_all(ShmemTable *table);

#endif							/* RESILIENCE_SHMEM_H */
