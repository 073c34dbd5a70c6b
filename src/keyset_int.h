/*-------------------------------------------------------------------------
 *
 * keyset_int.h
 *		What the files of keyset pagination share: the resolved sort
 *		specification, the cached plans, one request and one page query.
 *
 *		keyset.c			the SQL entry points and their common prologue
 *		keyset_cache.c		per-backend caches of specs and plans, pinning specs
 *		keyset_grammar.c	the sort-specification grammar
 *		keyset_spec.c		resolving a spec against a relation, totality
 *		keyset_filter.c		checking a filter, how its literals read
 *		keyset_query.c		the text of a page query, page_sql's literals
 *		keyset_plan.c		plan keys, preparing and running page queries
 *		keyset_cursor.c		cursor calls, with their messages held
 *
 * Nothing here is exported from the module (it is built with
 * -fvisibility=hidden); only keyset.c's entry points are.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_KEYSET_INT_H
#define RESILIENCE_KEYSET_INT_H

#include "postgres.h"

#include "access/attnum.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "tcop/dest.h"
#include "utils/hsearch.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

#include "cursor.h"
#include "spiplan.h"

/* Most columns of a (totalized) sort specification. */
#define KEYSET_MAX_COLUMNS	32

/* Most entries of each cache before unpinned ones are evicted. */
#define KEYSET_CACHE_MAX	256

/* A direction as the caller wrote it (or did not). */
typedef enum KeysetDirection
{
	KEYSET_DIR_DEFAULT,
	KEYSET_DIR_ASC,
	KEYSET_DIR_DESC
} KeysetDirection;

/* A NULLS placement as the caller wrote it (or did not). */
typedef enum KeysetNulls
{
	KEYSET_NULLS_DEFAULT,
	KEYSET_NULLS_FIRST,
	KEYSET_NULLS_LAST
} KeysetNulls;

/* One item of a parsed sort specification. */
typedef struct KeysetSpecItem
{
	char	   *name;			/* column name, as the SQL lexer reads it */
	KeysetDirection dir;
	KeysetNulls nulls;
} KeysetSpecItem;

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
	char	   *lt_sql;			/* OPERATOR(schema.<) of the btree family */
	char	   *gt_sql;
	char	   *eq_sql;
	Oid			optype;			/* the operators' input type, when not typid
								 * and not a pseudo-type: both sides are cast
								 * to it; else InvalidOid */
} KeysetColumn;

/*
 * What an entry of the spec cache starts with: the bookkeeping that lets it
 * be pinned while in use (keyset_cache.c).
 */
typedef struct KeysetEntry
{
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
	Oid			baserelid;		/* a simple view's table, whose keys it
								 * has; else (and with assume_unique)
								 * InvalidOid */
	int			ncols;
	KeysetColumn cols[KEYSET_MAX_COLUMNS];
	FmgrInfo	send[KEYSET_MAX_COLUMNS];
	FmgrInfo	recv[KEYSET_MAX_COLUMNS];
	Oid			typioparams[KEYSET_MAX_COLUMNS];
	int32		typmods[KEYSET_MAX_COLUMNS];	/* -1: values travel without */
	const char *typnames[KEYSET_MAX_COLUMNS];	/* for cursor messages */
	char	   *normalized;		/* the totalized spec, every default explicit */
	uint64		normalized_hash;
	uint8		fingerprint[CURSOR_FINGERPRINT_LEN];
	bool		rowcmp;			/* "after" can be one row comparison */
	bool		merge_union;	/* re-sort the UNION ALL (keyset_query.c) */
} KeysetSpec;

/* One request, as every SQL entry point receives it. */
typedef struct KeysetRequest
{
	Oid			relid;
	char	   *order_by;
	text	   *after;
	text	   *before;
	int32		page_size;
	char	   *filter;			/* NULL: none */
	int			nparams;		/* at most FUNC_MAX_ARGS */
	Oid			paramtype;		/* their type; TEXTOID: types from context */
	Datum	   *params;			/* values of paramtype */
	bool	   *paramnulls;
	bool		assume_unique;
} KeysetRequest;

/* Which side of the cursor a page query reads. */
typedef enum KeysetWay
{
	KEYSET_AFTER,				/* rows after it, in the order */
	KEYSET_BEFORE				/* rows before it, in the reversed order */
} KeysetWay;

/* What a page query returns. */
typedef enum KeysetOutput
{
	KEYSET_OUT_COLUMNS,			/* the relation's columns (page()) */
	KEYSET_OUT_ROW_AND_KEY		/* the row as one composite r, and k1..kn */
} KeysetOutput;

