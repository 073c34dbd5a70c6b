/*-------------------------------------------------------------------------
 *
 * resilience.c
 *		Module entry point: PG_MODULE_MAGIC and _PG_init.
 *
 * _PG_init defines every resilience.* setting (each concern contributes its
 * own through an <concern>_define_gucs() function) and then reserves the
 * "resilience" prefix, so a typo such as resilience.max_pagesize is an error
 * instead of a silently ignored placeholder.  When loaded from
 * shared_preload_libraries, shmem_init() also installs the hooks that set up
 * the shared memory of rate limits and circuit breakers (shmem.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "clock.h"
#include "keyset.h"
#include "queue.h"
#include "resilience.h"
#include "shmem.h"

PG_MODULE_MAGIC;

/* Module load: define settings, reserve the prefix. */
void
_PG_init(void)
{
	keyset_define_gucs();
	clock_define_gucs();
	queue_define_gucs();
	shmem_init();
	MarkGUCPrefixReserved("resilience");
}
