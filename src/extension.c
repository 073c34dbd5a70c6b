/*-------------------------------------------------------------------------
 *
 * extension.c
 *		The extension's own catalog entries: its OID, owner and schema, and
 *		the tables it owns, found by membership.
 *
 * C code never finds its own tables by a name resolved at call time: a role
 * that could rename schema resilience, or create in it, could otherwise
 * plant a look-alike (a zero cursor key, a trigger that fires when a
 * superuser calls in).  A member table is the relation of that name in the
 * extension's schema that pg_depend records as a member of the extension
 * (deptype 'e'); anything else of that name is refused.  The extension's
 * owner is read from pg_extension at each call, so rights tied to it follow
 * ALTER EXTENSION ... OWNER and REASSIGN OWNED.
 *
 * Lookups scan pg_extension by its name index with the catalog snapshot, so
 * they also work inside CREATE EXTENSION, whose script calls back into C.
 *
 * A member relation found once is remembered by the backend with the
 * version of its pg_class row (xmin and ctid, as fmgr remembers a C
 * function): a later call only looks the row up again in the syscache and
 * takes it if it is the same version and still has the name, schema and kind
 * it was found by.  A dropped relation has no row; one recreated under that
 * name, or changed in any way (renamed, moved, granted on), has another
 * version and is looked up afresh, membership included.  Membership alone
 * lives in pg_depend: a superuser's ALTER EXTENSION ... DROP of a member
 * (which only the owner of both may run) is seen by a backend that had
 * found it only once the relation changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "extension.h"
#include "resilience.h"

RESILIENCE_FUNCTION(extension_schema_made_here);

/* Fill *ext from pg_extension; ERROR if resilience is not installed here. */
void
resilience_extension_lookup(ResilienceExtension *ext)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("resilience"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"resilience\" is not installed in this database"),
				 errhint("Run CREATE EXTENSION resilience.")));
	ext->oid = ((Form_pg_extension) GETSTRUCT(tup))->oid;
	ext->owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	ext->schema = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* A member relation found before, with the pg_class row version it had. */
typedef struct MemberSeen
{
	const char *relname;		/* a caller's string constant */
	char		relkind;
	Oid			relid;
	Oid			schema;			/* the extension's, when found */
	TransactionId xmin;
	ItemPointerData tid;
} MemberSeen;

#define MEMBERS_SEEN_MAX	16

static MemberSeen members_seen[MEMBERS_SEEN_MAX];
static int	members_seen_count = 0;

/*
 * The OID (and, if owner is not NULL, the owner) of the extension's member
 * relation relname of kind relkind (what); ERROR if there is none.
 */
static Oid
resilience_member(const char *relname, char relkind, const char *what, Oid *owner)
{
	ResilienceExtension ext;
	MemberSeen *seen = NULL;
	Oid			relid;
	HeapTuple	tup;

	for (int i = 0; i < members_seen_count && seen == NULL; i++)
		if (members_seen[i].relkind == relkind &&
			strcmp(members_seen[i].relname, relname) == 0)
			seen = &members_seen[i];
	if (seen && OidIsValid(seen->relid))
	{
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(seen->relid));
		if (HeapTupleIsValid(tup))
		{
			Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);
			bool		same = HeapTupleHeaderGetRawXmin(tup->t_data) == seen->xmin &&
				ItemPointerEquals(&tup->t_self, &seen->tid) &&
				form->relkind == relkind && form->relnamespace == seen->schema &&
				strcmp(NameStr(form->relname), relname) == 0;

			if (same && owner)
				*owner = form->relowner;
			ReleaseSysCache(tup);
			if (same)
				return seen->relid;
		}
		seen->relid = InvalidOid;
	}

	resilience_extension_lookup(&ext);
	relid = get_relname_relid(relname, ext.schema);
	if (!OidIsValid(relid) ||
		get_rel_relkind(relid) != relkind ||
		getExtensionOfObject(RelationRelationId, relid) != ext.oid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s %s of extension \"resilience\" is missing", what, relname),
				 errhint("Recreate the extension with DROP EXTENSION resilience and CREATE EXTENSION resilience.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	if (owner)
		*owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	if (seen == NULL && members_seen_count < MEMBERS_SEEN_MAX)
	{
		seen = &members_seen[members_seen_count++];
		seen->relname = relname;
		seen->relkind = relkind;
	}
	if (seen)
	{
		seen->xmin = HeapTupleHeaderGetRawXmin(tup->t_data);
		seen->tid = tup->t_self;
		seen->schema = ext.schema;
		seen->relid = relid;
	}
	ReleaseSysCache(tup);
	return relid;
}

/* The extension's member table relname (see resilience_member). */
Oid
resilience_member_table(const char *relname, Oid *owner)
{
	return resilience_member(relname, RELKIND_RELATION, "table", owner);
}

/* The extension's member sequence relname (see resilience_member). */
Oid
resilience_member_sequence(const char *relname)
{
	return resilience_member(relname, RELKIND_SEQUENCE, "sequence", NULL);
}

/* A member table's schema-qualified, quoted name, for SQL text. */
char *
resilience_member_table_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/*
 * May the current role lock rows of table relid (FOR UPDATE, FOR KEY
 * SHARE)?  That takes UPDATE on the table or on any one of its columns.
 */
bool
resilience_may_lock_rows(Oid relid)
{
	Oid			role = GetUserId();

	return pg_class_aclcheck(relid, role, ACL_UPDATE) == ACLCHECK_OK ||
		pg_attribute_aclcheck_all(relid, role, ACL_UPDATE, ACLMASK_ANY) == ACLCHECK_OK;
}

/*
 * Was schema resilience created by the current transaction, and never
 * visible to another one?  Only then can no other session have created
 * objects in it (committed or not) while the installing role owned it.  A
 * row version written by an UPDATE (a rename back and forth) does not count:
 * its older versions were visible.  The install script calls this through a
 * function it creates and drops again.
 */
Datum
extension_schema_made_here(PG_FUNCTION_ARGS)
{
	Oid			nsp = get_namespace_oid("resilience", false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	bool		result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	result = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)) &&
		(tup->t_data->t_infomask & HEAP_UPDATED) == 0;
	ReleaseSysCache(tup);
	PG_RETURN_BOOL(result);
}
