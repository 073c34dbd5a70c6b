/*-------------------------------------------------------------------------
 *
 * keyset_spec.c
 *		Resolving a parsed sort specification against a relation and making
 *		the order it gives total.
 *
 * Each column is resolved against the relation and re-emitted with
 * quote_identifier; every operator comes from the column type's default
 * btree operator family, written as OPERATOR(schema.op) with both operands
 * cast to the family's input type where the column's type differs (a
 * domain, varchar), so the name resolves to that operator and no other,
 * and nothing the caller wrote reaches SQL but names that exist.
 *
 * The order is made total by appending the primary key (or the narrowest
 * unique index on NOT NULL columns, ties broken by index name) unless the
 * spec already contains such a key or the caller says the spec is unique.
 * A simple view (keyset_view_table) has the keys of its table whose columns
 * it shows as they are; any other view has none.
 * Only btree indexes whose equality and collation are the sort's prove
 * uniqueness.  Appended columns take the direction of the last spec column,
 * so "created_at DESC" becomes "created_at DESC, id DESC" and stays one
 * index's order.  The NULLS placement of a NOT NULL column is normalized to
 * its direction's default, so such a spec matches a plain index.  NOT NULL
 * counts only where its constraint is valid (keyset_attr_notnull), and is
 * not trusted on a foreign table, nor on a parent with a foreign
 * partition or child (the remote side does not enforce it), and a parent
 * with inheritance children has no unique index covering them.
 *
 * The normalized spec (every default explicit) identifies the order: plans
 * and cursor fingerprints are made from it, so spellings that differ only in
 * whitespace, case or explicit defaults share them.  A spec is also marked
 * for the two shapes of page query: one row comparison when every column
 * has the same direction, is NOT NULL and uses the same operators; a merged
 * UNION ALL for foreign tables and views.
 *
 * keyset_get_spec() checks the caller's SELECT privilege before anything
 * else, so a role without it can neither block DDL with the lock nor learn
 * about the relation; then it locks the relation (AccessShareLock, kept to
 * the end of the transaction), which also delivers any pending invalidation
 * of a cached entry before it is looked up.  Cached specs are keyed by
 * relation, the spec text as written and assume_unique, so a hit skips the
 * parse and does not open the relation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "inval.h"
#include "keyset_int.h"

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
	spec->typnames[i] = format_type_be(attr->atttypid);
	ReleaseSysCache(tup);

	c->typid = attr->atttypid;
	/*
	 * OPERATOR(schema.op) names an operator by name: with operands of the
	 * column's type (a domain, varchar) it would be looked up again for
	 * that type, and an operator planted in the family's schema for exactly
	 * that type would win.  Cast to the family's input type, the lookup has
	 * one exact match, the family's (a binary coercion, which the planner
	 * still matches to an index on the column).  A pseudo-type (anyarray,
	 * anyenum, record) cannot be cast to; its family's operators are
	 * pg_catalog's.
	 */
	c->optype = (intype != attr->atttypid && get_typtype(intype) != TYPTYPE_PSEUDO) ?
		intype : InvalidOid;
	c->lt_sql = keyset_operator_sql(lt);
	c->gt_sql = keyset_operator_sql(gt);
	c->eq_sql = keyset_operator_sql(eq);
}

/*
 * Whether a column of the relation described by desc (a relcache entry's)
 * is NOT NULL by a constraint that holds for every row.  From PostgreSQL 18
 * a NOT NULL constraint can be NOT VALID: attnotnull is set, but rows from
 * before may still be NULL, so the column may neither prove a unique index
 * a key nor be compared as never NULL.  (A catalog's are left unknown, and
 * always hold.)
 */
