/*-------------------------------------------------------------------------
 *
 * keyset.c
 *		Keyset pagination: resilience.page(), page_json(), page_sql() and
 *		cursor_of().
 *
 * A sort specification ("col [ASC|DESC] [NULLS FIRST|LAST], ...") is parsed
 * here, never pasted into SQL: each column is resolved against the relation
 * and re-emitted with quote_identifier, and every operator comes from the
 * column type's default btree operator family, written as
 * OPERATOR(schema.op).  The order is made total by appending the primary key
 * (or the narrowest unique index on NOT NULL columns) unless the spec already
 * contains one or the caller says the spec is unique.  Appended columns take
 * the direction of the last spec column, so "created_at DESC" becomes
 * "created_at DESC, id DESC" and stays one index's order.  NULLS placement
 * of a NOT NULL column is normalized to the direction's default, so such a
 * spec matches a plain index.
 *
 * "Rows after key v" is one row comparison (k1, k2) > (v1, v2) when every
 * column has the same direction, is NOT NULL and its operators live in one
 * schema; the btree takes it as an index condition.  Otherwise it is a UNION
 * ALL of branches, each an equality prefix plus one range (or IS [NOT] NULL)
 * on the next column, each ORDER BY the key and LIMITed: never an OR chain,
 * which no index serves.  The branches are disjoint and every row of one
 * precedes every row of the next in the sort order (they are emitted nearest
 * the cursor first), so their concatenation is already ordered and the outer
 * query only LIMITs it.  A Merge Append under an outer ORDER BY would also be
 * correct but slower: the equality prefix makes the planner drop those keys
 * from a branch's order, so it would re-sort every branch, and it must start
 * every branch where the Append stops once the page is full.  A non-parallel
 * Append returns its children's rows in order; SPI plans prepared here are
 * never parallel (no CURSOR_OPT_PARALLEL_OK).  An asynchronous Append does
 * not keep that order, and a foreign table whose branch is pushed down whole
 * (ORDER BY and LIMIT included) is a candidate for one; so for foreign
 * tables, and views (which may hide them), the branches are merged by an
 * outer ORDER BY instead.
 *
 * "before" is "after" in the reversed order (every direction and NULLS
 * placement flipped), the rows then returned in the normal order.  page()'s
 * query returns the relation's own columns, mapped by position onto its row
 * type (which also carries dropped columns) on the way into the result
 * tuplestore; page_json() asks for the row as one composite plus its key,
 * to make cursors.
 *
 * Resolved specs and prepared plans are cached per backend: specs keyed by
 * relation OID and the spec text as written (a hit skips the parse too),
 * plans by relation, normalized spec (so spellings that differ only in
 * whitespace, case or explicit defaults share a plan), filter, direction,
 * which cursor values are NULL (that changes the query) and the page size
 * rounded up to a power of two.  The plan's LIMIT is that
 * rounded size, a constant the planner costs within a factor of two of the
 * truth, and SPI's row count stops the executor at the exact size: a LIMIT
 * parameter would make generic plans assume a tenth of the table is read.
 * A relcache callback marks every entry of a relation stale when it changes
 * (new index, altered or dropped column, dropped relation), a syscache
 * callback every entry when a schema changes (its name is in the SQL);
 * plancache revalidates the SPI plans on everything else.
 *
 * A page call can run another one (from its filter, a view or a row-level
 * security policy), which may need to evict entries.  So every entry in use
 * is pinned: keyset_get_spec() and keyset_get_plan() return pinned entries,
 * and their callers unpin them, in PG_CATCH too, so an error never leaves one
 * pinned.  A pinned entry is never freed: a full cache (KEYSET_CACHE_MAX
 * entries) evicts only unpinned ones, and a stale pinned entry is unlinked
 * from its hash table and freed once its last user unpins it (on the next
 * cache access, never while an error is being unwound).
 *
 * Everything runs with the caller's rights through SPI, so grants and
 * row-level security apply; the caller's SELECT privilege on the relation is
 * checked before the relation is locked or its spec resolved.  The
 * application's filter is checked to be one expression and is the only text
 * evaluated with the caller's search_path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/tupconvert.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "parser/scanner.h"
#include "parser/scansup.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "cursor.h"
#include "keyset.h"
#include "resilience.h"

RESILIENCE_FUNCTION(keyset_page);
RESILIENCE_FUNCTION(keyset_page_json);
RESILIENCE_FUNCTION(keyset_page_sql);
RESILIENCE_FUNCTION(keyset_cursor_of);

#define KEYSET_MAX_COLUMNS	32
#define KEYSET_CACHE_MAX	256

static int	keyset_max_page_size = 10000;

/* One resolved sort column. */
typedef struct KeysetColumn
{
	AttrNumber	attnum;
	char	   *name;			/* attname, for messages */
	const char *qname;			/* quote_identifier(attname) */
	Oid			typid;
	bool		desc;
	bool		nulls_first;
	bool		notnull;
	bool		rowtype;		/* a composite (or domain over one) */
	char	   *typesql;		/* schema-qualified type name */
	char	   *lt_sql;			/* OPERATOR(schema.<) of the btree family */
	char	   *gt_sql;
	char	   *eq_sql;
	Oid			outfunc;
	Oid			typioparam;
	int32		typmod;			/* always -1: values travel without typmod */
} KeysetColumn;

/*
 * What an entry of either cache (specs, plans) starts with: the bookkeeping
 * that lets it be pinned while in use (see the file header).
 */
typedef struct KeysetEntry
{
	bool		is_plan;		/* a KeysetPlan, else a KeysetSpec */
	bool		valid;			/* false once its relation changed */
	int			pins;			/* callers using it now */
	bool		unlinked;		/* out of its hash table: free at pins == 0 */
	struct KeysetEntry *next_dead;	/* unlinked and unpinned, to be freed */
} KeysetEntry;

/*
 * A resolved, totalized sort specification over one relation, as cached:
 * cxt holds this struct and all it points to.
 */
typedef struct KeysetSpec
{
	KeysetEntry entry;			/* must be first */
	MemoryContext cxt;
	char	   *order_by;		/* cache key, with relid and assume_unique: */
	bool		assume_unique;	/* the spec as the caller wrote it */

	Oid			relid;
	char	   *relname;		/* for messages */
	char	   *relsql;			/* "schema"."name" */
	const char *alias;			/* quoted relation name, the query's alias */
	char	   *rowtypesql;		/* schema-qualified row type */
	bool		notnull_untrusted;	/* while resolving: a foreign table is
									 * or is under it */
	int			nindexes;		/* the relation's indexes when resolved: */
	Oid		   *indexes;		/* renaming one can change the key chosen */
	int			ncols;
	KeysetColumn cols[KEYSET_MAX_COLUMNS];
	FmgrInfo	send[KEYSET_MAX_COLUMNS];
	FmgrInfo	recv[KEYSET_MAX_COLUMNS];
	Oid			typioparams[KEYSET_MAX_COLUMNS];
	int32		typmods[KEYSET_MAX_COLUMNS];
	char	   *normalized;		/* the totalized spec, every default explicit */
	uint64		normalized_hash;
	uint8		fingerprint[CURSOR_FINGERPRINT_LEN];
	bool		rowcmp;			/* "after" can be one row comparison */
	bool		merge_union;	/* re-sort the UNION ALL (see file header) */
} KeysetSpec;

/* What a page query is prepared for: the key of the plan cache. */
typedef struct KeysetPlanKey
{
	Oid			relid;
	bool		reverse;		/* "before" */
	bool		rowsonly;		/* page()'s columns, not page_json()'s */
	bool		has_cursor;
	uint32		cursor_nulls;	/* bit i: cursor value i is NULL */
	int64		limit;			/* the page size rounded up to a power of two */
	const char *normalized;		/* the spec */
	const char *filter;			/* NULL: none */
	const char *search_path;	/* the filter's parameter types depend on it, */
	Oid			userid;			/* and on the role, through "$user" */
} KeysetPlanKey;

/* A prepared page query, as cached (in keyset_cache_cxt). */
typedef struct KeysetPlan
{
	KeysetEntry entry;			/* must be first */
	KeysetPlanKey key;			/* its strings owned here */
	SPIPlanPtr	plan;
	int			nfparams;		/* $1..$n the filter uses */
	Oid		   *fparamtypes;
} KeysetPlan;

/* A slot of either cache's hash table. */
typedef struct KeysetSlot
{
	uint64		hash;			/* hash key */
	KeysetEntry *entry;
} KeysetSlot;

static MemoryContext keyset_cache_cxt = NULL;
static HTAB *keyset_specs = NULL;
static HTAB *keyset_plans = NULL;
static KeysetEntry *keyset_dead = NULL;	/* unlinked, unpinned, to be freed */

/*
 * Invalidations seen so far.  Building an entry does catalog lookups, which
 * may deliver an invalidation meant for it before it is in its hash table;
 * an entry built while this moved is stored already stale, to be rebuilt on
 * its next use.
 */
