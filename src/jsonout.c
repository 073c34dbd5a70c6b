/*-------------------------------------------------------------------------
 *
 * jsonout.c
 *		Rows as JSON with exact numbers: resilience.json_exact_numbers.
 *
 * What this file owns: the setting, and a renderer of composite values as
 * JSON text that differs from row_to_json() in one way only: a numeric,
 * and an int8 outside +-(2^53 - 1), becomes a JSON string of its text form.
 * Everything else is rendered by to_json() itself, value by value, so the
 * two agree on every other type (timestamps, booleans, casts to json ...).
 *
 * The renderer descends only where a conversion can happen: into arrays,
 * composite values and anonymous records whose types contain numeric or
 * int8 (through domains too).  A json or jsonb value is never descended
 * into: its numbers are the document's own.  Which types contain what is
 * decided from the catalogs (type cache), never from the values, so two
 * rows of one result always render their columns the same way, with one
 * exception that is the point: an int8 column holds numbers and, beyond
 * 2^53, strings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "jsonout.h"

/* the largest integer a double holds exactly, and so every JSON client */
#define JSONOUT_MAX_SAFE_INTEGER INT64CONST(9007199254740991)

bool		jsonout_exact_numbers = false;

static void jsonout_append_value(StringInfo buf, Datum v, bool isnull, Oid typid);

/* Define resilience.json_exact_numbers. */
void
jsonout_define_gucs(void)
{
	DefineCustomBoolVariable("resilience.json_exact_numbers",
							 "Renders numeric values, and bigint values beyond +-(2^53 - 1), as JSON strings.",
							 "Applies to the rows of page_json() and to the results of retry_transaction, retry_statement and idempotent; numbers inside json and jsonb values are left as they are.",
							 &jsonout_exact_numbers,
							 false,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

/* Whether values of typid can render differently with exact numbers. */
bool
jsonout_type_needs_exact(Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			elem;

	if (base == NUMERICOID || base == INT8OID || base == RECORDOID)
		return true;
	if (base == JSONOID || base == JSONBOID)
		return false;
	elem = get_element_type(base);
	if (OidIsValid(elem))
		return jsonout_type_needs_exact(elem);
	if (get_typtype(base) == TYPTYPE_COMPOSITE)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(base, -1);
		bool		needs = jsonout_desc_needs_exact(desc);

		ReleaseTupleDesc(desc);
		return needs;
	}
	return false;
}

/* Whether rows of desc render differently with exact numbers. */
bool
jsonout_desc_needs_exact(TupleDesc desc)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && jsonout_type_needs_exact(att->atttypid))
			return true;
	}
	return false;
}

/* A value as to_json() renders it. */
static void
jsonout_append_plain(StringInfo buf, Datum v, Oid typid)
{
	FmgrInfo	flinfo;
	text	   *js;

	fmgr_info(F_TO_JSON, &flinfo);
	flinfo.fn_expr = (Node *)
		makeFuncExpr(F_TO_JSON, JSONOID,
					 list_make1(makeNullConst(typid, -1, InvalidOid)),
					 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
	js = DatumGetTextPP(FunctionCall1(&flinfo, v));
	appendBinaryStringInfo(buf, VARDATA_ANY(js), VARSIZE_ANY_EXHDR(js));
}

/* One dimension of an array, as array_to_json() nests them. */
static void
jsonout_append_dim(StringInfo buf, int dim, int ndims, const int *dims,
				   const Datum *vals, const bool *nulls, int *next, Oid elem)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < dims[dim]; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		if (dim + 1 == ndims)
		{
			jsonout_append_value(buf, vals[*next], nulls[*next], elem);
			(*next)++;
		}
		else
			jsonout_append_dim(buf, dim + 1, ndims, dims, vals, nulls, next, elem);
	}
	appendStringInfoChar(buf, ']');
}

/* An array whose elements may need exact numbers. */
static void
jsonout_append_array(StringInfo buf, Datum v)
{
	ArrayType  *arr = DatumGetArrayTypeP(v);
	Oid			elem = ARR_ELEMTYPE(arr);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *vals;
	bool	   *nulls;
	int			n;
	int			next = 0;

	if (ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) <= 0)
	{
		appendStringInfoString(buf, "[]");
		return;
	}
	get_typlenbyvalalign(elem, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elem, typlen, typbyval, typalign, &vals, &nulls, &n);
	jsonout_append_dim(buf, 0, ARR_NDIM(arr), ARR_DIMS(arr), vals, nulls,
					   &next, elem);
}

/* One value of type typid, numbers exact. */
static void
jsonout_append_value(StringInfo buf, Datum v, bool isnull, Oid typid)
{
	Oid			base;

	check_stack_depth();		/* arrays of composites of arrays ... */
	if (isnull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	base = getBaseType(typid);
	if (base == NUMERICOID)
		escape_json(buf, DatumGetCString(DirectFunctionCall1(numeric_out, v)));
	else if (base == INT8OID)
	{
		int64		x = DatumGetInt64(v);

		if (x > JSONOUT_MAX_SAFE_INTEGER || x < -JSONOUT_MAX_SAFE_INTEGER)
			appendStringInfo(buf, "\"" INT64_FORMAT "\"", x);
		else
			appendStringInfo(buf, INT64_FORMAT, x);
	}
	else if (!jsonout_type_needs_exact(base))
		jsonout_append_plain(buf, v, typid);
	else if (OidIsValid(get_element_type(base)))
		jsonout_append_array(buf, v);
	else
		jsonout_append_row(buf, v);
}

/* A composite value as a JSON object, numbers exact. */
void
jsonout_append_row(StringInfo buf, Datum row)
{
	HeapTupleHeader td = DatumGetHeapTupleHeader(row);
	TupleDesc	desc;
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *nulls;
	bool		first = true;

	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(td),
								  HeapTupleHeaderGetTypMod(td));
	tuple.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = td;
	values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	heap_deform_tuple(&tuple, desc, values, nulls);

	appendStringInfoChar(buf, '{');
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		escape_json(buf, NameStr(att->attname));
		appendStringInfoChar(buf, ':');
		jsonout_append_value(buf, values[i], nulls[i], att->atttypid);
	}
	appendStringInfoChar(buf, '}');
	ReleaseTupleDesc(desc);
	pfree(values);
	pfree(nulls);
}
