/*-------------------------------------------------------------------------
 *
 * args.c
 *		Argument checks shared by every SQL-callable function.
 *
 * Each kind of bad argument has one SQLSTATE and one message shape here,
 * so that a client can tell "you passed NULL" (22004) from "you passed a
 * bad value" (22023) the same way whichever function it calls.  Messages
 * name the argument as the SQL signature does, so they also say which one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "args.h"

/* 22004 if argument argno is NULL. */
void
args_not_null(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/* 22004 with a hint if argument argno is NULL. */
void
args_not_null_hint(FunctionCallInfo fcinfo, int argno, const char *name,
				   const char *hint)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("%s", hint)));
}

/* Elements of a one-dimensional text[] (NULL, '{}': 0); 22023 otherwise. */
int
args_text_array_length(ArrayType *arr, const char *name)
{
	if (arr == NULL || ARR_NDIM(arr) == 0)
		return 0;
	if (ARR_NDIM(arr) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	if (ARR_ELEMTYPE(arr) != TEXTOID)
		elog(ERROR, "%s must be text[], not type %u", name, ARR_ELEMTYPE(arr));
	return ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
}

/* Check and deconstruct a one-dimensional text[]. */
int
args_text_array(ArrayType *arr, const char *name, Datum **elems, bool **nulls)
{
	int			n;

	if (args_text_array_length(arr, name) == 0)
	{
		*elems = NULL;
		*nulls = NULL;
		return 0;
	}
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, elems, nulls, &n);
	return n;
}

/*
 * Elements of a params array of any element type (NULL, '{}': 0, element
 * type text); 22023 if it has more than one dimension or its elements are
 * of a pseudo-type (record[] of anonymous rows, cstring[]), which no
 * parameter can be declared with.
 */
int
args_param_array_length(ArrayType *arr, const char *name, Oid *elemtype)
{
	Oid			typid;

	*elemtype = TEXTOID;
	if (arr == NULL || ARR_NDIM(arr) == 0)
		return 0;
	if (ARR_NDIM(arr) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name)));
	typid = ARR_ELEMTYPE(arr);
	if (get_typtype(typid) == TYPTYPE_PSEUDO)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot be an array of type %s", name,
						format_type_be(typid)),
				 errhint("Pass an array of a named type, such as text[], integer[] or an array of a composite type.")));
	*elemtype = typid;
	return ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
}

/* Check and deconstruct a params array of any element type. */
int
args_param_array(ArrayType *arr, const char *name, Oid *elemtype,
				 Datum **elems, bool **nulls)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n;

	if (args_param_array_length(arr, name, elemtype) == 0)
	{
		*elemtype = TEXTOID;
		*elems = NULL;
		*nulls = NULL;
		return 0;
	}
	get_typlenbyvalalign(*elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, *elemtype, typlen, typbyval, typalign,
					  elems, nulls, &n);
	return n;
}

/* Interval to microseconds (30-day months, 24-hour days), overflow-checked. */
int64
args_interval_usec(const Interval *iv, const char *name)
{
	int64		days_us;
	int64		months_us;
	int64		total;

#ifdef INTERVAL_NOT_FINITE
	if (INTERVAL_NOT_FINITE(iv))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite interval", name)));
#endif
	if (pg_mul_s64_overflow((int64) iv->day, USECS_PER_DAY, &days_us) ||
		pg_mul_s64_overflow((int64) iv->month, (int64) DAYS_PER_MONTH * USECS_PER_DAY, &months_us) ||
		pg_add_s64_overflow(iv->time, days_us, &total) ||
		pg_add_s64_overflow(total, months_us, &total))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range", name)));
	return total;
}
