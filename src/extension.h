/*-------------------------------------------------------------------------
 *
 * extension.h
 *		The extension's own catalog entries, found by what they are rather
 *		than by a name another role could plant.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_EXTENSION_H
#define RESILIENCE_EXTENSION_H

#include "postgres.h"

/* What pg_extension says of resilience in the current database. */
typedef struct ResilienceExtension
{
	Oid			oid;			/* pg_extension.oid */
	Oid			owner;			/* extowner: follows ALTER/REASSIGN OWNED */
	Oid			schema;			/* extnamespace */
} ResilienceExtension;

extern void resilience_extension_lookup(ResilienceExtension *ext);
/* relname: a string constant (the backend remembers the pointer) */
extern Oid	resilience_member_table(const char *relname, Oid *owner);
extern Oid	resilience_member_sequence(const char *relname);
extern char *resilience_member_table_name(Oid relid);
extern bool resilience_may_lock_rows(Oid relid);

#endif							/* RESILIENCE_EXTENSION_H */
