/*-------------------------------------------------------------------------
 *
 * spiplan.h
 *		The one way resilience connects to SPI, prepares statements, keeps
 *		saved plans and caches them.
 *
 * Three shapes of use:
 *
 * 1. Connect, checked:
 *
 *		spiplan_connect();					(or spiplan_connect_ext(options))
 *		...
 *		SPI_finish();
 *
 * 2. A fixed statement of the extension's own, prepared once per backend
 *    (idempotency's claim/replay statements):
 *
 *		static SPIPlanPtr insert_plan = NULL;
 *		...
 *		spiplan_saved(&insert_plan, "INSERT ...", 4, argtypes);
 *
 *    The plan is saved (SPI_keepplan), so the plan cache revalidates it
 *    after DDL; it lives until the backend exits.
 *
 * 3. A bounded cache of plans for SQL built or supplied at run time
 *    (sqlexec's caller SQL, keyset's page queries).
 *    An entry is the caller's struct starting with an SpiPlanEntry and is
 *    keyed by bytes the caller chooses (everything the plan depends on:
 *    the SQL, parameter count, role, search_path ...):
 *
 *		typedef struct MyPlan { SpiPlanEntry entry; int nargs; ... } MyPlan;
 *		static SpiPlanCache *cache = NULL;
 *
 *		if (cache == NULL)
 *			cache = spiplan_cache_create("resilience my plans", 256);
 *		p = (MyPlan *) spiplan_cache_lookup(cache, key, keylen);
 *		if (p == NULL)
 *		{
 *			p = (MyPlan *) spiplan_cache_entry_new(cache, key, keylen,
 *												   sizeof(MyPlan));
 *			... allocate what p points to in p->entry.cxt ...
 *			p->entry.plan = spiplan_prepare(sql, nargs, argtypes);
 *			spiplan_cache_insert(cache, &p->entry);
 *		}
 *		spiplan_cache_pin(&p->entry);
 *		PG_TRY(); { ... SPI_execute_plan(p->entry.plan, ...) ... }
 *		PG_FINALLY(); { spiplan_cache_unpin(&p->entry); }
 *		PG_END_TRY();
 *
 *    Rules:
 *    - An entry returned by lookup or insert stays valid until the next
 *      call into the same cache, which may evict it.  Anything that runs
 *      SQL may call into the cache (a function in the SQL may prepare its
 *      own), so pin an entry across such code and unpin it on every path
 *      (PG_FINALLY).  Unpinning is safe while an error unwinds.
 *    - At most `capacity` entries: inserting into a full cache evicts the
 *      least recently used unpinned entries.  Pinned entries are never
 *      freed; an evicted or replaced pinned entry is freed after its last
 *      unpin, at the next call into the cache.
 *    - Until spiplan_cache_insert the entry's context hangs under the
 *      caller's memory context, so an error while building it frees it.
 *      insert keeps entry.plan (if not NULL) and takes the context over.
 *      An entry without a plan caches only memory (keyset's resolved sort
 *      specs could use that).
 *    - Invalidation: from a syscache or relcache callback, call
 *      spiplan_cache_mark_stale(); a stale entry is rebuilt on its next
 *      lookup (lookup returns NULL).  The callback itself frees nothing.
 *      An entry built while an invalidation arrived may be inserted with
 *      entry.valid = false: it serves nobody and is rebuilt next time.
 *
 * Users of the cache: sqlexec.c (caller SQL) and keyset_plan.c (page
 * queries, keyed by the bytes of KeysetPlanKey followed by the normalized
 * spec and, with a filter, its text, search_path and literal settings).
 * keyset's resolved specs still have their own pinned hash table in
 * keyset_cache.c; they could move here as entries with entry.plan = NULL,
 * its pin bookkeeping (keyset_unpin, keyset_sweep, keyset_unlink,
 * keyset_cache_trim, keyset_cache_insert) going with them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_SPIPLAN_H
#define RESILIENCE_SPIPLAN_H

#include "postgres.h"

#include "executor/spi.h"
#include "lib/ilist.h"

/* SPI_connect, ERROR if it fails. */
extern void spiplan_connect(void);

/* SPI_connect_ext(options), ERROR if it fails. */
extern void spiplan_connect_ext(int options);

/* SPI_prepare, ERROR naming the SQL if it fails; the plan is not saved. */
extern SPIPlanPtr spiplan_prepare(const char *sql, int nargs, Oid *argtypes);

/* SPI_prepare_params, ERROR if it fails; the plan is not saved. */
extern SPIPlanPtr spiplan_prepare_params(const char *sql,
										 ParserSetupHook setup, void *arg,
										 int cursor_options);

/* SPI_keepplan, ERROR if it fails. */
extern void spiplan_keep(SPIPlanPtr plan);

/* *slot, prepared and saved on first use (SPI connected). */
extern SPIPlanPtr spiplan_saved(SPIPlanPtr *slot, const char *sql, int nargs,
								Oid *argtypes);

/* As spiplan_saved, always with the generic plan (hot fixed statements). */
extern SPIPlanPtr spiplan_saved_generic(SPIPlanPtr *slot, const char *sql,
										int nargs, Oid *argtypes);

typedef struct SpiPlanCache SpiPlanCache;

/* The header of every cache entry; the caller's fields follow it. */
typedef struct SpiPlanEntry
{
	/* the caller's */
	MemoryContext cxt;			/* owns the entry and what it points to */
	SPIPlanPtr	plan;			/* set before insert (or NULL); saved by it */
	bool		valid;			/* false: stale, rebuilt at the next lookup */

	/* the cache's */
	SpiPlanCache *cache;
	const char *key;			/* a copy in cxt */
	Size		keylen;
	uint32		hash;
	int			pins;
	bool		linked;			/* in the cache's hash table */
	dlist_node	lru;			/* while linked; head = most recently used */
	struct SpiPlanEntry *next_dead;	/* unlinked and unpinned: to free */
} SpiPlanEntry;

/* A cache of at most capacity entries, in CacheMemoryContext. */
extern SpiPlanCache *spiplan_cache_create(const char *name, int capacity);

/* The valid entry for key, made most recently used; NULL if none. */
extern SpiPlanEntry *spiplan_cache_lookup(SpiPlanCache *cache,
										  const void *key, Size keylen);

/*
 * A zeroed entry of size bytes (at least sizeof(SpiPlanEntry)) for key, in
 * a fresh memory context under CurrentMemoryContext; valid = true.
 */
extern SpiPlanEntry *spiplan_cache_entry_new(SpiPlanCache *cache,
											 const void *key, Size keylen,
											 Size size);

/*
 * Save entry->plan and add the entry, replacing any entry with its key
 * (made meanwhile by SQL that ran while it was built) and evicting the
 * least recently used unpinned entries beyond capacity.
 */
extern void spiplan_cache_insert(SpiPlanCache *cache, SpiPlanEntry *entry);

/* Keep an entry from being freed while it is in use. */
extern void spiplan_cache_pin(SpiPlanEntry *entry);

/* Undo one pin; safe while an error unwinds (frees nothing itself). */
extern void spiplan_cache_unpin(SpiPlanEntry *entry);

/*
 * Mark stale every entry for which stale(entry, arg) is true (every entry
 * if stale is NULL).  Frees nothing: safe from invalidation callbacks.
 */
extern void spiplan_cache_mark_stale(SpiPlanCache *cache,
									 bool (*stale) (SpiPlanEntry *entry, void *arg),
									 void *arg);

/* Number of entries in the cache (for tests and assertions). */
extern int	spiplan_cache_count(SpiPlanCache *cache);

#endif							/* RESILIENCE_SPIPLAN_H */
