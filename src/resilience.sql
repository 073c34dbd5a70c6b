/* resilience--1.1.sql, built by make from the SQL files in src/: edit those */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION resilience" to load this file. \quit

-- Every object below is schema-qualified; functions that run SQL pin
-- search_path.  No function is SECURITY DEFINER: everything runs with the
-- caller's rights, so grants and row-level security hold.

-- The schema.  CREATE EXTENSION creates it as the calling role before this
-- script runs, and in a trusted install that role is a database owner, not a
-- superuser: left so, it could add overloads that win over these functions
-- for a superuser's calls, or rename the schema and plant look-alike tables.
-- So the script, which runs as a superuser, takes the schema over.  It does
-- so only for a schema that this very transaction created and no other
-- transaction ever saw (so no other session can have put anything in it,
-- even uncommitted) and that holds nothing yet; a schema a superuser owns is
-- trusted as it is (a reinstall after DROP EXTENSION finds the one left
-- behind).  Either way no role but a superuser keeps the right to create in
-- it.  Every role may use what is in it (objects that must stay private say
-- so).
CREATE FUNCTION resilience.schema_made_here() RETURNS boolean
AS 'MODULE_PATHNAME', 'extension_schema_made_here'
LANGUAGE C VOLATILE STRICT;

DO $schema$
DECLARE
    v_nsp oid := pg_catalog.to_regnamespace('resilience');
    v_owner oid;
    v_grantee oid;
BEGIN
    SELECT n.nspowner INTO v_owner FROM pg_catalog.pg_namespace n
    WHERE n.oid OPERATOR(pg_catalog.=) v_nsp;
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) v_owner) THEN
        IF NOT resilience.schema_made_here() THEN
            RAISE EXCEPTION 'schema "resilience" already exists and is owned by role "%", which is not a superuser',
                pg_catalog.pg_get_userbyid(v_owner)
                USING ERRCODE = 'duplicate_schema',
                      DETAIL = 'Other sessions may have created objects in it that would be called instead of the extension''s.',
                      HINT = 'Drop that schema and let CREATE EXTENSION create it (restoring a dump, use a single transaction).';
        END IF;
        IF EXISTS (SELECT FROM pg_catalog.pg_depend d
                   WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                     AND d.refobjid OPERATOR(pg_catalog.=) v_nsp
                     AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass
                     AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                              AND d.objid OPERATOR(pg_catalog.=) 'resilience.schema_made_here()'::pg_catalog.regprocedure))
           OR EXISTS (SELECT FROM pg_catalog.pg_default_acl a
                      WHERE a.defaclnamespace OPERATOR(pg_catalog.=) v_nsp)
        THEN
            RAISE EXCEPTION 'schema "resilience" already holds objects'
                USING ERRCODE = 'duplicate_schema',
                      DETAIL = 'Role "' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(v_owner)
                               OPERATOR(pg_catalog.||) '" created objects or default privileges in it before CREATE EXTENSION.',
                      HINT = 'Drop that schema and let CREATE EXTENSION create it.';
        END IF;
        ALTER SCHEMA resilience OWNER TO CURRENT_USER;
    END IF;
    FOR v_grantee IN
        SELECT a.grantee
        FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
        WHERE n.oid OPERATOR(pg_catalog.=) v_nsp
          AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
          AND NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                            WHERE r.oid OPERATOR(pg_catalog.=) a.grantee), false)
    LOOP
        IF v_grantee OPERATOR(pg_catalog.=) 0 THEN
            REVOKE CREATE ON SCHEMA resilience FROM PUBLIC CASCADE;
        ELSE
            EXECUTE pg_catalog.format('REVOKE CREATE ON SCHEMA resilience FROM %I CASCADE',
                                      pg_catalog.pg_get_userbyid(v_grantee));
        END IF;
    END LOOP;
END
$schema$;

DROP FUNCTION resilience.schema_made_here();

GRANT USAGE ON SCHEMA resilience TO PUBLIC;