static uint64 keyset_inval_count = 0;

/* One request, as every SQL entry point receives it. */
typedef struct KeysetRequest
{
	Oid			relid;
	char	   *order_by;
	text	   *after;
	text	   *before;
	int32		page_size;
	char	   *filter;			/* NULL: none */
	int			nparams;
	Datum	   *params;			/* text values */
	bool	   *paramnulls;
	bool		assume_unique;
} KeysetRequest;

/* Define resilience.max_page_size. */
void
keyset_define_gucs(void)
{
	DefineCustomIntVariable("resilience.max_page_size",
							"Largest page_size resilience.page() and page_json() accept.",
							NULL,
							&keyset_max_page_size,
							10000, 1, INT_MAX - 1,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * caches
 * ------------------------------------------------------------------------
 */

/* Relcache callback: mark the entries of relid (or all) stale. */
static void
keyset_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	KeysetSlot *slot;

	keyset_inval_count++;
	if (keyset_specs == NULL)
		return;
	hash_seq_init(&status, keyset_specs);
	while ((slot = hash_seq_search(&status)) != NULL)
	{
		KeysetSpec *spec = (KeysetSpec *) slot->entry;

		if (relid == InvalidOid || spec->relid == relid)
			spec->entry.valid = false;
		for (int i = 0; i < spec->nindexes; i++)
			if (spec->indexes[i] == relid)
				spec->entry.valid = false;
	}
	hash_seq_init(&status, keyset_plans);
	while ((slot = hash_seq_search(&status)) != NULL)
		if (relid == InvalidOid || ((KeysetPlan *) slot->entry)->key.relid == relid)
			slot->entry->valid = false;
}

/*
 * Syscache callback for schemas: entries carry schema-qualified names in
 * their SQL, and renaming a schema invalidates no relation, so mark every
 * entry stale (schemas change rarely).
 */
static void
keyset_namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	keyset_relcache_callback(arg, InvalidOid);
}

/* Free a cache entry and what it owns. */
static void
keyset_entry_free(KeysetEntry *e)
{
	Assert(e->pins == 0);
	if (e->is_plan)
	{
		KeysetPlan *p = (KeysetPlan *) e;

		if (p->plan)
			SPI_freeplan(p->plan);
		if (p->key.normalized)
			pfree((char *) p->key.normalized);
		if (p->key.filter)
			pfree((char *) p->key.filter);
		if (p->key.search_path)
			pfree((char *) p->key.search_path);
		if (p->fparamtypes)
			pfree(p->fparamtypes);
		pfree(p);
	}
	else
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
static void
keyset_init_caches(void)
{
	HASHCTL		ctl;

	if (keyset_specs != NULL)
	{
		keyset_sweep();
		return;
	}
	keyset_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
											 "resilience keyset cache",
											 ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(KeysetSlot);
	ctl.hcxt = keyset_cache_cxt;
	keyset_specs = hash_create("resilience keyset specs", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	keyset_plans = hash_create("resilience keyset plans", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(keyset_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, keyset_namespace_callback, (Datum) 0);
}

/* Remove an entry from its hash table; free it now unless it is pinned. */
static void
keyset_unlink(HTAB *htab, KeysetSlot *slot)
{
	KeysetEntry *e = slot->entry;

	hash_search(htab, &slot->hash, HASH_REMOVE, NULL);
	if (e->pins > 0)
		e->unlinked = true;
	else
		keyset_entry_free(e);
}

/* Release an entry from keyset_get_spec/plan(); safe while an error unwinds. */
static void
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
static void
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
static void
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
static uint64
keyset_hash(const char *s, uint64 seed)
{
	return DatumGetUInt64(hash_any_extended((const unsigned char *) s, strlen(s), seed));
}

/* ------------------------------------------------------------------------
 * sort specification
 * ------------------------------------------------------------------------
 */

typedef enum SpecTok
{
	SPEC_END,
	SPEC_COMMA,
	SPEC_WORD,					/* identifier or keyword */
	SPEC_QUOTED					/* "quoted identifier" */
} SpecTok;

typedef struct SpecItem
{
	char	   *name;
	int			dir;			/* 0 unspecified, 1 ASC, 2 DESC */
	int			nulls;			/* 0 unspecified, 1 FIRST, 2 LAST */
} SpecItem;

/* ERROR 22023 for a sort specification that is not the grammar. */
static void
spec_syntax_error(const char *spec, int pos, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid sort specification \"%s\"", spec),
			 errdetail("Expected %s at character %d.", expected, pos + 1),
			 errhint("The grammar is: column [ASC | DESC] [NULLS FIRST | NULLS LAST] [, ...].")));
}

/*
 * Next token of a sort spec at *pos: identifiers follow the SQL lexer
 * (unquoted ones are down-cased, "" escapes a quote in quoted ones, both are
 * truncated to NAMEDATALEN).  *start gets the token's offset.
 */
static SpecTok
spec_next(const char *spec, int *pos, int *start, char **word, bool *unquoted_kw)
{
	const char *s = spec + *pos;
	const char *p;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f')
		s++;
	*start = s - spec;
	*word = NULL;
	if (*s == '\0')
	{
		*pos = s - spec;
		return SPEC_END;
	}
	if (*s == ',')
	{
		*pos = s + 1 - spec;
		return SPEC_COMMA;
	}
	if (*s == '"')
	{
		StringInfoData buf;

		initStringInfo(&buf);
		for (p = s + 1;; p++)
		{
			if (*p == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid sort specification \"%s\"", spec),
						 errdetail("Unterminated quoted identifier at character %d.", *start + 1)));
			if (*p == '"')
			{
				if (p[1] == '"')
				{
					appendStringInfoChar(&buf, '"');
					p++;
					continue;
				}
				break;
			}
			appendStringInfoChar(&buf, *p);
		}
		if (buf.len == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid sort specification \"%s\"", spec),
					 errdetail("Zero-length quoted identifier at character %d.", *start + 1)));
		truncate_identifier(buf.data, buf.len, false);
		*word = buf.data;
		*unquoted_kw = false;
		*pos = p + 1 - spec;
		return SPEC_QUOTED;
	}
	if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
		IS_HIGHBIT_SET(*s))
	{
		for (p = s + 1; (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			 (*p >= '0' && *p <= '9') || *p == '_' || *p == '$' ||
			 IS_HIGHBIT_SET(*p); p++)
			;
		*word = downcase_truncate_identifier(s, p - s, false);
		*unquoted_kw = true;
		*pos = p - spec;
		return SPEC_WORD;
	}
	spec_syntax_error(spec, *start, "a column name, ASC, DESC, NULLS or a comma");
	pg_unreachable();
}

/* True if tok is the unquoted keyword kw (already down-cased). */
static inline bool
spec_is_kw(SpecTok tok, const char *word, bool unquoted, const char *kw)
{
	return tok == SPEC_WORD && unquoted && strcmp(word, kw) == 0;
}

/* Parse a sort spec into items; returns their count. */
static int
keyset_parse_spec(const char *spec, SpecItem *items)
{
	int			pos = 0;
	int			start;
	int			n = 0;
	char	   *word;
	bool		unq;
	SpecTok		tok;

	tok = spec_next(spec, &pos, &start, &word, &unq);
	if (tok == SPEC_END)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sort specification is empty"),
				 errhint("Name at least one column, such as \"id\" or \"created_at DESC, id DESC\".")));
	for (;;)
	{
		if (tok != SPEC_WORD && tok != SPEC_QUOTED)
			spec_syntax_error(spec, start, "a column name");
		if (n >= KEYSET_MAX_COLUMNS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sort specification has more than %d columns", KEYSET_MAX_COLUMNS)));
		items[n].name = word;
		items[n].dir = 0;
		items[n].nulls = 0;
		tok = spec_next(spec, &pos, &start, &word, &unq);
		if (spec_is_kw(tok, word, unq, "asc") || spec_is_kw(tok, word, unq, "desc"))
		{
			items[n].dir = strcmp(word, "asc") == 0 ? 1 : 2;
			tok = spec_next(spec, &pos, &start, &word, &unq);
		}
		if (spec_is_kw(tok, word, unq, "nulls"))
		{
			tok = spec_next(spec, &pos, &start, &word, &unq);
			if (spec_is_kw(tok, word, unq, "first"))
				items[n].nulls = 1;
			else if (spec_is_kw(tok, word, unq, "last"))
				items[n].nulls = 2;
			else
				spec_syntax_error(spec, start, "FIRST or LAST after NULLS");
			tok = spec_next(spec, &pos, &start, &word, &unq);
		}
		n++;
		if (tok == SPEC_END)
			break;
		if (tok != SPEC_COMMA)
			spec_syntax_error(spec, start,
							  items[n - 1].nulls ? "a comma or the end" :
							  items[n - 1].dir ? "NULLS, a comma or the end" :
							  "ASC, DESC, NULLS, a comma or the end");
		tok = spec_next(spec, &pos, &start, &word, &unq);
	}
	return n;
}

