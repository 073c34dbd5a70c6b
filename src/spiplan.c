/*-------------------------------------------------------------------------
 *
 * spiplan.c
 *		Checked SPI connection and preparation, saved plans, and a bounded
 *		cache of saved plans with pinning.  See spiplan.h for the contract.
 *
 * The cache is a dynahash from (hash, key bytes) to entries, plus an LRU
 * list of the same entries.  Each entry is its own memory context (the
 * entry struct is its first allocation), so freeing one is SPI_freeplan of
 * its saved plan plus one MemoryContextDelete.
 *
 * Invariants:
 * - An entry is linked (in the hash table and the LRU list, counted) or
 *   not; the cache frees an unlinked entry as soon as nobody pins it, but
 *   only from spiplan_cache_lookup/insert, never from unpin or from an
 *   invalidation callback: those run while errors unwind or at arbitrary
 *   catalog accesses, where freeing a plan that a caller higher up the
 *   stack is still using would be unsafe.  Unlinked entries still pinned
 *   wait on the cache's dead list once their last pin goes.
 * - A pinned entry is never freed; eviction skips it, so a cache whose
 *   entries are all pinned (deep recursion) may briefly exceed capacity.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "spiplan.h"

struct SpiPlanCache
{
	const char *name;
	MemoryContext cxt;			/* the hash table and every linked entry */
	HTAB	   *htab;
	dlist_head	lru;			/* linked entries, most recently used first */
	int			count;			/* linked entries */
	int			capacity;
	SpiPlanEntry *dead;			/* unlinked, unpinned, to be freed */
};

/* dynahash key: points at the bytes it is looked up with, or at an entry's */
typedef struct SpiPlanKey
{
	uint32		hash;
	Size		keylen;
	const char *key;
} SpiPlanKey;

typedef struct SpiPlanSlot
{
	SpiPlanKey	key;			/* must be first */
	SpiPlanEntry *entry;
} SpiPlanSlot;

/* SPI_connect, checked. */
void
spiplan_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

/* SPI_connect_ext, checked. */
void
spiplan_connect_ext(int options)
{
	int			rc = SPI_connect_ext(options);

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed: %s", SPI_result_code_string(rc));
}

/* SPI_prepare, checked. */
SPIPlanPtr
spiplan_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	return plan;
}

/* SPI_prepare_params, checked. */
SPIPlanPtr
spiplan_prepare_params(const char *sql, ParserSetupHook setup, void *arg,
					   int cursor_options)
{
	SPIPlanPtr	plan = SPI_prepare_params(sql, setup, arg, cursor_options);

	/* errors in the SQL itself are raised by the parser, not reported here */
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_params failed: %s",
			 SPI_result_code_string(SPI_result));
	return plan;
}

/* SPI_keepplan, checked. */
void
spiplan_keep(SPIPlanPtr plan)
{
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed: %s",
			 SPI_result_code_string(SPI_result));
}

/* A fixed statement, prepared and saved into *slot on first use. */
SPIPlanPtr
spiplan_saved(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = spiplan_prepare(sql, nargs, argtypes);

		spiplan_keep(plan);
		*slot = plan;
	}
	return *slot;
}

/*
 * As spiplan_saved, for a statement run many times a second whose custom
 * plans the plan cache would judge cheaper than the generic one (a LIMIT
 * $n, a CASE on a parameter): planned once, never again per call.
 */
SPIPlanPtr
spiplan_saved_generic(SPIPlanPtr *slot, const char *sql, int nargs,
					  Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
											  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare_cursor failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		spiplan_keep(plan);
		*slot = plan;
	}
	return *slot;
}

/* dynahash: the precomputed hash. */
static uint32
spiplan_key_hash(const void *key, Size keysize)
{
	return ((const SpiPlanKey *) key)->hash;
}

/* dynahash: 0 if the keys are equal. */
static int
spiplan_key_match(const void *key1, const void *key2, Size keysize)
{
	const SpiPlanKey *a = (const SpiPlanKey *) key1;
	const SpiPlanKey *b = (const SpiPlanKey *) key2;

	if (a->hash != b->hash || a->keylen != b->keylen)
		return 1;
	return memcmp(a->key, b->key, a->keylen);
}

/* A cache of at most capacity entries. */
SpiPlanCache *
spiplan_cache_create(const char *name, int capacity)
{
	MemoryContext cxt;
	SpiPlanCache *cache;
	HASHCTL		ctl;

	Assert(capacity > 0);
	cxt = AllocSetContextCreate(CacheMemoryContext, "resilience plan cache",
								ALLOCSET_SMALL_SIZES);
	MemoryContextSetIdentifier(cxt, name);
	cache = MemoryContextAllocZero(cxt, sizeof(SpiPlanCache));
	cache->name = name;
	cache->cxt = cxt;
	cache->capacity = capacity;
	dlist_init(&cache->lru);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(SpiPlanKey);
	ctl.entrysize = sizeof(SpiPlanSlot);
	ctl.hash = spiplan_key_hash;
	ctl.match = spiplan_key_match;
	ctl.hcxt = cxt;
	cache->htab = hash_create(name, Min(capacity, 64), &ctl,
							  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE |
							  HASH_CONTEXT);
	return cache;
}

/* Free an unlinked, unpinned entry and everything it owns. */
static void
spiplan_entry_free(SpiPlanEntry *e)
{
	Assert(!e->linked && e->pins == 0);
	if (e->plan != NULL)
		SPI_freeplan(e->plan);
	MemoryContextDelete(e->cxt);
}

