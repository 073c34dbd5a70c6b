/*-------------------------------------------------------------------------
 *
 * keyset_filter.c
 *		The application's filter: checking that it is one expression,
 *		inferring its parameters' types, and what its literals depend on.
 *
 * The filter is the one piece of caller text that reaches a page query's
 * SQL, placed as "WHERE (filter\n) AND ...", and the only text evaluated
 * with the caller's search_path.  It must be exactly one expression there:
 * "SELECT filter" must parse as one unnamed target, so it cannot close the
 * parenthesis around it and add clauses of its own, and "WHERE (filter\n)"
 * must parse too, since SELECT also takes what no expression is (a leading
 * ALL, a trailing semicolon).  The newline ends a trailing "--" comment.
 * What fails either check is 22023 before any page query is prepared.
 *
 * With params text[], $1..$n take the types their context gives them, as
 * an untyped PREPARE does, so the params array (text) is read by each
 * type's input function.  With params of any other element type, $1..$n
 * are of that type, as PREPARE name(type, ...) declares them.
 *
 * Parse analysis turns the filter's literals into constants when its plan
 * is prepared, under the settings of that moment, and a prepared plan keeps
 * them.  So that a filter always means what the same WHERE clause means
 * now, a plan is reused only under the same settings that change how
 * literals read (keyset_literal_settings()), and a plan whose filter reads
 * the clock ('now', 'today', ...) only within its transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "parser/scanner.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "keyset_int.h"

/*
 * Raw-parse sql, which places filter; ERROR 22023 with msg and the parser's
 * message if it does not parse.  Raw parsing touches no shared state, so its
 * error can be replaced.
 */
static List *
keyset_parse_filter_sql(const char *sql, const char *filter, const char *msg)
{
	List	   *raw = NIL;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_internal("%s", msg),
				 errdetail("Parsing \"%s\" failed: %s.", filter, edata->message)));
	}
	PG_END_TRY();
	return raw;
}

/*
 * ERROR 22023 unless filter is exactly one expression, as the page query's
 * WHERE clause reads it.  "SELECT filter" must be one unnamed target, so the
 * filter cannot close the parenthesis it is placed in and add clauses of its
 * own; and "WHERE (filter)" must parse too, since SELECT also takes what no
 * expression is, such as a leading ALL or a trailing semicolon.
 */
static void
keyset_check_filter(const char *filter)
{
	List	   *raw;
	SelectStmt *sel;
	ResTarget  *rt;

	raw = keyset_parse_filter_sql(psprintf("SELECT %s\n", filter), filter,
								  _("filter is not a valid SQL expression"));
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
			{
				(void) keyset_parse_filter_sql(psprintf("SELECT WHERE (%s\n)", filter), filter,
											   _("filter must be a single boolean expression"));
				return;
			}
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("filter must be a single boolean expression"),
			 errdetail("The filter is placed in a WHERE clause; clauses such as FROM, ORDER BY or a second statement are not allowed.")));
}

/*
 * The types of the filter's $1..$n: paramtype for each (params of another
 * type than text), else inferred from context as an untyped PREPARE does.
 * ERROR 22023 if params does not have exactly n elements (text) or has
 * fewer (another type), 42P18 if a type cannot be determined.
 */
Oid *
keyset_filter_types(const KeysetSpec *spec, const char *filter, int nparams,
					Oid paramtype)
{
	char	   *sql;
	List	   *raw;
	Oid		   *types = NULL;
	int			ntypes = 0;

	if (paramtype != TEXTOID && nparams > 0)
	{
		types = palloc(sizeof(Oid) * nparams);
		for (int i = 0; i < nparams; i++)
			types[i] = paramtype;
		ntypes = nparams;
	}

	keyset_check_filter(filter);
	sql = psprintf("SELECT 1 FROM %s AS %s WHERE (%s\n)", spec->relsql, spec->alias, filter);
	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	(void) parse_analyze_varparams(linitial(raw), sql, &types, &ntypes, NULL);
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

/*
 * The settings that change what a filter's literals mean, as one string.
 * Parse analysis turns a literal into a constant of its column's type when
 * the plan is prepared, under these settings (and keeps it across
 * executions, as a prepared statement does), so a filter's cached plan is
 * only reused under the same ones.  search_path and the role are keyed
 * apart; settings that only change how values are printed need not be.
 */
char *
keyset_literal_settings(void)
{
	static const char *const gucs[] = {
		"TimeZone", "timezone_abbreviations", "DateStyle", "IntervalStyle",
		"standard_conforming_strings", "array_nulls", "transform_null_equals",
		"xmloption", "lc_monetary"
	};
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < (int) lengthof(gucs); i++)
	{
		appendStringInfoString(&buf, GetConfigOption(gucs[i], false, false));
		appendStringInfoChar(&buf, '\n');
	}
	return buf.data;
}

/*
 * Whether a string literal of the filter reads the clock: 'now', 'today',
 * 'tomorrow' and 'yesterday' mean the start of the current transaction to
 * date/time input functions, so a plan with such a literal holds for one
 * transaction.  Any literal containing one of those words counts (a text
 * literal too: that only costs a plan per transaction).
 */
bool
keyset_filter_reads_clock(const char *filter)
{
	const KeysetTokens *tokens = keyset_tokens();
	static const char *const words[] = {"now", "today", "tomorrow", "yesterday"};
	core_yy_extra_type yyextra;
	core_yyscan_t scanner;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	bool		found = false;

	scanner = scanner_init(filter, &yyextra, &ScanKeywords, ScanKeywordTokens);
	while (!found)
	{
		int			tok = core_yylex(&yylval, &yylloc, scanner);
		const char *p;

		if (tok == 0)
			break;
		if (tok != tokens->sconst && tok != tokens->usconst)
			continue;
		for (p = yylval.str; *p && !found;)
		{
			const char *w = p;

			while (isalpha((unsigned char) *p))
				p++;
			for (int i = 0; i < (int) lengthof(words) && p > w; i++)
				if ((size_t) (p - w) == strlen(words[i]) && pg_strncasecmp(w, words[i], p - w) == 0)
					found = true;
			if (*p && p == w)
				p++;
		}
	}
	scanner_finish(scanner);
	return found;
}

/* The token the core scanner returns first for sample. */
static int
keyset_first_token(const char *sample)
{
	core_yy_extra_type yyextra;
	core_yyscan_t scanner;
	core_YYSTYPE yylval;
	YYLTYPE		yylloc;
	int			tok;

	scanner = scanner_init(sample, &yyextra, &ScanKeywords, ScanKeywordTokens);
	/* U&'' is an error under standard_conforming_strings = off */
	yyextra.standard_conforming_strings = true;
	tok = core_yylex(&yylval, &yylloc, scanner);
	scanner_finish(scanner);
	return tok;
}

/*
 * The core scanner's token numbers for what a filter is searched for.  bison
 * generates them into parser/gram.h, which PostgreSQL 18 no longer installs
 * for extensions, so they are learnt once per backend by lexing a sample.
 */
const KeysetTokens *
keyset_tokens(void)
{
	static KeysetTokens tokens;
	static bool known = false;

	if (!known)
	{
		tokens.param = keyset_first_token("$1");
		tokens.sconst = keyset_first_token("'x'");
		tokens.usconst = keyset_first_token("U&'x'");
		Assert(tokens.param > 0 && tokens.sconst > 0 && tokens.usconst > 0 &&
			   tokens.param != tokens.sconst && tokens.sconst != tokens.usconst);
		known = true;
	}
	return &tokens;
}