/* "OPERATOR(schema.name)" for an operator, plus its schema and name. */
static char *
keyset_operator_sql(Oid opno)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator op;
	char	   *res;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	op = (Form_pg_operator) GETSTRUCT(tup);
	res = psprintf("OPERATOR(%s.%s)",
				   quote_identifier(get_namespace_name(op->oprnamespace)),
				   NameStr(op->oprname));
	ReleaseSysCache(tup);
	return res;
}

/* Fill a column's type-dependent fields; ERROR 22023 if it cannot be a key. */
static void
keyset_resolve_type(KeysetSpec *spec, int i, Form_pg_attribute attr)
{
	KeysetColumn *c = &spec->cols[i];
	Oid			opclass = GetDefaultOpClass(attr->atttypid, BTREE_AM_OID);
	Oid			family,
				intype,
				lt,
				gt,
				eq;
	HeapTuple	tup;
	Form_pg_type typ;
	bool		isvarlena;

	if (!OidIsValid(opclass))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" cannot be a sort key", c->name),
				 errdetail("Type %s has no default btree operator class, so it has no sort order an index can serve.",
						   format_type_be(attr->atttypid))));
	family = get_opclass_family(opclass);
	intype = get_opclass_input_type(opclass);
	lt = get_opfamily_member(family, intype, intype, BTLessStrategyNumber);
	gt = get_opfamily_member(family, intype, intype, BTGreaterStrategyNumber);
	eq = get_opfamily_member(family, intype, intype, BTEqualStrategyNumber);
	if (!OidIsValid(lt) || !OidIsValid(gt) || !OidIsValid(eq))
		elog(ERROR, "btree operator family %u lacks <, = or >", family);

	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(attr->atttypid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for type %u", attr->atttypid);
	typ = (Form_pg_type) GETSTRUCT(tup);
	if (!OidIsValid(typ->typsend) || !OidIsValid(typ->typreceive))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" cannot be a sort key", c->name),
				 errdetail("Type %s has no binary send and receive functions to carry it in a cursor.",
						   format_type_be(attr->atttypid))));
	fmgr_info_cxt(typ->typsend, &spec->send[i], CurrentMemoryContext);
	fmgr_info_cxt(typ->typreceive, &spec->recv[i], CurrentMemoryContext);
	spec->typioparams[i] = getTypeIOParam(tup);
	spec->typmods[i] = -1;
	ReleaseSysCache(tup);

	c->typid = attr->atttypid;
	c->typmod = -1;
	c->typesql = format_type_be_qualified(attr->atttypid);
	c->lt_sql = keyset_operator_sql(lt);
	c->gt_sql = keyset_operator_sql(gt);
	c->eq_sql = keyset_operator_sql(eq);
	getTypeOutputInfo(attr->atttypid, &c->outfunc, &isvarlena);
	c->typioparam = spec->typioparams[i];
}

/* The relation's columns named by attnum, or NULL. */
static Form_pg_attribute
keyset_find_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a;
	}
	return NULL;
}

/*
 * Whether key column k of a unique index proves that no two rows tie on
 * attribute attr in the sort: the index must compare with the same equality
 * as the sort (the default btree family's "=", which text_pattern_ops also
 * uses but record_image_ops does not), and under a collation that tells
 * apart at least what the column's collation does (the same one, or two
 * deterministic ones, which both compare bytes).
 */
static bool
keyset_index_column_proves(HeapTuple indtup, int k, Form_pg_attribute attr)
{
	bool		isnull;
	oidvector  *indclass;
	oidvector  *indcoll;
	Oid			opclass = GetDefaultOpClass(attr->atttypid, BTREE_AM_OID);
	Oid			family,
				deffamily;
	Oid			idxtype,
				deftype,
				eq;
	Oid			coll;

	if (!OidIsValid(opclass))
		return false;
	indclass = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, indtup,
															 Anum_pg_index_indclass, &isnull));
	Assert(!isnull);
	family = get_opclass_family(indclass->values[k]);
	deffamily = get_opclass_family(opclass);
	if (family != deffamily)
	{
		HeapTuple	ftup = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(family));
		bool		btree;

		if (!HeapTupleIsValid(ftup))
			return false;
		btree = ((Form_pg_opfamily) GETSTRUCT(ftup))->opfmethod == BTREE_AM_OID;
		ReleaseSysCache(ftup);
		if (!btree)
			return false;
		/* members are registered for the opclasses' input types */
		idxtype = get_opclass_input_type(indclass->values[k]);
		deftype = get_opclass_input_type(opclass);
		eq = get_opfamily_member(deffamily, deftype, deftype, BTEqualStrategyNumber);
		if (!OidIsValid(eq) ||
			eq != get_opfamily_member(family, idxtype, idxtype, BTEqualStrategyNumber))
			return false;
	}

	indcoll = (oidvector *) DatumGetPointer(SysCacheGetAttr(INDEXRELID, indtup,
															Anum_pg_index_indcollation, &isnull));
	Assert(!isnull);
	coll = indcoll->values[k];
	if (coll == attr->attcollation || !OidIsValid(attr->attcollation))
		return true;
	return OidIsValid(coll) && get_collation_isdeterministic(coll) &&
		get_collation_isdeterministic(attr->attcollation);
}

/*
 * The columns of the unique key that makes the order total: none needed
 * (returns 0) if the spec already contains one; else the primary key, or
 * lacking one the narrowest unique index on NOT NULL columns (ties broken by
 * index name).  Only btree indexes whose equality and collation are the
 * sort's count (keyset_index_column_proves).  Returns -1 if there is no
 * such key.
 */
static int
keyset_unique_key(Relation rel, const KeysetSpec *spec, AttrNumber *keycols)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	int			best_n = -1;
	bool		best_pk = false;
	char	   *best_name = NULL;

	foreach(lc, indexes)
	{
		Oid			indoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indoid));
		Form_pg_index ix;
		bool		usable = true;
		bool		covered = true;
		int			nkeys;

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for index %u", indoid);
		ix = (Form_pg_index) GETSTRUCT(tup);
		nkeys = ix->indnkeyatts;
		if (!ix->indisunique || !ix->indisvalid || !ix->indimmediate ||
			!heap_attisnull(tup, Anum_pg_index_indpred, NULL) ||
			!heap_attisnull(tup, Anum_pg_index_indexprs, NULL))
			usable = false;
		for (int k = 0; usable && k < nkeys; k++)
		{
			AttrNumber	attnum = ix->indkey.values[k];
			bool		found = false;

			if (attnum <= 0 || !TupleDescAttr(desc, attnum - 1)->attnotnull ||
				!keyset_index_column_proves(tup, k, TupleDescAttr(desc, attnum - 1)))
			{
				usable = false;
				break;
			}
			for (int j = 0; j < spec->ncols; j++)
				if (spec->cols[j].attnum == attnum)
					found = true;
			if (!found)
				covered = false;
		}
		if (usable && covered)
		{
			ReleaseSysCache(tup);
			list_free(indexes);
			return 0;
		}
		if (usable)
		{
			char	   *name = get_rel_name(indoid);
			bool		better;

			if (best_n < 0)
				better = true;
			else if (ix->indisprimary != best_pk)
				better = ix->indisprimary;
			else if (nkeys != best_n)
				better = nkeys < best_n;
			else
				better = strcmp(name, best_name) < 0;
			if (better)
			{
				best_n = nkeys;
				best_pk = ix->indisprimary;
				best_name = name;
				for (int k = 0; k < nkeys; k++)
					keycols[k] = ix->indkey.values[k];
			}
		}
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return best_n;
}

/* Fill a column's attribute fields and its type's. */
static void
keyset_set_column(KeysetSpec *spec, int i, Form_pg_attribute attr, int dir, int nulls)
{
	KeysetColumn *c = &spec->cols[i];

	c->attnum = attr->attnum;
	c->name = pstrdup(NameStr(attr->attname));
	c->qname = quote_identifier(c->name);
	c->notnull = attr->attnotnull && !spec->notnull_untrusted;
	c->rowtype = type_is_rowtype(attr->atttypid);
	c->desc = (dir == 2);
	/* NULLS placement only matters for nullable columns */
	if (nulls == 0 || c->notnull)
		c->nulls_first = c->desc;
	else
		c->nulls_first = (nulls == 1);
	keyset_resolve_type(spec, i, attr);
}

