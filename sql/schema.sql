-- Every object of the extension lives in schema resilience, and nothing runs
-- with elevated rights.

-- member objects outside schema resilience (expect none)
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS object,
       n.nspname
FROM pg_depend d
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'resilience'
LEFT JOIN LATERAL (
    SELECT pronamespace AS nsp FROM pg_proc WHERE d.classid = 'pg_proc'::regclass AND oid = d.objid
    UNION ALL SELECT relnamespace FROM pg_class WHERE d.classid = 'pg_class'::regclass AND oid = d.objid
    UNION ALL SELECT typnamespace FROM pg_type WHERE d.classid = 'pg_type'::regclass AND oid = d.objid
    UNION ALL SELECT oid FROM pg_namespace WHERE d.classid = 'pg_namespace'::regclass AND oid = d.objid
) o ON true
LEFT JOIN pg_namespace n ON n.oid = o.nsp
WHERE d.deptype = 'e'
  AND n.nspname IS DISTINCT FROM 'resilience'
ORDER BY 1;

-- the extension is in its schema and not relocatable
SELECT extname, extnamespace::regnamespace, extrelocatable
FROM pg_extension WHERE extname = 'resilience';

-- no SECURITY DEFINER function
SELECT p.oid::regprocedure
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace AND p.prosecdef;

-- every function and procedure has a comment
SELECT p.oid::regprocedure AS undocumented
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace
  AND obj_description(p.oid, 'pg_proc') IS NULL;

-- every function that runs SQL pins search_path (LANGUAGE sql/plpgsql)
SELECT p.oid::regprocedure AS unpinned
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'resilience'::regnamespace
  AND l.lanname IN ('sql', 'plpgsql')
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

-- settings under resilience.* are reserved once the module is loaded: a typo
-- is an error
SELECT resilience.backoff_delay(1, '1ms', '1ms', 'none') AS loaded;
SET resilience.no_such_setting = 1;