/* Free the unlinked entries whose last pin has gone. */
static void
spiplan_cache_sweep(SpiPlanCache *cache)
{
	while (cache->dead != NULL)
	{
		SpiPlanEntry *e = cache->dead;

		cache->dead = e->next_dead;
		spiplan_entry_free(e);
	}
}

/* Take an entry out of the cache; free it now unless it is pinned. */
static void
spiplan_cache_unlink(SpiPlanCache *cache, SpiPlanEntry *e)
{
	SpiPlanKey	k;

	Assert(e->linked);
	k.hash = e->hash;
	k.keylen = e->keylen;
	k.key = e->key;
	hash_search(cache->htab, &k, HASH_REMOVE, NULL);
	dlist_delete(&e->lru);
	e->linked = false;
	cache->count--;
	if (e->pins == 0)
		spiplan_entry_free(e);
}

/* The valid entry for key, or NULL (a stale one is dropped). */
SpiPlanEntry *
spiplan_cache_lookup(SpiPlanCache *cache, const void *key, Size keylen)
{
	SpiPlanKey	k;
	SpiPlanSlot *slot;
	SpiPlanEntry *e;

	spiplan_cache_sweep(cache);
	k.hash = hash_bytes((const unsigned char *) key, (int) keylen);
	k.keylen = keylen;
	k.key = key;
	slot = (SpiPlanSlot *) hash_search(cache->htab, &k, HASH_FIND, NULL);
	if (slot == NULL)
		return NULL;
	e = slot->entry;
	if (!e->valid)
	{
		spiplan_cache_unlink(cache, e);
		return NULL;
	}
	dlist_move_head(&cache->lru, &e->lru);
	return e;
}

/* A new, unlinked entry for key in its own context. */
SpiPlanEntry *
spiplan_cache_entry_new(SpiPlanCache *cache, const void *key, Size keylen,
						Size size)
{
	MemoryContext cxt;
	SpiPlanEntry *e;
	char	   *copy;

	Assert(size >= sizeof(SpiPlanEntry));
	/* under the caller's context until inserted, so an error frees it */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "resilience cached plan",
								ALLOCSET_SMALL_SIZES);
	e = MemoryContextAllocZero(cxt, size);
	copy = MemoryContextAlloc(cxt, Max(keylen, 1));
	memcpy(copy, key, keylen);
	e->cxt = cxt;
	e->valid = true;
	e->cache = cache;
	e->key = copy;
	e->keylen = keylen;
	e->hash = hash_bytes((const unsigned char *) copy, (int) keylen);
	return e;
}

/* Save the plan and link the entry, evicting beyond capacity. */
void
spiplan_cache_insert(SpiPlanCache *cache, SpiPlanEntry *e)
{
	SpiPlanKey	k;
	SpiPlanSlot *slot;
	bool		found;
	dlist_node *cur;

	Assert(e->cache == cache && !e->linked);
	spiplan_cache_sweep(cache);

	k.hash = e->hash;
	k.keylen = e->keylen;
	k.key = e->key;
	/* SQL run while this entry was built may have made one for the key */
	slot = (SpiPlanSlot *) hash_search(cache->htab, &k, HASH_FIND, NULL);
	if (slot != NULL)
		spiplan_cache_unlink(cache, slot->entry);

	/* least recently used first; pinned entries stay */
	cur = dlist_is_empty(&cache->lru) ? NULL : dlist_tail_node(&cache->lru);
	while (cur != NULL && cache->count >= cache->capacity)
	{
		dlist_node *prev = dlist_has_prev(&cache->lru, cur) ?
			dlist_prev_node(&cache->lru, cur) : NULL;
		SpiPlanEntry *old = dlist_container(SpiPlanEntry, lru, cur);

		if (old->pins == 0)
			spiplan_cache_unlink(cache, old);
		cur = prev;
	}

	if (e->plan != NULL)
		spiplan_keep(e->plan);
	MemoryContextSetParent(e->cxt, cache->cxt);
	slot = (SpiPlanSlot *) hash_search(cache->htab, &k, HASH_ENTER, &found);
	Assert(!found);
	slot->entry = e;
	dlist_push_head(&cache->lru, &e->lru);
	e->linked = true;
	cache->count++;
}

/* Pin an entry. */
void
spiplan_cache_pin(SpiPlanEntry *e)
{
	e->pins++;
}

/* Unpin an entry; an unlinked one is freed at the next cache call. */
void
spiplan_cache_unpin(SpiPlanEntry *e)
{
	Assert(e->pins > 0);
	if (--e->pins == 0 && !e->linked)
	{
		e->next_dead = e->cache->dead;
		e->cache->dead = e;
	}
}

/* Mark entries stale; frees nothing. */
void
spiplan_cache_mark_stale(SpiPlanCache *cache,
						 bool (*stale) (SpiPlanEntry *entry, void *arg),
						 void *arg)
{
	dlist_iter	iter;

	dlist_foreach(iter, &cache->lru)
	{
		SpiPlanEntry *e = dlist_container(SpiPlanEntry, lru, iter.cur);

		if (stale == NULL || stale(e, arg))
			e->valid = false;
	}
}

/* Number of linked entries. */
int
spiplan_cache_count(SpiPlanCache *cache)
{
	return cache->count;
}