/* Resolve and totalize a parsed sort spec over rel, in CurrentMemoryContext. */
static KeysetSpec *
keyset_build_spec(Relation rel, const SpecItem *items, int nitems, bool assume_unique)
{
	KeysetSpec *spec = palloc0(sizeof(KeysetSpec));
	TupleDesc	desc = RelationGetDescr(rel);
	char		kind = rel->rd_rel->relkind;
	bool		inherited;
	StringInfoData buf;

	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE &&
		kind != RELKIND_VIEW && kind != RELKIND_MATVIEW &&
		kind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a table, view, materialized view or foreign table",
						RelationGetRelationName(rel))));

	spec->relid = RelationGetRelid(rel);
	inherited = kind == RELKIND_RELATION && has_subclass(spec->relid);

	/*
	 * A foreign table's NOT NULL is not enforced on the remote side, nor is
	 * a parent's on a foreign partition or child.  (Attaching one
	 * invalidates the parent, so a cached spec follows.)
	 */
	if (kind == RELKIND_FOREIGN_TABLE)
		spec->notnull_untrusted = true;
	else if (kind == RELKIND_PARTITIONED_TABLE || inherited)
	{
		List	   *members = find_all_inheritors(spec->relid, NoLock, NULL);
		ListCell   *lc;

		foreach(lc, members)
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_FOREIGN_TABLE)
				spec->notnull_untrusted = true;
		list_free(members);
	}
	spec->relname = pstrdup(RelationGetRelationName(rel));
	spec->relsql = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											  spec->relname);
	spec->alias = quote_identifier(spec->relname);
	spec->rowtypesql = format_type_be_qualified(rel->rd_rel->reltype);

	for (int i = 0; i < nitems; i++)
	{
		Form_pg_attribute attr = keyset_find_column(desc, items[i].name);

		if (attr == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							items[i].name, spec->relname)));
		for (int j = 0; j < i; j++)
			if (spec->cols[j].attnum == attr->attnum)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" appears more than once in the sort specification",
								items[i].name)));
		keyset_set_column(spec, i, attr, items[i].dir, items[i].nulls);
		spec->ncols = i + 1;
	}

	if (!assume_unique)
	{
		AttrNumber	keycols[INDEX_MAX_KEYS];
		int			nkey;
		int			lastdir = spec->cols[spec->ncols - 1].desc ? 2 : 1;
		List	   *indexes = RelationGetIndexList(rel);
		ListCell   *lc;

		spec->indexes = palloc(sizeof(Oid) * Max(list_length(indexes), 1));
		foreach(lc, indexes)
			spec->indexes[spec->nindexes++] = lfirst_oid(lc);
		list_free(indexes);

		/* a parent's unique indexes do not cover its inheritance children */
		if (inherited)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sort order on \"%s\" is not total", spec->relname),
					 errdetail("\"%s\" has inheritance children, which its primary key and unique indexes do not cover, so rows with equal sort keys could be skipped or repeated.",
							   spec->relname),
					 errhint("Page over the children one by one, or pass assume_unique => true if the sort columns are unique across all of them.")));
		nkey = keyset_unique_key(rel, spec, keycols);
		if (nkey < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sort order on \"%s\" is not total", spec->relname),
					 errdetail("\"%s\" has no primary key or unique index on NOT NULL columns to break ties, so rows with equal sort keys could be skipped or repeated.",
							   spec->relname),
					 errhint("Add a unique column to the sort, or pass assume_unique => true if the sort columns are unique.")));
		for (int k = 0; k < nkey; k++)
		{
			bool		present = false;

			for (int j = 0; j < spec->ncols; j++)
				if (spec->cols[j].attnum == keycols[k])
					present = true;
			if (present)
				continue;
			if (spec->ncols >= KEYSET_MAX_COLUMNS)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sort specification has more than %d columns", KEYSET_MAX_COLUMNS)));
			keyset_set_column(spec, spec->ncols, TupleDescAttr(desc, keycols[k] - 1), lastdir, 0);
			spec->ncols++;
		}
	}

	/* one row comparison when directions agree, no NULLs, one operator set */
	spec->merge_union = (kind == RELKIND_FOREIGN_TABLE || kind == RELKIND_VIEW);
	spec->rowcmp = true;
	for (int i = 0; i < spec->ncols; i++)
	{
		KeysetColumn *c = &spec->cols[i];

		if (!c->notnull || c->desc != spec->cols[0].desc ||
			strcmp(c->lt_sql, spec->cols[0].lt_sql) != 0 ||
			strcmp(c->gt_sql, spec->cols[0].gt_sql) != 0)
			spec->rowcmp = false;
	}

	initStringInfo(&buf);
	for (int i = 0; i < spec->ncols; i++)
		appendStringInfo(&buf, "%s%s %s NULLS %s", i ? ", " : "",
						 spec->cols[i].qname,
						 spec->cols[i].desc ? "DESC" : "ASC",
						 spec->cols[i].nulls_first ? "FIRST" : "LAST");
	spec->normalized = buf.data;
	spec->normalized_hash = keyset_hash(spec->normalized, 0);

	/* fingerprint: relation, normalized spec and key types */
	initStringInfo(&buf);
	appendStringInfo(&buf, "resilience keyset v1|%u|", spec->relid);
	for (int i = 0; i < spec->ncols; i++)
		appendStringInfo(&buf, "%u,", spec->cols[i].typid);
	appendStringInfo(&buf, "|%s", spec->normalized);
	cursor_fingerprint(buf.data, buf.len, spec->fingerprint);
	pfree(buf.data);
	return spec;
}

/*
 * A new cache entry's spec, in its own context, unpinned and unlinked.  Built
 * before it is linked, so an error leaves no half-made entry.
 */
static pg_noinline KeysetSpec *
keyset_create_spec(Relation rel, const SpecItem *items, int nitems, bool assume_unique,
				   const char *order_by)
{
	MemoryContext cxt = AllocSetContextCreate(keyset_cache_cxt, "resilience keyset spec",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	KeysetSpec *spec;

	PG_TRY();
	{
		spec = keyset_build_spec(rel, items, nitems, assume_unique);
		spec->order_by = pstrdup(order_by);
		spec->assume_unique = assume_unique;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	spec->cxt = cxt;
	return spec;
}

/*
 * The cached resolved spec for (relation, order_by, assume_unique), pinned:
 * the caller must keyset_unpin() it, also on error.  The key is the
 * spec as written, so a hit skips even the parse; spellings that differ
 * (case, spacing, explicit defaults) resolve to entries of their own, and
 * share plans and cursors through the normalized spec.
 *
 * The caller's SELECT privilege is checked first, so that a role without it
 * can neither block DDL with the lock nor get a cursor; then the relation is
 * locked (AccessShareLock, kept to the end of the transaction), which also
 * delivers any pending invalidation of a cached entry before it is looked
 * up.  Only a miss opens the relation.
 */
static KeysetSpec *
keyset_get_spec(Oid relid, const char *order_by, bool assume_unique)
{
	SpecItem	items[KEYSET_MAX_COLUMNS];
	int			nitems;
	AclResult	aclresult;
	Relation	rel;
	uint64		inval_count;
	uint64		h;
	KeysetSlot *slot;
	KeysetSpec *spec;

	/*
	 * An unknown OID fails here with 42P01.  Rows are returned whole, so
	 * without SELECT on the table, SELECT on every column will do.
	 */
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK &&
		pg_attribute_aclcheck_all(relid, GetUserId(), ACL_SELECT, ACLMASK_ALL) != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	LockRelationOid(relid, AccessShareLock);

	keyset_init_caches();
	h = keyset_hash(order_by, ((uint64) relid << 1) | (assume_unique ? 1 : 0));
	slot = hash_search(keyset_specs, &h, HASH_FIND, NULL);
	if (slot != NULL)
	{
		spec = (KeysetSpec *) slot->entry;
		if (spec->entry.valid && spec->relid == relid && spec->assume_unique == assume_unique &&
			strcmp(spec->order_by, order_by) == 0)
		{
			spec->entry.pins++;
			return spec;
		}
		keyset_unlink(keyset_specs, slot);
	}
	keyset_cache_trim(keyset_specs);

	nitems = keyset_parse_spec(order_by, items);
	inval_count = keyset_inval_count;
	/* dropped between the privilege check and the lock? */
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	spec = keyset_create_spec(rel, items, nitems, assume_unique, order_by);
	relation_close(rel, NoLock);
	spec->entry.valid = keyset_inval_count == inval_count;
	keyset_cache_insert(keyset_specs, h, &spec->entry);
	return spec;
}

/* ------------------------------------------------------------------------
 * filter
 * ------------------------------------------------------------------------
 */

/* ERROR 22023 unless filter is exactly one expression. */
static void
keyset_check_filter(const char *filter)
{
	char	   *sql = psprintf("SELECT %s\n", filter);
	List	   *raw = NIL;
	SelectStmt *sel;
	ResTarget  *rt;
	MemoryContext cxt = CurrentMemoryContext;

	/* raw parsing touches no shared state, so its error can be replaced */
	PG_TRY();
	{
#if PG_VERSION_NUM >= 140000
		raw = raw_parser(sql, RAW_PARSE_DEFAULT);
#else
		raw = raw_parser(sql);
#endif
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("filter is not a valid SQL expression"),
				 errdetail("Parsing \"%s\" failed: %s.", filter, edata->message)));
	}
	PG_END_TRY();
	if (list_length(raw) == 1 &&
		IsA(((RawStmt *) linitial(raw))->stmt, SelectStmt))
	{
		sel = (SelectStmt *) ((RawStmt *) linitial(raw))->stmt;
		if (sel->op == SETOP_NONE && list_length(sel->targetList) == 1 &&
			sel->distinctClause == NIL && sel->intoClause == NULL &&
			sel->fromClause == NIL && sel->whereClause == NULL &&
			sel->groupClause == NIL && sel->havingClause == NULL &&
			sel->windowClause == NIL && sel->valuesLists == NIL &&
			sel->sortClause == NIL && sel->limitOffset == NULL &&
			sel->limitCount == NULL && sel->lockingClause == NIL &&
			sel->withClause == NULL)
		{
			rt = (ResTarget *) linitial(sel->targetList);
			if (rt->name == NULL &&
				!(IsA(rt->val, ColumnRef) &&
				  IsA(llast(((ColumnRef *) rt->val)->fields), A_Star)))
				return;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("filter must be a single boolean expression"),
			 errdetail("The filter is placed in a WHERE clause; clauses such as FROM, ORDER BY or a second statement are not allowed.")));
}

