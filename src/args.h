/*-------------------------------------------------------------------------
 *
 * args.h
 *		Argument checks shared by every SQL-callable function: one SQLSTATE
 *		and one message per kind of bad argument, extension-wide.
 *
 * The rules (see args.c):
 * - A NULL where a value is required: 22004 null_value_not_allowed,
 *   "<name> must not be null", name being the SQL argument's name.
 * - An array argument of more than one dimension: 22023
 *   invalid_parameter_value, "<name> must be a one-dimensional array".  An
 *   empty array ('{}', zero dimensions) counts as zero elements.
 * - An interval used as a duration: int64 microseconds, months counting 30
 *   days and days 24 hours as interval comparison does; 22008 if it does
 *   not fit, 22023 if it is infinite (PostgreSQL 17 and later).
 *
 * How to call it from a file that has its own copies today (keyset.c's
 * keyset_read_args and entry points, and retry.c; converted by their
 * owners):
 *
 *		#include "args.h"
 *
 *		args_not_null(fcinfo, 1, "order_by");		(keyset: replaces its
 *													 22023 NULL checks)
 *		n = args_text_array(arr, "params", &elems, &nulls);
 *													(replaces ARR_NDIM
 *													 checks +
 *													 deconstruct_array)
 *		us = args_interval_usec(iv, "base_delay");	(was
 *													 backoff_interval_usec)
 *
 * retry_require() becomes args_not_null(); retry_parse_codes()'s
 * dimension check becomes args_text_array(arr, "retry_on", ...).
 * backoff_interval_usec remains as an alias of args_interval_usec until
 * retry.c is converted; do not use it in new code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_ARGS_H
#define RESILIENCE_ARGS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/array.h"

/* 22004 "<name> must not be null" if argument argno is NULL. */
extern void args_not_null(FunctionCallInfo fcinfo, int argno,
						  const char *name);

/* As args_not_null, with a hint (a full sentence) saying what to pass. */
extern void args_not_null_hint(FunctionCallInfo fcinfo, int argno,
							   const char *name, const char *hint);

/*
 * Number of elements of a text[] argument (NULL or '{}': 0); 22023 if it
 * has more than one dimension.
 */
extern int	args_text_array_length(ArrayType *arr, const char *name);

/*
 * As args_text_array_length, and deconstruct the array into *elems and
 * *nulls (palloc'd in the current memory context; NULL when empty).
 */
extern int	args_text_array(ArrayType *arr, const char *name,
							Datum **elems, bool **nulls);

/*
 * An interval as microseconds; 22008 "<name> is out of range" if it does
 * not fit in int64, 22023 if it is infinite.
 */
extern int64 args_interval_usec(const Interval *iv, const char *name);

#endif							/* RESILIENCE_ARGS_H */
