/*-------------------------------------------------------------------------
 *
 * keyset.h
 *		Keyset pagination: resilience.page() and friends.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_KEYSET_H
#define RESILIENCE_KEYSET_H

#include "postgres.h"

/* Define resilience.max_page_size; called from _PG_init. */
extern void keyset_define_gucs(void);

#endif							/* RESILIENCE_KEYSET_H */