/*
 * The types of the filter's $1..$n, inferred from context as an untyped
 * PREPARE does.  ERROR 22023 if params does not have exactly n elements,
 * 42P18 if a type cannot be determined.
 */
static Oid *
keyset_filter_types(const KeysetSpec *spec, const char *filter, int nparams)
{
	char	   *sql;
	List	   *raw;
	Oid		   *types = NULL;
	int			ntypes = 0;

	keyset_check_filter(filter);
	sql = psprintf("SELECT 1 FROM %s AS %s WHERE (%s\n)", spec->relsql, spec->alias, filter);
#if PG_VERSION_NUM >= 140000
	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
#else
	raw = raw_parser(sql);
#endif
#if PG_VERSION_NUM >= 150000
	(void) parse_analyze_varparams(linitial(raw), sql, &types, &ntypes, NULL);
#else
	(void) parse_analyze_varparams(linitial(raw), sql, &types, &ntypes);
#endif
	if (ntypes != nparams)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("filter uses %d parameter but params has %d elements",
							   "filter uses %d parameters but params has %d elements",
							   ntypes, ntypes, nparams),
				 errdetail("Parameters $1 to $n of the filter are bound, in order, from the params array.")));
	for (int i = 0; i < ntypes; i++)
		if (types[i] == InvalidOid || types[i] == UNKNOWNOID)
			ereport(ERROR,
					(errcode(ERRCODE_INDETERMINATE_DATATYPE),
					 errmsg("could not determine data type of parameter $%d", i + 1),
					 errhint("Add a cast in the filter, such as $%d::integer.", i + 1)));
	return types;
}

/* ------------------------------------------------------------------------
 * query text
 * ------------------------------------------------------------------------
 */

/*
 * Append "ORDER BY ..." over the key columns: alias.col, or for the outer
 * query of a UNION ALL (outer) s.col (rowsonly) or s.kN.
 */
static void
keyset_append_order(StringInfo buf, const KeysetSpec *spec, bool reverse, bool outer,
					bool rowsonly)
{
	appendStringInfoString(buf, " ORDER BY ");
	for (int i = 0; i < spec->ncols; i++)
	{
		const KeysetColumn *c = &spec->cols[i];
		bool		desc = c->desc != reverse;
		bool		nf = c->nulls_first != reverse;

		if (i > 0)
			appendStringInfoString(buf, ", ");
		if (!outer)
			appendStringInfo(buf, "%s.%s", spec->alias, c->qname);
		else if (rowsonly)
			appendStringInfo(buf, "s.%s", c->qname);
		else
			appendStringInfo(buf, "s.k%d", i + 1);
		appendStringInfo(buf, " %s NULLS %s", desc ? "DESC" : "ASC", nf ? "FIRST" : "LAST");
	}
}

/*
 * Append one "SELECT ... FROM rel WHERE filter AND cond ORDER BY ... LIMIT".
 * Columns: the row's columns (rowsonly), else the row as one composite r and
 * its key k1..kn.
 */
static void
keyset_append_select(StringInfo buf, const KeysetSpec *spec, const char *filter,
					 const char *cond, bool reverse, int64 limit, bool rowsonly)
{
	if (rowsonly)
		appendStringInfo(buf, "SELECT %s.*", spec->alias);
	else
	{
		appendStringInfo(buf, "SELECT CAST(%s.* AS %s) AS r", spec->alias, spec->rowtypesql);
		for (int i = 0; i < spec->ncols; i++)
			appendStringInfo(buf, ", %s.%s AS k%d", spec->alias, spec->cols[i].qname, i + 1);
	}
	appendStringInfo(buf, " FROM %s AS %s", spec->relsql, spec->alias);
	if (filter || cond)
		appendStringInfoString(buf, " WHERE ");
	if (filter)
		appendStringInfo(buf, "(%s\n)", filter);
	if (filter && cond)
		appendStringInfoString(buf, " AND ");
	if (cond)
		appendStringInfoString(buf, cond);
	keyset_append_order(buf, spec, reverse, false, rowsonly);
	appendStringInfo(buf, " LIMIT " INT64_FORMAT, limit);
}

/*
 * "Column c is NULL" (or is not), as ORDER BY sees it.  For a row type,
 * c IS NULL tests its fields (true for ROW(NULL, NULL)), while the sort tests
 * the value itself; ROW(c) IS NULL tests the one field c, not its fields,
 * and the planner still makes an index condition of it.
 */
static char *
keyset_null_sql(const KeysetSpec *spec, const KeysetColumn *c, bool isnull)
{
	if (c->rowtype)
		return psprintf("ROW(%s.%s) IS %sNULL", spec->alias, c->qname, isnull ? "" : "NOT ");
	return psprintf("%s.%s IS %sNULL", spec->alias, c->qname, isnull ? "" : "NOT ");
}

/*
 * The query for one page: rows after the cursor values vals (SQL text of
 * each value: "$n" or a typed literal; NULL where cnulls says so) in the
 * order, reversed if reverse; no cursor if vals is NULL.  Result columns:
 * the relation's (rowsonly), else r (the row) and k1..kn (its key).
 */
static char *
keyset_build_sql(const KeysetSpec *spec, const char *filter, bool reverse,
				 char **vals, const bool *cnulls, int64 limit, bool rowsonly)
{
	StringInfoData buf;
	List	   *conds = NIL;
	ListCell   *lc;
	int			nbranch;

	initStringInfo(&buf);
	if (vals == NULL)
	{
		keyset_append_select(&buf, spec, filter, NULL, reverse, limit, rowsonly);
		return buf.data;
	}
	if (spec->rowcmp)
	{
		StringInfoData c;
		bool		desc = spec->cols[0].desc != reverse;

		initStringInfo(&c);
		appendStringInfoChar(&c, '(');
		for (int i = 0; i < spec->ncols; i++)
			appendStringInfo(&c, "%s%s.%s", i ? ", " : "", spec->alias, spec->cols[i].qname);
		appendStringInfo(&c, ") %s (", desc ? spec->cols[0].lt_sql : spec->cols[0].gt_sql);
		for (int i = 0; i < spec->ncols; i++)
			appendStringInfo(&c, "%s%s", i ? ", " : "", vals[i]);
		appendStringInfoChar(&c, ')');
		keyset_append_select(&buf, spec, filter, c.data, reverse, limit, rowsonly);
		return buf.data;
	}

	/*
	 * Branches, nearest the cursor first: equality on k1..k(i-1), then the
	 * range on ki (and ki IS NULL where NULLs follow the values).
	 */
	for (int i = spec->ncols - 1; i >= 0; i--)
	{
		const KeysetColumn *c = &spec->cols[i];
		bool		desc = c->desc != reverse;
		bool		nf = c->nulls_first != reverse;
		StringInfoData prefix;

		initStringInfo(&prefix);
		for (int j = 0; j < i; j++)
		{
			if (cnulls[j])
				appendStringInfo(&prefix, "%s AND ", keyset_null_sql(spec, &spec->cols[j], true));
			else
				appendStringInfo(&prefix, "%s.%s %s %s AND ", spec->alias, spec->cols[j].qname,
								 spec->cols[j].eq_sql, vals[j]);
		}
		if (!cnulls[i])
		{
			conds = lappend(conds, psprintf("%s%s.%s %s %s", prefix.data, spec->alias, c->qname,
											desc ? c->lt_sql : c->gt_sql, vals[i]));
			if (!c->notnull && !nf)
				conds = lappend(conds, psprintf("%s%s", prefix.data, keyset_null_sql(spec, c, true)));
		}
		else if (nf)
			conds = lappend(conds, psprintf("%s%s", prefix.data, keyset_null_sql(spec, c, false)));
	}

	nbranch = list_length(conds);
	if (nbranch == 0)
		keyset_append_select(&buf, spec, filter, "false", reverse, limit, rowsonly);
	else if (nbranch == 1)
		keyset_append_select(&buf, spec, filter, linitial(conds), reverse, limit, rowsonly);
	else
	{
		if (rowsonly)
			appendStringInfoString(&buf, "SELECT s.*");
		else
		{
			appendStringInfoString(&buf, "SELECT s.r");
			for (int i = 0; i < spec->ncols; i++)
				appendStringInfo(&buf, ", s.k%d", i + 1);
		}
		appendStringInfoString(&buf, " FROM (");
		foreach(lc, conds)
		{
			if (foreach_current_index(lc) > 0)
				appendStringInfoString(&buf, " UNION ALL ");
			appendStringInfoChar(&buf, '(');
			keyset_append_select(&buf, spec, filter, lfirst(lc), reverse, limit, rowsonly);
			appendStringInfoChar(&buf, ')');
		}
		/* concatenated in order, or merged: see the file header */
		appendStringInfoString(&buf, ") AS s");
		if (spec->merge_union)
			keyset_append_order(&buf, spec, reverse, true, rowsonly);
		appendStringInfo(&buf, " LIMIT " INT64_FORMAT, limit);
	}
	return buf.data;
}

