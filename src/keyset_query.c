/*-------------------------------------------------------------------------
 *
 * keyset_query.c
 *		The text of a page query, and the literals page_sql() shows in it.
 *
 * "Rows after key v" is one row comparison (k1, k2) > (v1, v2) when the
 * spec allows it (every column the same direction, NOT NULL, one operator
 * set); the btree takes it as an index condition.  Otherwise it is a UNION
 * ALL of branches, each an equality prefix plus one range (or IS [NOT] NULL)
 * on the next column, each ORDER BY the key and LIMITed: never an OR chain,
 * which no index serves.  The branches are disjoint and every row of one
 * precedes every row of the next in the sort order (they are emitted
 * nearest the cursor first), so their concatenation is already ordered and
 * the outer query only LIMITs it.  A Merge Append under an outer ORDER BY
 * would also be correct but slower: the equality prefix makes the planner
 * drop those keys from a branch's order, so it would re-sort every branch,
 * and it must start every branch where the Append stops once the page is
 * full.  A non-parallel Append returns its children's rows in order; page
 * queries are never prepared parallel.  An asynchronous Append does not keep
 * that order, and a foreign table whose branch is pushed down whole (ORDER
 * BY and LIMIT included) is a candidate for one; so for foreign tables, and
 * views (which may hide them), the branches are merged by an outer ORDER BY.
 *
 * "before" is "after" in the reversed order (every direction and NULLS
 * placement flipped); the caller turns the rows around.  A NULL cursor value
 * is tested with IS NULL, never compared; a composite column's with
 * ROW(c) IS NULL, which tests the value, not its fields.
 *
 * page_sql() shows a query with its values inlined as typed literals that
 * read back as exactly the values page() binds, under any session's
 * settings: the type without typmod (bpchar, not character, which means
 * char(1)), and the value printed with extra_float_digits, DateStyle and
 * IntervalStyle set for exact, portable output while literals are made.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "parser/scanner.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "keyset_int.h"

/*
 * Append "ORDER BY ..." over the key columns: alias.col, or for the outer
 * query of a UNION ALL (outer) s.col or s.kN, as the output names them.
 */
static void
keyset_append_order(StringInfo buf, const KeysetQuery *q, bool outer)
{
	const KeysetSpec *spec = q->spec;
	bool		reverse = q->way == KEYSET_BEFORE;

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
		else if (q->output == KEYSET_OUT_COLUMNS)
			appendStringInfo(buf, "s.%s", c->qname);
		else
			appendStringInfo(buf, "s.k%d", i + 1);
		appendStringInfo(buf, " %s NULLS %s", desc ? "DESC" : "ASC", nf ? "FIRST" : "LAST");
	}
}

/* Append one "SELECT ... FROM rel WHERE filter AND cond ORDER BY ... LIMIT". */
static void
keyset_append_select(StringInfo buf, const KeysetQuery *q, const char *filter,
					 const char *cond)
{
	const KeysetSpec *spec = q->spec;

	if (q->output == KEYSET_OUT_COLUMNS)
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
	keyset_append_order(buf, q, false);
	appendStringInfo(buf, " LIMIT " INT64_FORMAT, q->limit);
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

static char *keyset_type_sql(Oid typid);

/*
 * One side of a comparison on column c: the column (or value, "$n" or a
 * typed literal), cast to its operators' input type where it needs one
 * (see keyset_resolve_type).
 */
static char *
keyset_operand_sql(const KeysetSpec *spec, const KeysetColumn *c, const char *val)
{
	char	   *s = val ? pstrdup(val) : psprintf("%s.%s", spec->alias, c->qname);

	if (!OidIsValid(c->optype))
		return s;
	return psprintf("(%s)::%s", s, keyset_type_sql(c->optype));
}

/*
 * The text of page query q, with filter (NULL: none) as its filter: rows on
 * q's side of the cursor values vals (the SQL text of each: "$n" or a typed
 * literal; unused where q->cnulls says NULL), or from the start if vals is
 * NULL.  At most q->limit rows.
 */
char *
keyset_build_sql(const KeysetQuery *q, const char *filter, char *const *vals)
{
	const KeysetSpec *spec = q->spec;
	const bool *cnulls = q->cnulls;
	bool		reverse = q->way == KEYSET_BEFORE;
	StringInfoData buf;
	List	   *conds = NIL;
	ListCell   *lc;
	int			nbranch;

	initStringInfo(&buf);
	if (vals == NULL)
	{
		keyset_append_select(&buf, q, filter, NULL);
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
		keyset_append_select(&buf, q, filter, c.data);
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
				appendStringInfo(&prefix, "%s %s %s AND ",
								 keyset_operand_sql(spec, &spec->cols[j], NULL),
								 spec->cols[j].eq_sql,
								 keyset_operand_sql(spec, &spec->cols[j], vals[j]));
		}
		if (!cnulls[i])
		{
			conds = lappend(conds, psprintf("%s%s %s %s", prefix.data,
											keyset_operand_sql(spec, c, NULL),
											desc ? c->lt_sql : c->gt_sql,
											keyset_operand_sql(spec, c, vals[i])));
			if (!c->notnull && !nf)
				conds = lappend(conds, psprintf("%s%s", prefix.data, keyset_null_sql(spec, c, true)));
		}
		else if (nf)
			conds = lappend(conds, psprintf("%s%s", prefix.data, keyset_null_sql(spec, c, false)));
	}

	nbranch = list_length(conds);
	if (nbranch == 0)
		keyset_append_select(&buf, q, filter, "false");
	else if (nbranch == 1)
		keyset_append_select(&buf, q, filter, linitial(conds));
	else
	{
		if (q->output == KEYSET_OUT_COLUMNS)
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
			keyset_append_select(&buf, q, filter, lfirst(lc));
			appendStringInfoChar(&buf, ')');
		}
		/* concatenated in order, or merged (foreign tables, views) */
		appendStringInfoString(&buf, ") AS s");
		if (spec->merge_union)
			keyset_append_order(&buf, q, true);
		appendStringInfo(&buf, " LIMIT " INT64_FORMAT, q->limit);
	}
	return buf.data;
}

