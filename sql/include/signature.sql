-- Included by sql/upgrade.sql: pg_temp.ext_signature() describes every member
-- object of the extension (definition, owner, privileges, comment, options,
-- policies, configuration-dump marks), one row per facet.
CREATE OR REPLACE FUNCTION pg_temp.ext_signature() RETURNS TABLE(object text, facet text, value text)
LANGUAGE sql AS $fn$
WITH m AS (
    SELECT d.classid, d.objid, d.objsubid,
           pg_describe_object(d.classid, d.objid, d.objsubid) AS object
    FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
    WHERE e.extname = 'resilience' AND d.deptype = 'e'
      AND d.refclassid = 'pg_extension'::regclass)
SELECT m.object, 'function', pg_get_functiondef(p.oid)
FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT m.object, 'function attrs', concat_ws(' ', p.prokind, p.provolatile, p.proparallel,
       p.proisstrict, p.prosecdef, p.proleakproof, p.procost, p.prorows,
       pg_get_userbyid(p.proowner), p.proacl::text)
FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT m.object, 'relation', concat_ws(' ', c.relkind, pg_get_userbyid(c.relowner), c.relacl::text,
       c.reloptions::text, c.relrowsecurity, c.relforcerowsecurity, c.relpersistence)
FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
UNION ALL
SELECT m.object, 'column ' || a.attnum, concat_ws(' ', a.attname, format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       a.attacl::text, a.attcollation::regcollation::text)
FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
UNION ALL
SELECT m.object, 'view', pg_get_viewdef(c.oid)
FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid AND c.relkind = 'v'
UNION ALL
SELECT m.object, 'constraint ' || co.conname, pg_get_constraintdef(co.oid)
FROM m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
UNION ALL
SELECT m.object, 'index ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
UNION ALL
SELECT m.object, 'policy ' || po.polname, concat_ws(' ', po.polcmd, po.polpermissive, po.polroles::text,
       pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
FROM m JOIN pg_policy po ON m.classid = 'pg_class'::regclass AND po.polrelid = m.objid
UNION ALL
SELECT m.object, 'trigger ' || t.tgname, pg_get_triggerdef(t.oid)
FROM m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid AND NOT t.tgisinternal
UNION ALL
SELECT m.object, 'type', concat_ws(' ', t.typtype, pg_get_userbyid(t.typowner), t.typacl::text)
FROM m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
UNION ALL
SELECT m.object, 'schema', concat_ws(' ', pg_get_userbyid(n.nspowner), n.nspacl::text)
FROM m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
UNION ALL
SELECT m.object, 'comment', d.description
FROM m JOIN pg_description d ON d.classoid = m.classid AND d.objoid = m.objid AND d.objsubid = m.objsubid
UNION ALL
SELECT m.object, 'member', ''
FROM m
UNION ALL
-- the extension's own schema (a member or not), and what it dumps
SELECT 'extension schema', 'schema', concat_ws(' ', n.nspname, pg_get_userbyid(n.nspowner), n.nspacl::text)
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'resilience'
UNION ALL
SELECT 'extension', 'config', concat_ws(' ', e.extconfig::regclass[]::text, e.extcondition::text,
       pg_get_userbyid(e.extowner), e.extversion)
FROM pg_extension e WHERE e.extname = 'resilience'
$fn$;