/* ------------------------------------------------------------------------
 * plans and execution
 * ------------------------------------------------------------------------
 */

/* Whether two plan cache keys are the same. */
static bool
keyset_plan_key_equal(const KeysetPlanKey *a, const KeysetPlanKey *b)
{
	if (a->relid != b->relid || a->reverse != b->reverse || a->rowsonly != b->rowsonly ||
		a->has_cursor != b->has_cursor || a->cursor_nulls != b->cursor_nulls ||
		a->limit != b->limit || strcmp(a->normalized, b->normalized) != 0)
		return false;
	if (a->filter == NULL || b->filter == NULL)
		return a->filter == b->filter;
	return a->userid == b->userid && strcmp(a->filter, b->filter) == 0 &&
		strcmp(a->search_path, b->search_path) == 0;
}

/*
 * The LIMIT a cached plan carries for a page of limit rows: the next power of
 * two, so page sizes share a few plans (see the file header).
 */
static int64
keyset_limit_bucket(int64 limit)
{
	int64		b = 1;

	while (b < limit)
		b <<= 1;
	return b;
}

/*
 * The prepared plan for a page query (SPI must be connected), pinned: the
 * caller must keyset_unpin() it, also on error.  Parameters: the
 * filter's $1..$m, then the cursor values $m+1..$m+n.  Its LIMIT is
 * keyset_limit_bucket(limit); the caller stops at limit rows.
 */
static KeysetPlan *
keyset_get_plan(const KeysetSpec *spec, const KeysetRequest *req, bool reverse,
				const bool *cnulls, int64 limit, bool rowsonly)
{
	KeysetPlanKey k;
	uint64		inval_count;
	uint64		h;
	KeysetSlot *slot;
	KeysetPlan *p;
	Oid		   *ftypes = NULL;
	int			nf = 0;
	Oid			argtypes[FUNC_MAX_ARGS + KEYSET_MAX_COLUMNS];
	char	   *vals[KEYSET_MAX_COLUMNS];
	int			nargs;
	char	   *sql;
	SPIPlanPtr	plan;

	StaticAssertStmt(KEYSET_MAX_COLUMNS <= 32, "cursor_nulls has a bit per column");

	keyset_init_caches();
	limit = keyset_limit_bucket(limit);
	memset(&k, 0, sizeof(k));
	k.relid = spec->relid;
	k.reverse = reverse;
	k.rowsonly = rowsonly;
	k.has_cursor = cnulls != NULL;
	if (cnulls != NULL)
		for (int i = 0; i < spec->ncols; i++)
			if (cnulls[i])
				k.cursor_nulls |= (uint32) 1 << i;
	k.limit = limit;
	k.normalized = spec->normalized;
	k.filter = req->filter;
	k.search_path = req->filter ? namespace_search_path : NULL;
	k.userid = req->filter ? GetUserId() : InvalidOid;

	h = hash_combine64(spec->normalized_hash, k.relid);
	h = hash_combine64(h, ((uint64) k.cursor_nulls << 3) | (k.reverse ? 1 : 0) |
					   (k.rowsonly ? 2 : 0) | (k.has_cursor ? 4 : 0));
	h = hash_combine64(h, (uint64) k.limit);
	if (k.filter)
		h = hash_combine64(h, keyset_hash(k.filter, keyset_hash(k.search_path, k.userid)));
	slot = hash_search(keyset_plans, &h, HASH_FIND, NULL);
	p = slot ? (KeysetPlan *) slot->entry : NULL;
	if (p != NULL && p->entry.valid && keyset_plan_key_equal(&p->key, &k))
	{
		if (p->nfparams != req->nparams)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg_plural("filter uses %d parameter but params has %d elements",
								   "filter uses %d parameters but params has %d elements",
								   p->nfparams, p->nfparams, req->nparams),
					 errdetail("Parameters $1 to $n of the filter are bound, in order, from the params array.")));
		p->entry.pins++;
		return p;
	}
	if (p != NULL)
		keyset_unlink(keyset_plans, slot);
	keyset_cache_trim(keyset_plans);

	inval_count = keyset_inval_count;
	if (req->filter)
	{
		ftypes = keyset_filter_types(spec, req->filter, req->nparams);
		nf = req->nparams;
	}
	if (nf > FUNC_MAX_ARGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params has more than %d elements", FUNC_MAX_ARGS)));
	for (int i = 0; i < nf; i++)
		argtypes[i] = ftypes[i];
	nargs = nf;
	if (cnulls != NULL)
	{
		for (int i = 0; i < spec->ncols; i++)
		{
			argtypes[nargs++] = spec->cols[i].typid;
			vals[i] = psprintf("$%d", nf + i + 1);
		}
	}
	sql = keyset_build_sql(spec, req->filter, reverse, cnulls ? vals : NULL, cnulls, limit,
						   rowsonly);
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");

	p = MemoryContextAllocZero(keyset_cache_cxt, sizeof(KeysetPlan));
	p->entry.is_plan = true;
	p->entry.valid = keyset_inval_count == inval_count;
	p->key = k;
	p->key.normalized = MemoryContextStrdup(keyset_cache_cxt, k.normalized);
	if (k.filter)
	{
		p->key.filter = MemoryContextStrdup(keyset_cache_cxt, k.filter);
		p->key.search_path = MemoryContextStrdup(keyset_cache_cxt, k.search_path);
	}
	p->plan = plan;
	p->nfparams = nf;
	p->fparamtypes = MemoryContextAlloc(keyset_cache_cxt, sizeof(Oid) * Max(nf, 1));
	if (nf > 0)
		memcpy(p->fparamtypes, ftypes, sizeof(Oid) * nf);

	keyset_cache_insert(keyset_plans, h, &p->entry);
	return p;
}

/* Bind and run a pinned plan, stopping at limit rows; see keyset_fetch. */
static void
keyset_run_plan(KeysetPlan *pe, const KeysetSpec *spec, const KeysetRequest *req,
				const Datum *cvals, const bool *cnulls, int64 limit, DestReceiver *dest)
{
	Datum		values[FUNC_MAX_ARGS + KEYSET_MAX_COLUMNS];
	char		nulls[FUNC_MAX_ARGS + KEYSET_MAX_COLUMNS];
	int			n = 0;
	int			rc;

	for (int i = 0; i < pe->nfparams; i++, n++)
	{
		Oid			infunc,
					ioparam;

		if (req->paramnulls[i])
		{
			values[n] = (Datum) 0;
			nulls[n] = 'n';
			continue;
		}
		getTypeInputInfo(pe->fparamtypes[i], &infunc, &ioparam);
		values[n] = OidInputFunctionCall(infunc, TextDatumGetCString(req->params[i]),
										 ioparam, -1);
		nulls[n] = ' ';
	}
	if (cvals)
		for (int i = 0; i < spec->ncols; i++, n++)
		{
			values[n] = cvals[i];
			nulls[n] = cnulls[i] ? 'n' : ' ';
		}
#if PG_VERSION_NUM >= 140000
	if (dest)
	{
		ParamListInfo pl = makeParamList(n);
		SPIExecuteOptions opts;

		for (int i = 0; i < n; i++)
		{
			pl->params[i].value = values[i];
			pl->params[i].isnull = nulls[i] == 'n';
			pl->params[i].pflags = PARAM_FLAG_CONST;
			pl->params[i].ptype = i < pe->nfparams ? pe->fparamtypes[i] :
				spec->cols[i - pe->nfparams].typid;
		}
		memset(&opts, 0, sizeof(opts));
		opts.params = pl;
		opts.read_only = true;
		opts.tcount = limit;
		opts.dest = dest;
		rc = SPI_execute_plan_extended(pe->plan, &opts);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));
		return;
	}
#endif
	rc = SPI_execute_plan(pe->plan, values, nulls, true, limit);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/* keyset_run_plan, then unpin the plan, also on error. */
