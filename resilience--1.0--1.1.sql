/* resilience--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION resilience UPDATE TO '1.1'" to load this file. \quit

-- Every change to the SQL objects since 1.0, in the order of src/*.sql.  The
-- upgrade suite (sql/upgrade.sql) checks that 1.0 plus this script gives the
-- same objects as a fresh install of 1.1.

-------------------------------------------------------------------------------
-- The schema: a superuser's, and no other role may create in it
-------------------------------------------------------------------------------

-- 1.0 left schema resilience owned by the installing role, which in a trusted
-- install is a database owner who could add overloads winning over these
-- functions for a superuser's calls.  Take it over, drop every other role's
-- CREATE right on it, and refuse to update while it holds objects that are not
-- the extension's (they may be planted: a superuser should look at them).
DO $schema$
DECLARE
    v_nsp oid := pg_catalog.to_regnamespace('resilience');
    v_foreign text;
    v_grantee oid;
BEGIN
    IF v_nsp IS DISTINCT FROM (SELECT x.extnamespace FROM pg_catalog.pg_extension x
                               WHERE x.extname OPERATOR(pg_catalog.=) 'resilience') THEN
        RAISE EXCEPTION 'extension "resilience" is no longer in schema "resilience"'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Rename its schema back to resilience (and whatever took that name away), then update again.';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', '
                                 ORDER BY 1)
    INTO v_foreign
    FROM pg_catalog.pg_depend d
    WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
      AND d.refobjid OPERATOR(pg_catalog.=) v_nsp
      AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e
                      WHERE e.classid OPERATOR(pg_catalog.=) d.classid
                        AND e.objid OPERATOR(pg_catalog.=) d.objid
                        AND e.deptype OPERATOR(pg_catalog.=) 'e'
                        AND e.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                        AND e.refobjid OPERATOR(pg_catalog.=) (SELECT x.oid FROM pg_catalog.pg_extension x
                                                               WHERE x.extname OPERATOR(pg_catalog.=) 'resilience'))
      -- a table's row type and a view's rewrite rule belong to it
      AND NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
               AND EXISTS (SELECT FROM pg_catalog.pg_type t
                           WHERE t.oid OPERATOR(pg_catalog.=) d.objid
                             AND t.typrelid OPERATOR(pg_catalog.<>) 0));
    IF v_foreign IS NOT NULL THEN
        RAISE EXCEPTION 'schema "resilience" holds objects that are not part of the extension'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Found: %s.', v_foreign),
                  HINT = 'Another role may have planted them to be called instead of the extension''s functions: inspect and drop them, then update again.';
    END IF;

    ALTER SCHEMA resilience OWNER TO CURRENT_USER;
    FOR v_grantee IN
        SELECT a.grantee
        FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
        WHERE n.oid OPERATOR(pg_catalog.=) v_nsp
          AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
          AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
    LOOP
        IF v_grantee OPERATOR(pg_catalog.=) 0 THEN
            REVOKE CREATE ON SCHEMA resilience FROM PUBLIC;
        ELSE
            EXECUTE pg_catalog.format('REVOKE CREATE ON SCHEMA resilience FROM %I',
                                      pg_catalog.pg_get_userbyid(v_grantee));
        END IF;
    END LOOP;
END
$schema$;

-------------------------------------------------------------------------------
-- Cursor signing keys: no grants; rotate_cursor_key() checks the owner itself
-------------------------------------------------------------------------------

-- 1.0 granted the installing role rights on cursor_keys; after REASSIGN OWNED
-- those stayed with the old owner.  Now nobody holds any.
DO $keys$
DECLARE
    v_grantee oid;
BEGIN
    FOR v_grantee IN
        SELECT DISTINCT a.grantee
        FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
        WHERE c.oid OPERATOR(pg_catalog.=) 'resilience.cursor_keys'::pg_catalog.regclass
          AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
    LOOP
        IF v_grantee OPERATOR(pg_catalog.=) 0 THEN
            REVOKE ALL ON TABLE resilience.cursor_keys FROM PUBLIC;
        ELSE
            EXECUTE pg_catalog.format('REVOKE ALL ON TABLE resilience.cursor_keys FROM %I',
                                      pg_catalog.pg_get_userbyid(v_grantee));
        END IF;
    END LOOP;
END
$keys$;

-------------------------------------------------------------------------------
-- Views check the caller's rights (security_invoker)
-------------------------------------------------------------------------------

-- 1.0's views ran with their owner's (the bootstrap superuser's) rights, so
-- a policy on lease_state did not bind readers of resilience.leases.
ALTER VIEW resilience.locks SET (security_invoker);
ALTER VIEW resilience.leases SET (security_invoker);
ALTER VIEW resilience.idempotency_keys SET (security_invoker);
