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
 * Supported servers: PostgreSQL 15 and 18, the majors CI builds; an older
 * server is refused at compile time.  Code for older majors is not kept:
 * branches on PG_VERSION_NUM are for later majors that changed an API
 * (keyset.c, keyset_filter.c and keyset_plan.c still carry branches for
 * 13 and 14, which their owner removes).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_H
#define RESILIENCE_H

#include "postgres.h"

#include "fmgr.h"

#if PG_VERSION_NUM < 150000
#error "resilience needs PostgreSQL 15 or later"
#endif

/* Declare a SQL-callable function and export it from the module. */
#define RESILIENCE_FUNCTION(funcname) \
	PG_FUNCTION_INFO_V1(funcname); \
	extern PGDLLEXPORT Datum funcname(PG_FUNCTION_ARGS)

extern PGDLLEXPORT void _PG_init(void);

#endif							/* RESILIENCE_H */