static pg_noinline void
keyset_run_pinned(KeysetPlan *pe, const KeysetSpec *spec, const KeysetRequest *req,
				  const Datum *cvals, const bool *cnulls, int64 limit, DestReceiver *dest)
{
	PG_TRY();
	{
		keyset_run_plan(pe, spec, req, cvals, cnulls, limit, dest);
	}
	PG_CATCH();
	{
		keyset_unpin(&pe->entry);
		PG_RE_THROW();
	}
	PG_END_TRY();
	keyset_unpin(&pe->entry);
}

/*
 * Run one page query (SPI connected): rows after (before, if reverse) the
 * cursor values, or from the start if cvals is NULL; at most limit rows.
 * Result columns as keyset_build_sql's.  With dest (PostgreSQL 14 and
 * later), the rows go there and NULL is returned.  The plan stays pinned
 * while it runs, since the query may call page() again (see file header).
 */
static SPITupleTable *
keyset_fetch(const KeysetSpec *spec, const KeysetRequest *req, bool reverse,
			 const Datum *cvals, const bool *cnulls, int64 limit, bool rowsonly,
			 DestReceiver *dest)
{
	KeysetPlan *pe = keyset_get_plan(spec, req, reverse, cvals ? cnulls : NULL, limit,
									 rowsonly);

	keyset_run_pinned(pe, spec, req, cvals, cnulls, limit, dest);
	return dest ? NULL : SPI_tuptable;
}

/* The key values of result row i, into vals/nulls. */
static void
keyset_row_key(const KeysetSpec *spec, SPITupleTable *tt, uint64 i, Datum *vals, bool *nulls)
{
	for (int k = 0; k < spec->ncols; k++)
		vals[k] = SPI_getbinval(tt->vals[i], tt->tupdesc, k + 2, &nulls[k]);
}

/* ------------------------------------------------------------------------
 * SQL entry points
 * ------------------------------------------------------------------------
 */

/*
 * Read the common arguments (rel, order_by, after, before, page_size,
 * filter, params, assume_unique) and validate them.
 */
static void
keyset_read_args(FunctionCallInfo fcinfo, Oid relid, KeysetRequest *req)
{
	memset(req, 0, sizeof(*req));
	req->relid = relid;
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order_by must not be null")));
	req->order_by = text_to_cstring(PG_GETARG_TEXT_PP(1));
	req->after = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	req->before = PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3);
	if (req->after && req->before)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("after and before cannot both be given"),
				 errhint("Pass after to fetch the next page, before to fetch the previous one.")));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page_size must not be null")));
	req->page_size = PG_GETARG_INT32(4);
	if (req->page_size < 1 || req->page_size > keyset_max_page_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page_size must be between 1 and %d", keyset_max_page_size),
				 errhint("The upper bound is the setting resilience.max_page_size.")));
	req->filter = PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	if (!PG_ARGISNULL(6))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(6);

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("params must be a one-dimensional array")));
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &req->params, &req->paramnulls, &req->nparams);
	}
	if (req->filter == NULL && req->nparams > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params given without a filter"),
				 errdetail("params binds the filter's $1 to $n.")));
	req->assume_unique = PG_NARGS() > 7 && !PG_ARGISNULL(7) && PG_GETARG_BOOL(7);
}

/* The relation whose row type an anyelement argument has; ERROR 22023 if none. */
static Oid
keyset_row_relid(FunctionCallInfo fcinfo, const char *argname)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	Oid			relid = OidIsValid(argtype) ? get_typ_typrelid(argtype) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a row of a table or view, not type %s",
						argname, format_type_be(argtype)),
				 errhint("Pass NULL::table_name, or a row of the table.")));
	return relid;
}

/* Decode the request's cursor (after or before) into vals/nulls; false if none. */
static bool
keyset_request_cursor(const KeysetSpec *spec, const KeysetRequest *req, Datum *vals, bool *nulls)
{
	text	   *c = req->after ? req->after : req->before;

	if (c == NULL)
		return false;
	cursor_decode(VARDATA_ANY(c), VARSIZE_ANY_EXHDR(c), spec->fingerprint, spec->ncols,
				  (FmgrInfo *) spec->recv, spec->typioparams, spec->typmods, vals, nulls);
	return true;
}

/*
 * page(rel anyelement, order_by, after, before, page_size, filter, params,
 * assume_unique) RETURNS SETOF anyelement: one page of rows, in sort order.
 */
Datum
keyset_page(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = keyset_row_relid(fcinfo, "rel");
	KeysetRequest req;
	KeysetSpec *spec;
	Datum		cvals[KEYSET_MAX_COLUMNS];
	bool		cnulls[KEYSET_MAX_COLUMNS];
	bool		has_cursor;
	bool		reverse;
	TupleDesc	tupdesc;
	Tuplestorestate *ts;
	MemoryContext callcxt,
				old;
	SPITupleTable *tt;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("resilience.page() must be called in FROM"),
				 errhint("Write SELECT * FROM resilience.page(...).")));

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "resilience page",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(callcxt);
	keyset_read_args(fcinfo, relid, &req);
	spec = keyset_get_spec(relid, req.order_by, req.assume_unique);
	PG_TRY();
	{
		has_cursor = keyset_request_cursor(spec, &req, cvals, cnulls);
		reverse = req.before != NULL;

		MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		/* in FROM, the caller expects the row type: no need to look it up */
		if (rsinfo->expectedDesc != NULL)
			tupdesc = rsinfo->expectedDesc;
		else if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		tupdesc = CreateTupleDescCopy(tupdesc);
		ts = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
									false, work_mem);
		MemoryContextSwitchTo(callcxt);

		/*
		 * The query returns the relation's columns; they are mapped by position
		 * onto the row type, which also has the dropped columns.
		 */
		SPI_connect();
#if PG_VERSION_NUM >= 140000
		if (!reverse)
		{
			/* straight into the result, as PL/pgSQL's RETURN QUERY does */
			DestReceiver *dest = CreateDestReceiver(DestTuplestore);

			SetTuplestoreDestReceiverParams(dest, ts, rsinfo->econtext->ecxt_per_query_memory,
											false, tupdesc,
											gettext_noop("page rows do not match the row type of the relation"));
			keyset_fetch(spec, &req, false, has_cursor ? cvals : NULL, cnulls, req.page_size,
						 true, dest);
			dest->rDestroy(dest);
		}
		else
#endif
		{
			TupleConversionMap *map;

			tt = keyset_fetch(spec, &req, reverse, has_cursor ? cvals : NULL, cnulls,
							  req.page_size, true, NULL);
			map = convert_tuples_by_position(tt->tupdesc, tupdesc,
											 gettext_noop("page rows do not match the row type of the relation"));
			for (uint64 j = 0; j < tt->numvals; j++)
			{
				HeapTuple	tuple = tt->vals[reverse ? tt->numvals - 1 - j : j];

				tuplestore_puttuple(ts, map ? execute_attr_map_tuple(tuple, map) : tuple);
			}
		}
		SPI_finish();

		MemoryContextSwitchTo(old);
		MemoryContextDelete(callcxt);
		rsinfo->returnMode = SFRM_Materialize;
		rsinfo->setResult = ts;
		rsinfo->setDesc = tupdesc;
	}
	PG_CATCH();
	{
		keyset_unpin(&spec->entry);
		PG_RE_THROW();
	}
	PG_END_TRY();
	keyset_unpin(&spec->entry);
	return (Datum) 0;
}

/* Append a JSON string or null. */
static void
keyset_json_text(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, s);
}

/*
 * page_json(rel regclass, ...) RETURNS jsonb: {"rows", "next", "prev",
 * "has_next", "has_prev"}.  has_* are exact: the fetch reads one row more
 * than the page, and the other side is a LIMIT 1 probe from the page's edge
 * (or from the cursor on an empty page).
 */
