-- Cursor signatures are HMAC-SHA256 (RFC 2104) of the cursor's bytes under
-- the database's key derived from the newest stored key,
-- HMAC(key, 'resilience cursor v2' || database OID): checked here against
-- pgcrypto's hmac(), for messages of every length around SHA-256's 64-byte
-- block boundaries.
CREATE EXTENSION pgcrypto;
CREATE TABLE sig (id int PRIMARY KEY, t text NOT NULL);
INSERT INTO sig SELECT g, repeat('é', g % 7) || repeat('x', g) FROM generate_series(0, 300) g;

-- a cursor's bytes: base64url without padding
CREATE FUNCTION sig_bytes(c text) RETURNS bytea LANGUAGE sql IMMUTABLE
AS $$ SELECT decode(rpad(translate(c, '-_', '+/'), (length(c) + 3) / 4 * 4, '='), 'base64') $$;

CREATE FUNCTION sig_check() RETURNS TABLE (cursors bigint, lengths bigint, signed_by_newest bigint, hmac_matches bigint)
LANGUAGE sql AS $$
    WITH c AS (
        SELECT sig_bytes(resilience.cursor_of(s, 't')) AS b FROM sig s
    ), k AS (
        SELECT id, hmac('resilience cursor v2'::bytea || oidsend(d.oid), key, 'sha256') AS key
        FROM resilience.cursor_keys, pg_database d
        WHERE d.datname = current_database()
        ORDER BY id DESC LIMIT 1
    )
    SELECT count(*),
           count(DISTINCT length(b)),
           count(*) FILTER (WHERE ('x' || encode(substr(b, 2, 4), 'hex'))::bit(32)::int = k.id),
           count(*) FILTER (WHERE substr(b, length(b) - 31) = hmac(substr(b, 1, length(b) - 32), k.key, 'sha256'))
    FROM c, k
$$;

SELECT * FROM sig_check();
-- the cursors verify, and page on
SELECT count(*) AS pages_from_every_cursor
FROM sig s, LATERAL (SELECT count(*) AS n FROM resilience.page(NULL::sig, 't', after => resilience.cursor_of(s, 't'))) p;

-- after a rotation the new key signs, and the old cursors still verify
SELECT resilience.cursor_of(s, 't') AS old FROM sig s WHERE id = 100 \gset
SELECT resilience.rotate_cursor_key();
SELECT * FROM sig_check();
SELECT count(*) FROM resilience.page(NULL::sig, 't', after => :'old');

-- one flipped bit anywhere in a cursor is refused with 22023, never read,
-- with one message wherever it is
CREATE FUNCTION sig_try(c text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count(*) FROM resilience.page(NULL::sig, 't', after => c);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT sig_try(rtrim(translate(encode(set_bit(b, bit, 1 - get_bit(b, bit)), 'base64'), E'+/\n', '-_'), '=')) AS outcome,
       count(*)
FROM (SELECT sig_bytes(:'old') AS b) c, generate_series(0, length(sig_bytes(:'old')) * 8 - 1) bit
GROUP BY 1 ORDER BY 1;
