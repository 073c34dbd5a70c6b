/*-------------------------------------------------------------------------
 *
 * keyset_grammar.c
 *		The sort-specification grammar of resilience.page() and friends:
 *
 *			column [ASC | DESC] [NULLS FIRST | NULLS LAST] [, ...]
 *
 * A specification is parsed here, never pasted into SQL.  Column names
 * follow the SQL lexer's rules for identifiers (unquoted ones are
 * down-cased, "" escapes a quote in quoted ones, both are truncated to
 * NAMEDATALEN), and only unquoted words are keywords, so "desc" names a
 * column.  Every error is 22023 and says where the text stopped matching.
 * Nothing is resolved here: names become columns in keyset_spec.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"

#include "keyset_int.h"

typedef enum SpecTok
{
	SPEC_END,
	SPEC_COMMA,
	SPEC_WORD,					/* identifier or keyword */
	SPEC_QUOTED					/* "quoted identifier" */
} SpecTok;

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
int
keyset_parse_spec(const char *spec, KeysetSpecItem *items)
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
		items[n].dir = KEYSET_DIR_DEFAULT;
		items[n].nulls = KEYSET_NULLS_DEFAULT;
		tok = spec_next(spec, &pos, &start, &word, &unq);
		if (spec_is_kw(tok, word, unq, "asc") || spec_is_kw(tok, word, unq, "desc"))
		{
			items[n].dir = strcmp(word, "asc") == 0 ? KEYSET_DIR_ASC : KEYSET_DIR_DESC;
			tok = spec_next(spec, &pos, &start, &word, &unq);
		}
		if (spec_is_kw(tok, word, unq, "nulls"))
		{
			tok = spec_next(spec, &pos, &start, &word, &unq);
			if (spec_is_kw(tok, word, unq, "first"))
				items[n].nulls = KEYSET_NULLS_FIRST;
			else if (spec_is_kw(tok, word, unq, "last"))
				items[n].nulls = KEYSET_NULLS_LAST;
			else
				spec_syntax_error(spec, start, "FIRST or LAST after NULLS");
			tok = spec_next(spec, &pos, &start, &word, &unq);
		}
		n++;
		if (tok == SPEC_END)
			break;
		if (tok != SPEC_COMMA)
			spec_syntax_error(spec, start,
							  items[n - 1].nulls != KEYSET_NULLS_DEFAULT ? "a comma or the end" :
							  items[n - 1].dir != KEYSET_DIR_DEFAULT ? "NULLS, a comma or the end" :
							  "ASC, DESC, NULLS, a comma or the end");
		tok = spec_next(spec, &pos, &start, &word, &unq);
	}
	return n;
}