Datum
keyset_page_json(PG_FUNCTION_ARGS)
{
	KeysetRequest req;
	KeysetSpec *spec;
	Datum		cvals[KEYSET_MAX_COLUMNS];
	bool		cnulls[KEYSET_MAX_COLUMNS];
	Datum		kvals[KEYSET_MAX_COLUMNS];
	bool		knulls[KEYSET_MAX_COLUMNS];
	bool		has_cursor;
	bool		reverse;
	bool		has_next,
				has_prev;
	/* assigned under PG_TRY */
	char	   *volatile next = NULL;
	char	   *volatile prev = NULL;
	uint64		n;
	MemoryContext callcxt,
				old;
	SPITupleTable *tt;
	StringInfoData buf;
	volatile Datum result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rel must not be null")));
	callcxt = AllocSetContextCreate(CurrentMemoryContext, "resilience page_json",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(callcxt);
	keyset_read_args(fcinfo, PG_GETARG_OID(0), &req);
	spec = keyset_get_spec(req.relid, req.order_by, req.assume_unique);
	PG_TRY();
	{
		has_cursor = keyset_request_cursor(spec, &req, cvals, cnulls);
		reverse = req.before != NULL;

		initStringInfo(&buf);
		/* buf stays in callcxt as it grows; everything else dies with SPI */
		SPI_connect();

		tt = keyset_fetch(spec, &req, reverse, has_cursor ? cvals : NULL, cnulls,
						  (int64) req.page_size + 1, false, NULL);
		n = Min(tt->numvals, (uint64) req.page_size);

		appendStringInfoString(&buf, "{\"rows\": [");
		for (uint64 j = 0; j < n; j++)
		{
			uint64		i = reverse ? n - 1 - j : j;
			bool		isnull;
			Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
			text	   *js = DatumGetTextPP(DirectFunctionCall1(row_to_json, d));

			if (j > 0)
				appendStringInfoString(&buf, ", ");
			appendBinaryStringInfo(&buf, VARDATA_ANY(js), VARSIZE_ANY_EXHDR(js));
		}
		appendStringInfoChar(&buf, ']');

		if (n > 0)
		{
			/* display order: first row is tt[0] forward, tt[n-1] reversed */
			uint64		first = reverse ? n - 1 : 0;
			uint64		last = reverse ? 0 : n - 1;
			SPITupleTable *probe;

			keyset_row_key(spec, tt, last, kvals, knulls);
			next = cursor_encode(spec->fingerprint, spec->ncols, spec->send, kvals, knulls);
			if (!reverse)
				has_next = tt->numvals > n;
			else
			{
				probe = keyset_fetch(spec, &req, false, kvals, knulls, 1, false, NULL);
				has_next = probe->numvals > 0;
			}
			keyset_row_key(spec, tt, first, kvals, knulls);
			prev = cursor_encode(spec->fingerprint, spec->ncols, spec->send, kvals, knulls);
			if (reverse)
				has_prev = tt->numvals > n;
			else if (!has_cursor)
				has_prev = false;
			else
			{
				probe = keyset_fetch(spec, &req, true, kvals, knulls, 1, false, NULL);
				has_prev = probe->numvals > 0;
			}
		}
		else if (!has_cursor)
			has_next = has_prev = false;
		else
		{
			/* empty page: what lies on the other side of the cursor itself */
			SPITupleTable *probe = keyset_fetch(spec, &req, !reverse, cvals, cnulls, 1, false, NULL);

			has_next = reverse ? probe->numvals > 0 : false;
			has_prev = reverse ? false : probe->numvals > 0;
		}

		appendStringInfoString(&buf, ", \"next\": ");
		keyset_json_text(&buf, next);
		appendStringInfoString(&buf, ", \"prev\": ");
		keyset_json_text(&buf, prev);
		appendStringInfo(&buf, ", \"has_next\": %s, \"has_prev\": %s}",
						 has_next ? "true" : "false", has_prev ? "true" : "false");
		SPI_finish();

		MemoryContextSwitchTo(old);
		result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
		MemoryContextDelete(callcxt);
	}
	PG_CATCH();
	{
		keyset_unpin(&spec->entry);
		PG_RE_THROW();
	}
	PG_END_TRY();
	keyset_unpin(&spec->entry);
	PG_RETURN_DATUM(result);
}

/*
 * The SQL lexer's token for $n, learnt by lexing "$1": the token numbers are
 * generated by bison into parser/gram.h, which PostgreSQL 18 no longer installs.
 */
static int
keyset_param_token(void)
{
	static int	param_token = -1;

	if (param_token < 0)
	{
		core_yy_extra_type yyextra;
		core_yyscan_t scanner;
		core_YYSTYPE yylval;
		YYLTYPE		yylloc;

		scanner = scanner_init("$1", &yyextra, &ScanKeywords, ScanKeywordTokens);
		param_token = core_yylex(&yylval, &yylloc, scanner);
		scanner_finish(scanner);
	}
	return param_token;
}

/* The filter with each $k replaced by literals[k-1], found with the SQL lexer. */
static char *
keyset_inline_params(const char *filter, char **literals, int nliterals)
{
	core_yy_extra_type yyextra;
	core_yyscan_t scanner;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	StringInfoData out;
	int			done = 0;
	int			param = keyset_param_token();

	initStringInfo(&out);
	scanner = scanner_init(filter, &yyextra, &ScanKeywords, ScanKeywordTokens);
	for (;;)
	{
		int			tok = core_yylex(&yylval, &yylloc, scanner);
		int			end;

		if (tok == 0)
			break;
		if (tok != param || yylval.ival < 1 || yylval.ival > nliterals)
			continue;
		end = yylloc + 1;
		while (filter[end] >= '0' && filter[end] <= '9')
			end++;
		appendBinaryStringInfo(&out, filter + done, yylloc - done);
		appendStringInfo(&out, "(%s)", literals[yylval.ival - 1]);
		done = end;
	}
	scanner_finish(scanner);
	appendStringInfoString(&out, filter + done);
	return out.data;
}

/* A value as a typed SQL literal: 'text'::schema.type, or NULL::schema.type. */
static char *
keyset_literal(Datum v, bool isnull, Oid outfunc, const char *typesql)
{
	if (isnull)
		return psprintf("NULL::%s", typesql);
	return psprintf("%s::%s", quote_literal_cstr(OidOutputFunctionCall(outfunc, v)), typesql);
}

/*
 * page_sql(rel regclass, ...) RETURNS text: the query page() runs for these
 * arguments, with the cursor values and params as typed literals.
 */
Datum
keyset_page_sql(PG_FUNCTION_ARGS)
{
	KeysetRequest req;
	KeysetSpec *spec;
	Datum		cvals[KEYSET_MAX_COLUMNS];
	bool		cnulls[KEYSET_MAX_COLUMNS];
	char	   *vals[KEYSET_MAX_COLUMNS];
	bool		has_cursor;
	/* assigned under PG_TRY */
	char	   *volatile filter = NULL;
	char	   *sql;
	text	   *volatile result;
	MemoryContext callcxt,
				old;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rel must not be null")));
	callcxt = AllocSetContextCreate(CurrentMemoryContext, "resilience page_sql",
									ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(callcxt);
	keyset_read_args(fcinfo, PG_GETARG_OID(0), &req);
	spec = keyset_get_spec(req.relid, req.order_by, req.assume_unique);
	PG_TRY();
	{
		has_cursor = keyset_request_cursor(spec, &req, cvals, cnulls);

		if (req.filter)
		{
			Oid		   *types = keyset_filter_types(spec, req.filter, req.nparams);
			char	  **lits = palloc(sizeof(char *) * Max(req.nparams, 1));

			for (int i = 0; i < req.nparams; i++)
			{
				Oid			outfunc;
				bool		isvarlena;
				Oid			infunc,
							ioparam;
				Datum		v = (Datum) 0;

				getTypeOutputInfo(types[i], &outfunc, &isvarlena);
				if (!req.paramnulls[i])
				{
					/* through the type, so the literal is what page() binds */
					getTypeInputInfo(types[i], &infunc, &ioparam);
					v = OidInputFunctionCall(infunc, TextDatumGetCString(req.params[i]), ioparam, -1);
				}
				lits[i] = keyset_literal(v, req.paramnulls[i], outfunc,
										 format_type_be_qualified(types[i]));
			}
			filter = keyset_inline_params(req.filter, lits, req.nparams);
		}
		if (has_cursor)
			for (int i = 0; i < spec->ncols; i++)
				vals[i] = keyset_literal(cvals[i], cnulls[i], spec->cols[i].outfunc,
										 spec->cols[i].typesql);
		sql = keyset_build_sql(spec, filter, req.before != NULL, has_cursor ? vals : NULL,
							   cnulls, req.page_size, true);
		MemoryContextSwitchTo(old);
		result = cstring_to_text(sql);
		MemoryContextDelete(callcxt);
	}
	PG_CATCH();
	{
		keyset_unpin(&spec->entry);
		PG_RE_THROW();
	}
	PG_END_TRY();
	keyset_unpin(&spec->entry);
	PG_RETURN_TEXT_P(result);
}

/* cursor_of(row anyelement, order_by text, assume_unique bool) RETURNS text */
Datum
keyset_cursor_of(PG_FUNCTION_ARGS)
{
	Oid			relid = keyset_row_relid(fcinfo, "row");
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	char	   *order_by = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		assume_unique = PG_NARGS() > 2 && PG_GETARG_BOOL(2);
	KeysetSpec *spec;
	Datum		vals[KEYSET_MAX_COLUMNS];
	bool		nulls[KEYSET_MAX_COLUMNS];
	text	   *volatile result;	/* assigned under PG_TRY */

	spec = keyset_get_spec(relid, order_by, assume_unique);
	PG_TRY();
	{
		for (int i = 0; i < spec->ncols; i++)
			vals[i] = GetAttributeByNum(row, spec->cols[i].attnum, &nulls[i]);
		result = cstring_to_text(cursor_encode(spec->fingerprint, spec->ncols,
											   spec->send, vals, nulls));
	}
	PG_CATCH();
	{
		keyset_unpin(&spec->entry);
		PG_RE_THROW();
	}
	PG_END_TRY();
	keyset_unpin(&spec->entry);
	PG_RETURN_TEXT_P(result);
}
