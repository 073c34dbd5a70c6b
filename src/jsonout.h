/*-------------------------------------------------------------------------
 *
 * jsonout.h
 *		Rows as JSON for clients, and the setting resilience.json_exact_numbers.
 *
 * With the setting off (the default) rows render as row_to_json() and
 * to_jsonb() render them.  With it on, every value of type numeric, and
 * every int8 value outside +-(2^53 - 1), renders as a JSON string holding
 * its text form ("695.90", "9007199254740993"), so that a client whose JSON
 * numbers are doubles cannot round it; that applies at any depth of arrays
 * and composite values (and to domains over those types), never inside a
 * json or jsonb value, whose numbers are the value's own.
 *
 * Used by page_json() (keyset.c) and by the results of retry_transaction,
 * retry_statement and idempotent (sqlexec.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_JSONOUT_H
#define RESILIENCE_JSONOUT_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "lib/stringinfo.h"

/* resilience.json_exact_numbers */
extern bool jsonout_exact_numbers;

/* Define resilience.json_exact_numbers (from _PG_init). */
extern void jsonout_define_gucs(void);

/*
 * Whether values of typid render differently with the setting on: it is
 * or is a domain over numeric, int8 or an anonymous record, or an array or
 * composite type with such a part.
 */
extern bool jsonout_type_needs_exact(Oid typid);

/*
 * Whether rows of desc render differently with the setting on: some
 * column's type does (jsonout_type_needs_exact).
 */
extern bool jsonout_desc_needs_exact(TupleDesc desc);

/*
 * Append the JSON object of row (a composite datum), numbers exact as
 * above, to buf.  Allocates in the current memory context.
 */
extern void jsonout_append_row(StringInfo buf, Datum row);

#endif							/* RESILIENCE_JSONOUT_H */
