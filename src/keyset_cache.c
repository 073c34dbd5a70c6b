/*-------------------------------------------------------------------------
 *
 * keyset_cache.c
 *		Per-backend caches of resolved sort specifications and prepared
 *		page queries, their invalidation, and the pins that keep a spec
 *		alive while in use.
 *
 * Prepared page queries live in keyset_plan_cache, a bounded cache of
 * spiplan.h (least recently used unpinned entries are evicted beyond
 * KEYSET_CACHE_MAX; keyset_plan.c builds the entries).  Resolved specs live
 * in a hash table here, keyed by a 64-bit hash (keyset_spec.c compares the
 * full key on a hit), each in its own context under keyset_cache_cxt, which
 * is under CacheMemoryContext.
 *
 * A relcache callback marks every spec and plan of a relation stale when it
 * changes (new index, altered or dropped column, dropped relation), every
 * spec of a simple view whose table's key it used when that table changes,
 * and a
 * syscache callback every entry when a schema changes, since entries carry
 * schema-qualified names in their SQL; plancache revalidates the SPI plans
 * on everything else.  A stale entry is rebuilt on its next use.
 *
 * A page call can run another one (from its filter, a view or a row-level
 * security policy), which may need to evict entries.  So every entry in use
 * is pinned: lookups return pinned entries, and their callers unpin them,
 * also when an error unwinds.  A pinned spec is never freed: a full cache
 * (KEYSET_CACHE_MAX entries) evicts only unpinned ones, and a pinned spec
 * that has to leave its hash table is unlinked and freed once its last user
 * unpins it, on the next cache access (never while an error is unwound:
 * keyset_unpin() only queues it).  spiplan.c keeps the same rules for plans.
 *
 * inval_generation (inval.h) counts the invalidations seen.  Building an
 * entry does catalog lookups, which may deliver an invalidation meant for it
 * before it is in its cache; an entry built while the count moved is stored
 * already stale.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "utils/catcache.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "inval.h"
#include "keyset_int.h"

MemoryContext keyset_cache_cxt = NULL;
HTAB	   *keyset_specs = NULL;
SpiPlanCache *keyset_plan_cache = NULL;
static KeysetEntry *keyset_dead = NULL;	/* unlinked, unpinned, to be freed */

/* spiplan_cache_mark_stale: whether plan e is over relation *arg. */
static bool
keyset_plan_of_rel(SpiPlanEntry *e, void *arg)
{
	return ((KeysetPlan *) e)->relid == *(Oid *) arg;
}

/*
 * Invalidation listener (inval.h): mark the entries of relid (or all) stale.
 * A schema change comes as InvalidOid: entries carry schema-qualified names
 * in their SQL, and renaming a schema invalidates no relation, so every
 * entry goes stale (schemas change rarely).
 */
static void
keyset_invalidate(Oid relid)
{
	HASH_SEQ_STATUS status;
	KeysetSlot *slot;

	if (keyset_specs == NULL)
		return;
	hash_seq_init(&status, keyset_specs);
	while ((slot = hash_seq_search(&status)) != NULL)
	{
		KeysetSpec *spec = (KeysetSpec *) slot->entry;

		if (relid == InvalidOid || spec->relid == relid ||
			(OidIsValid(spec->baserelid) && spec->baserelid == relid))
			spec->entry.valid = false;
		for (int i = 0; i < spec->nindexes; i++)
			if (spec->indexes[i] == relid)
				spec->entry.valid = false;
	}
	spiplan_cache_mark_stale(keyset_plan_cache,
							 relid == InvalidOid ? NULL : keyset_plan_of_rel, &relid);
}

/* Free a spec and what it owns. */
static void
keyset_entry_free(KeysetEntry *e)
{
	Assert(e->pins == 0);
	MemoryContextDelete(((KeysetSpec *) e)->cxt);
}

/* Free the unlinked entries whose last user has gone. */
static void
keyset_sweep(void)
{
	while (keyset_dead != NULL)
	{
		KeysetEntry *e = keyset_dead;

		keyset_dead = e->next_dead;
		keyset_entry_free(e);
	}
}

/* Create the caches on first use; free what waits to be freed. */
void
keyset_init_caches(void)
{
	HASHCTL		ctl;
	HTAB	   *specs;

	if (keyset_specs != NULL)
	{
		keyset_sweep();
		return;
	}
	keyset_plan_cache = spiplan_cache_create("resilience keyset plans", KEYSET_CACHE_MAX);
	keyset_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
											 "resilience keyset cache",
											 ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(KeysetSlot);
	ctl.hcxt = keyset_cache_cxt;
	specs = hash_create("resilience keyset specs", 64, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	/* listening before the table is published: never a cache nobody clears */
	inval_listen(keyset_invalidate);
	keyset_specs = specs;
}

/* Remove an entry from its hash table; free it now unless it is pinned. */
void
keyset_unlink(HTAB *htab, KeysetSlot *slot)
{
	KeysetEntry *e = slot->entry;

	hash_search(htab, &slot->hash, HASH_REMOVE, NULL);
	if (e->pins > 0)
		e->unlinked = true;
	else
		keyset_entry_free(e);
}

/* Release a spec from keyset_get_spec(); safe while an error unwinds. */
void
keyset_unpin(KeysetEntry *e)
{
	Assert(e->pins > 0);
	if (--e->pins == 0 && e->unlinked)
	{
		e->next_dead = keyset_dead;
		keyset_dead = e;
	}
}

/* Make room in a full cache by evicting every entry nobody is using. */
void
keyset_cache_trim(HTAB *htab)
{
	HASH_SEQ_STATUS status;
	KeysetSlot *slot;

	if (hash_get_num_entries(htab) < KEYSET_CACHE_MAX)
		return;
	hash_seq_init(&status, htab);
	while ((slot = hash_seq_search(&status)) != NULL)
	{
		/* removing the current entry during a scan is allowed */
		if (slot->entry->pins == 0)
			keyset_unlink(htab, slot);
	}
}

/*
 * Link a new entry, pinned by its maker, under hash h.  Building it may have
 * run user code that filled the slot meanwhile: that entry goes.
 */
void
keyset_cache_insert(HTAB *htab, uint64 h, KeysetEntry *e)
{
	bool		found;
	KeysetSlot *slot = hash_search(htab, &h, HASH_ENTER, &found);

	if (found)
	{
		keyset_unlink(htab, slot);
		slot = hash_search(htab, &h, HASH_ENTER, NULL);
	}
	e->pins = 1;
	slot->entry = e;
}

/* 64-bit hash of a string, seeded. */
uint64
keyset_hash(const char *s, uint64 seed)
{
	return DatumGetUInt64(hash_any_extended((const unsigned char *) s, strlen(s), seed));
}