static bool
keyset_attr_notnull(TupleDesc desc, Form_pg_attribute attr)
{
	if (!attr->attnotnull)
		return false;
#if PG_VERSION_NUM >= 180000
	if (TupleDescCompactAttr(desc, attr->attnum - 1)->attnullability == ATTNULLABLE_INVALID)
		return false;
#endif
	return true;
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
 *
 * rel is the relation paged, or the table of a simple view: then expose maps
 * each of rel's attribute numbers to the view column showing it as it is
 * (0: none), only keys whose every column is shown count, and the spec's
 * and the returned keycols' attribute numbers are the view's.
 */
static int
keyset_unique_key(Relation rel, const KeysetSpec *spec, const AttrNumber *expose,
				  AttrNumber *keycols)
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
			AttrNumber	shown;
			bool		found = false;

			if (attnum <= 0 || !keyset_attr_notnull(desc, TupleDescAttr(desc, attnum - 1)) ||
				!keyset_index_column_proves(tup, k, TupleDescAttr(desc, attnum - 1)))
			{
				usable = false;
				break;
			}
			shown = expose ? expose[attnum] : attnum;
			if (shown == 0)
			{
				usable = false;
				break;
			}
			for (int j = 0; j < spec->ncols; j++)
				if (spec->cols[j].attnum == shown)
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
					keycols[k] = expose ? expose[ix->indkey.values[k]] :
						ix->indkey.values[k];
			}
		}
		ReleaseSysCache(tup);
	}
	list_free(indexes);
	return best_n;
}

/*
 * The table of a simple view, opened and locked (AccessShareLock), or NULL:
 * a view whose query reads one table, materialized view or partitioned
 * table (its own rows only: no inheritance children, no foreign partition,
 * no TABLESAMPLE), with no DISTINCT, GROUP BY, HAVING, aggregates, window
 * functions, set-returning functions in its select list, set operations,
 * WITH, LIMIT or OFFSET.  Such a view shows each row of the table at most
 * once (a WHERE clause, row-level security or a security barrier only
 * leave rows out), so a unique key of the table is one of the view where
 * its columns are shown as they are: expose[attnum of the table] is then
 * the view column that is a plain reference to it (the first such, 0 if
 * none).  Everything is read from the view's stored definition and the
 * catalogs, by OID; nothing a caller names or sets (search_path, their own
 * objects) enters into it.  The view's owner decides what it reads, and the
 * table's owner its keys.
 */
static Relation
keyset_view_table(Relation view, AttrNumber **expose)
{
	/* a copy: opening the table can rebuild the view's relcache entry */
	Query	   *q = copyObject(get_view_query(view));
	RangeTblRef *rtr;
	RangeTblEntry *rte;
	Relation	base;
	ListCell   *lc;

	if (q->commandType != CMD_SELECT || q->cteList != NIL ||
		q->distinctClause != NIL || q->groupClause != NIL ||
		q->groupingSets != NIL || q->havingQual != NULL || q->hasAggs ||
		q->hasWindowFuncs || q->hasTargetSRFs || q->setOperations != NULL ||
		q->limitCount != NULL || q->limitOffset != NULL ||
		q->jointree == NULL || list_length(q->jointree->fromlist) != 1 ||
		!IsA(linitial(q->jointree->fromlist), RangeTblRef))
		return NULL;
	rtr = linitial_node(RangeTblRef, q->jointree->fromlist);
	rte = rt_fetch(rtr->rtindex, q->rtable);
	if (rte->rtekind != RTE_RELATION || rte->tablesample != NULL)
		return NULL;
	if (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_MATVIEW &&
		rte->relkind != RELKIND_PARTITIONED_TABLE)
		return NULL;

	base = try_relation_open(rte->relid, AccessShareLock);
	if (base == NULL)
		return NULL;
	if (base->rd_rel->relkind == RELKIND_RELATION && rte->inh &&
		has_subclass(rte->relid))
	{
		relation_close(base, NoLock);
		return NULL;
	}
	if (base->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		List	   *members = find_all_inheritors(rte->relid, NoLock, NULL);
		bool		foreign = false;

		foreach(lc, members)
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_FOREIGN_TABLE)
				foreign = true;
		list_free(members);
		if (foreign)
		{
			relation_close(base, NoLock);
			return NULL;
		}
	}

	*expose = palloc0(sizeof(AttrNumber) * (RelationGetDescr(base)->natts + 1));
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Var		   *var = (Var *) tle->expr;

		if (tle->resjunk || !IsA(var, Var) || var->varno != rtr->rtindex ||
			var->varlevelsup != 0 || var->varattno <= 0 ||
			var->varattno > RelationGetDescr(base)->natts)
			continue;
		if ((*expose)[var->varattno] == 0)
			(*expose)[var->varattno] = tle->resno;
	}
	return base;
}

