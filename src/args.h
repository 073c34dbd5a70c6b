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
 * - A params array (anycompatiblearray in SQL) may have any element type
 *   but a pseudo-type (22023); an empty one reports element type text, so
 *   '{}', '{}'::int[] and NULL are all "no parameters".
 * - An interval used as a duration: int64 microseconds, months counting 30
 *   days and days 24 hours as interval comparison does; 22008 if it does
 *   not fit, 22023 if it is infinite (PostgreSQL 17 and later).
 *
 * How to call it (as the C entry points do):
 *
 *		#include "args.h"
 *
 *		args_not_null(fcinfo, 1, "order_by");
 *		n = args_text_array(arr, "retry_on", &elems, &nulls);
 *		n = args_param_array(arr, "params", &elemtype, &elems, &nulls);
 *		us = args_interval_usec(iv, "base_delay");
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
 * Number of elements of a params array of any element type, which it sets
 * *elemtype to (NULL or '{}': 0, text); 22023 if it has more than one
 * dimension or its elements are of a pseudo-type.
 */
extern int	args_param_array_length(ArrayType *arr, const char *name,
									Oid *elemtype);

/*
 * As args_param_array_length, and deconstruct the array into *elems (of
 * type *elemtype, pointing into arr where by reference) and *nulls.
 */
extern int	args_param_array(ArrayType *arr, const char *name, Oid *elemtype,
							 Datum **elems, bool **nulls);

/*
 * An interval as microseconds; 22008 "<name> is out of range" if it does
 * not fit in int64, 22023 if it is infinite.
 */
extern int64 args_interval_usec(const Interval *iv, const char *name);

#endif							/* RESILIENCE_ARGS_H */