/* One page query: what keyset_build_sql() writes and keyset_fetch() runs. */
typedef struct KeysetQuery
{
	const KeysetSpec *spec;
	const KeysetRequest *req;	/* the filter and its params */
	KeysetWay	way;
	KeysetOutput output;
	int64		limit;			/* most rows returned */
	const Datum *cvals;			/* cursor values; NULL: from the start */
	const bool *cnulls;			/* which of them are NULL */
} KeysetQuery;

/*
 * What a page query is prepared for: the fixed part of the plan cache key,
 * followed in the key's bytes by the normalized spec and, with a filter,
 * its text, the search_path and the literal settings (each NUL-terminated).
 */
typedef struct KeysetPlanKey
{
	Oid			relid;
	KeysetWay	way;
	KeysetOutput output;
	bool		has_cursor;
	bool		has_filter;
	uint32		cursor_nulls;	/* bit i: cursor value i is NULL */
	int64		limit;			/* the page size rounded up to a power of two */
	Oid			userid;			/* with a filter: "$user" in its search_path */
	Oid			paramtype;		/* with a filter: KeysetRequest.paramtype */
	int			nparams;		/* with a filter: KeysetRequest.nparams (a
								 * typed array may have more than it uses) */
} KeysetPlanKey;

/*
 * A prepared page query, as cached in keyset_plan_cache (spiplan.h): the
 * entry's context holds this struct and all it points to.
 */
typedef struct KeysetPlan
{
	SpiPlanEntry entry;			/* must be first; entry.plan is the plan */
	Oid			relid;			/* its relation, for invalidation */
	int			nfparams;		/* $1..$n the filter uses */
	Oid		   *fparamtypes;
	bool		reads_clock;	/* the filter has a literal such as 'now', */
	TimestampTz xact_start;		/* read at the start of this transaction */
} KeysetPlan;

/* A slot of the spec cache's hash table. */
typedef struct KeysetSlot
{
	uint64		hash;			/* hash key */
	KeysetEntry *entry;
} KeysetSlot;

/* keyset.c */
extern int	keyset_max_page_size;

/* keyset_cache.c */
extern MemoryContext keyset_cache_cxt;
extern HTAB *keyset_specs;
extern SpiPlanCache *keyset_plan_cache;
extern void keyset_init_caches(void);
extern void keyset_unlink(HTAB *htab, KeysetSlot *slot);
extern void keyset_unpin(KeysetEntry *e);
extern void keyset_cache_trim(HTAB *htab);
extern void keyset_cache_insert(HTAB *htab, uint64 h, KeysetEntry *e);
extern uint64 keyset_hash(const char *s, uint64 seed);

/* keyset_grammar.c */
extern int	keyset_parse_spec(const char *spec, KeysetSpecItem *items);

/* keyset_spec.c */
extern KeysetSpec *keyset_get_spec(Oid relid, const char *order_by, bool assume_unique);

/* keyset_filter.c */
typedef struct KeysetTokens		/* the core scanner's token numbers */
{
	int			param;			/* $n */
	int			sconst;			/* 'text', E'text', $$text$$ */
	int			usconst;		/* U&'text' */
} KeysetTokens;
extern const KeysetTokens *keyset_tokens(void);
extern Oid *keyset_filter_types(const KeysetSpec *spec, const char *filter, int nparams,
								Oid paramtype);
extern char *keyset_literal_settings(void);
extern bool keyset_filter_reads_clock(const char *filter);

/* keyset_query.c */
extern char *keyset_build_sql(const KeysetQuery *q, const char *filter, char *const *vals);
extern char *keyset_inline_params(const char *filter, char **literals, int nliterals);
extern int	keyset_literals_begin(void);
extern void keyset_literals_end(int nest);
extern char *keyset_literal(Datum v, bool isnull, Oid typid);

/* keyset_plan.c */
extern SPITupleTable *keyset_fetch(const KeysetQuery *q, DestReceiver *dest);
extern void keyset_row_key(const KeysetSpec *spec, SPITupleTable *tt, uint64 i,
						   Datum *vals, bool *nulls);

/* keyset_cursor.c */
extern void keyset_cursor_decode(const KeysetSpec *spec, text *c, Datum *vals, bool *nulls);
extern char *keyset_cursor_encode(const KeysetSpec *spec, const Datum *vals, const bool *nulls);

#endif							/* RESILIENCE_KEYSET_INT_H */