/* Fill a column's attribute fields and its type's. */
static void
keyset_set_column(KeysetSpec *spec, int i, TupleDesc desc, Form_pg_attribute attr,
				  KeysetDirection dir, KeysetNulls nulls)
{
	KeysetColumn *c = &spec->cols[i];

	c->attnum = attr->attnum;
	c->name = pstrdup(NameStr(attr->attname));
	c->qname = quote_identifier(c->name);
	c->notnull = keyset_attr_notnull(desc, attr) && !spec->notnull_untrusted;
	c->rowtype = type_is_rowtype(attr->atttypid);
	c->desc = (dir == KEYSET_DIR_DESC);
	/* NULLS placement only matters for nullable columns */
	if (nulls == KEYSET_NULLS_DEFAULT || c->notnull)
		c->nulls_first = c->desc;
	else
		c->nulls_first = (nulls == KEYSET_NULLS_FIRST);
	keyset_resolve_type(spec, i, attr);
}

/* Resolve and totalize a parsed sort spec over rel, in CurrentMemoryContext. */
static KeysetSpec *
keyset_build_spec(Relation rel, const KeysetSpecItem *items, int nitems, bool assume_unique)
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
		keyset_set_column(spec, i, desc, attr, items[i].dir, items[i].nulls);
		spec->ncols = i + 1;
	}

	if (!assume_unique)
	{
		AttrNumber	keycols[INDEX_MAX_KEYS];
		int			nkey;
		KeysetDirection lastdir = spec->cols[spec->ncols - 1].desc ? KEYSET_DIR_DESC : KEYSET_DIR_ASC;
		Relation	base = NULL;
		AttrNumber *expose = NULL;
		List	   *indexes;
		ListCell   *lc;

		/* a simple view's rows are unique where its table's are */
		if (kind == RELKIND_VIEW)
			base = keyset_view_table(rel, &expose);
		if (base != NULL)
			spec->baserelid = RelationGetRelid(base);
		indexes = RelationGetIndexList(base ? base : rel);

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
		nkey = keyset_unique_key(base ? base : rel, spec, expose, keycols);
		if (base != NULL)
			relation_close(base, NoLock);
		if (nkey < 0 && kind == RELKIND_VIEW)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sort order on \"%s\" is not total", spec->relname),
					 errdetail("\"%s\" is a view that does not show a primary key or unique index on NOT NULL columns of a table it reads as its own columns, so rows with equal sort keys could be skipped or repeated.",
							   spec->relname),
					 errhint("Only a view of one table, without DISTINCT, GROUP BY, aggregates, set operations or LIMIT, that shows the key columns unchanged counts as unique; add a unique column to the sort, or pass assume_unique => true if the sort columns are unique.")));
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
			keyset_set_column(spec, spec->ncols, desc, TupleDescAttr(desc, keycols[k] - 1), lastdir,
							  KEYSET_NULLS_DEFAULT);
			spec->ncols++;
		}
	}

	/* one row comparison when directions agree, no NULLs, one operator set */
	spec->merge_union = (kind == RELKIND_FOREIGN_TABLE || kind == RELKIND_VIEW);
	spec->rowcmp = true;
	for (int i = 0; i < spec->ncols; i++)
	{
		KeysetColumn *c = &spec->cols[i];

		if (!c->notnull || c->desc != spec->cols[0].desc || OidIsValid(c->optype) ||
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
keyset_create_spec(Relation rel, const KeysetSpecItem *items, int nitems, bool assume_unique,
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
KeysetSpec *
keyset_get_spec(Oid relid, const char *order_by, bool assume_unique)
{
	KeysetSpecItem items[KEYSET_MAX_COLUMNS];
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

	/*
	 * And USAGE on its schema, which the query's name lookup checks only
	 * when it is planned: a plan cached for another role (a pooler's SET
	 * ROLE) must not let a role read a table it could not name.
	 */
	{
		Oid			nsp = get_rel_namespace(relid);

#if PG_VERSION_NUM >= 160000
		aclresult = object_aclcheck(NamespaceRelationId, nsp, GetUserId(), ACL_USAGE);
#else
		aclresult = pg_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE);
#endif
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_SCHEMA, get_namespace_name(nsp));
	}
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
	inval_count = inval_generation;
	/* dropped between the privilege check and the lock? */
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	spec = keyset_create_spec(rel, items, nitems, assume_unique, order_by);
	relation_close(rel, NoLock);
	spec->entry.valid = inval_generation == inval_count;
	keyset_cache_insert(keyset_specs, h, &spec->entry);
	return spec;
}
