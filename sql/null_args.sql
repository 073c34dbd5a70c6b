-- One SQLSTATE for a NULL argument, extension-wide: every function (C,
-- PL/pgSQL or SQL) that is not STRICT must raise 22004 (null_value_not_allowed)
-- when its arguments are NULL, whatever it checks first.  Found from the
-- catalog, so a new function is covered without editing this file.  The query
-- lists the functions that break the rule: none.
CREATE TEMP TABLE null_args_t (id int PRIMARY KEY);
CREATE FUNCTION pg_temp.null_call_sqlstate(f regprocedure) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    p pg_proc;
    args text;
    state text;
BEGIN
    SELECT * INTO p FROM pg_proc WHERE oid = f;
    SELECT string_agg(format('NULL::%s',
                             CASE WHEN t = 'anyelement'::regtype THEN 'null_args_t'
                                  WHEN t = 'anycompatiblearray'::regtype THEN 'text[]'
                                  ELSE format_type(t, NULL) END), ', ' ORDER BY i)
      INTO args
      FROM unnest(p.proargtypes::regtype[]) WITH ORDINALITY AS a(t, i);
    BEGIN
        EXECUTE format('SELECT * FROM %s(%s)', f::regproc, args);
        state := 'no error';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
    END;
    RETURN state;
END
$$;
SELECT p.oid::regprocedure AS function, pg_temp.null_call_sqlstate(p.oid) AS sqlstate
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace
  AND p.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('c', 'plpgsql', 'sql'))
  AND NOT p.proisstrict
  AND p.prokind = 'f'
  AND p.pronargs > 0
  AND pg_temp.null_call_sqlstate(p.oid) <> '22004'
ORDER BY 1;
-- and how many functions the rule was checked on
SELECT count(*) AS checked
FROM pg_proc p
WHERE p.pronamespace = 'resilience'::regnamespace
  AND p.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('c', 'plpgsql', 'sql'))
  AND NOT p.proisstrict
  AND p.prokind = 'f'
  AND p.pronargs > 0;
