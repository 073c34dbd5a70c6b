/*-------------------------------------------------------------------------
 *
 * resilience.h
 *		What every file with SQL-callable functions includes.
 *
 * The module is built with -fvisibility=hidden (see the Makefile): extensions
 * load with RTLD_GLOBAL, so any symbol we export could capture a call meant
 * for another library's function of the same name.  Only the SQL entry points,
 * the magic block and _PG_init are exported, and every SQL entry point is
 * declared with RESILIENCE_FUNCTION, never with a bare PG_FUNCTION_INFO_V1
 * (PostgreSQL 15's fmgr.h does not mark the function itself as exported).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_H
#define RESILIENCE_H

#include "postgres.h"

#include "fmgr.h"

/* Declare a SQL-callable function and export it from the module. */
#define RESILIENCE_FUNCTION(funcname) \
	PG_FUNCTION_INFO_V1(funcname); \
	extern PGDLLEXPORT Datum funcname(PG_FUNCTION_ARGS)

extern PGDLLEXPORT void _PG_init(void);

#endif							/* RESILIENCE_H */
