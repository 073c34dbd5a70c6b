-- pg_temp.try(sql): run sql, and return 'ok' or its error (SQLSTATE,
-- message, detail, hint) with job ids and tokens masked: they depend on the
-- suites run before in the same database.
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_state text; v_msg text; v_detail text; v_hint text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_msg = MESSAGE_TEXT,
                            v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN regexp_replace(concat_ws(E'\n', v_state || ': ' || v_msg, nullif(v_detail, ''), nullif(v_hint, '')),
                          '(job|token) -?[0-9]+', '\1 N', 'g');
END
$$;