/* The filter with each $k replaced by literals[k-1], found with the SQL lexer. */
char *
keyset_inline_params(const char *filter, char **literals, int nliterals)
{
	core_yy_extra_type yyextra;
	core_yyscan_t scanner;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	StringInfoData out;
	int			done = 0;
	int			param = keyset_tokens()->param;

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

/*
 * The schema-qualified name of a type for a value with no typmod, as page()
 * binds its values.  format_type_be_qualified() names bpchar and bit
 * "character" and "bit", which as a cast mean char(1) and bit(1): the
 * names of the types themselves are bpchar and "bit", which format_type
 * gives with TYPEMOD_GIVEN but unqualified.
 */
static char *
keyset_type_sql(Oid typid)
{
	char	   *s = format_type_extended(typid, -1,
										 FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);

	if (strcmp(s, "bpchar") == 0 || strcmp(s, "bpchar[]") == 0 ||
		strcmp(s, "\"bit\"") == 0 || strcmp(s, "\"bit\"[]") == 0)
		return psprintf("pg_catalog.%s", s);
	return s;
}

/*
 * The elements of dimension dim of an array, from element *next on, as
 * ARRAY[...] constructors nested as deep as the array's dimensions.
 */
static void
keyset_array_sql(StringInfo out, ArrayType *a, int dim, int *next,
				 Datum *elems, bool *nulls, Oid elemtype)
{
	appendStringInfoString(out, "ARRAY[");
	for (int i = 0; i < ARR_DIMS(a)[dim]; i++)
	{
		if (i > 0)
			appendStringInfoChar(out, ',');
		if (dim + 1 < ARR_NDIM(a))
			keyset_array_sql(out, a, dim + 1, next, elems, nulls, elemtype);
		else
		{
			appendStringInfoString(out, keyset_literal(elems[*next], nulls[*next], elemtype));
			(*next)++;
		}
	}
	appendStringInfoChar(out, ']');
}

/*
 * A value as a typed SQL literal: 'text'::schema.type, or NULL::schema.type.
 * Call between keyset_literals_begin() and _end(), so the text reads back as
 * the same value under any session's settings.
 *
 * An array holding NULL elements is written as ARRAY[...]::type instead:
 * its literal '{NULL}' reads as the string NULL under array_nulls = off.
 * An array whose lower bounds are not all 1 keeps its literal
 * ('[0:1]={...}'), which no constructor can write.
 */
char *
keyset_literal(Datum v, bool isnull, Oid typid)
{
	Oid			outfunc;
	bool		isvarlena;
	Oid			elemtype;

	if (isnull)
		return psprintf("NULL::%s", keyset_type_sql(typid));
	elemtype = get_element_type(getBaseType(typid));
	if (OidIsValid(elemtype))
	{
		ArrayType  *a = DatumGetArrayTypeP(v);
		bool		ones = true;

		for (int d = 0; d < ARR_NDIM(a); d++)
			ones = ones && ARR_LBOUND(a)[d] == 1;
		if (ones && array_contains_nulls(a))
		{
			int16		elmlen;
			bool		elmbyval;
			char		elmalign;
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			int			next = 0;
			StringInfoData out;

			get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
			deconstruct_array(a, elemtype, elmlen, elmbyval, elmalign,
							  &elems, &nulls, &n);
			initStringInfo(&out);
			keyset_array_sql(&out, a, 0, &next, elems, nulls, elemtype);
			appendStringInfo(&out, "::%s", keyset_type_sql(typid));
			return out.data;
		}
	}
	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	return psprintf("%s::%s", quote_literal_cstr(OidOutputFunctionCall(outfunc, v)),
					keyset_type_sql(typid));
}

/*
 * Set what makes output functions print values that read back the same
 * anywhere: floats in their shortest exact form (extra_float_digits = 1,
 * whatever the session says, as pg_dump does), dates in ISO (readable under
 * every DateStyle; timestamptz with its UTC offset, so TimeZone does not
 * matter), intervals in the postgres style (sql_standard's sign rule reads
 * differently elsewhere).  Returns the GUC nest level for
 * keyset_literals_end(); an error rolls the settings back with the
 * (sub)transaction, as for a function's SET clause.
 */
int
keyset_literals_begin(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("DateStyle", "ISO", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("IntervalStyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Restore the settings keyset_literals_begin() changed. */
void
keyset_literals_end(int nest)
{
	AtEOXact_GUC(true, nest);
}
