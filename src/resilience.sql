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
-- So the script, which runs as a superuser, takes the schema over, and
-- refuses a schema that such a role made earlier and filled or shared.  A
-- schema a superuser owns is trusted as it is (a reinstall after DROP
-- EXTENSION finds the one left behind).  Every role may use what is in it
-- (objects that must stay private say so); only superusers may create in it.
DO $schema$
DECLARE
    v_nsp oid := pg_catalog.to_regnamespace('resilience');
    v_nspowner_super boolean;
BEGIN
    SELECT r.rolsuper INTO v_nspowner_super
    FROM pg_catalog.pg_namespace n
    JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
    WHERE n.oid OPERATOR(pg_catalog.=) v_nsp;
    IF NOT v_nspowner_super THEN
        IF EXISTS (SELECT FROM pg_catalog.pg_depend d
                   WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
                     AND d.refobjid OPERATOR(pg_catalog.=) v_nsp
                     AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass)
           OR EXISTS (SELECT FROM pg_catalog.pg_namespace n
                      WHERE n.oid OPERATOR(pg_catalog.=) v_nsp AND n.nspacl IS NOT NULL)
           OR EXISTS (SELECT FROM pg_catalog.pg_default_acl a
                      WHERE a.defaclnamespace OPERATOR(pg_catalog.=) v_nsp)
        THEN
            RAISE EXCEPTION 'schema "resilience" was not made by CREATE EXTENSION'
                USING ERRCODE = 'duplicate_schema',
                      DETAIL = 'A role that is not a superuser created it and added objects, privileges or default privileges.',
                      HINT = 'Drop or rename that schema, then create the extension again.';
        END IF;
        ALTER SCHEMA resilience OWNER TO CURRENT_USER;
    END IF;
END
$schema$;

GRANT USAGE ON SCHEMA resilience TO PUBLIC;
