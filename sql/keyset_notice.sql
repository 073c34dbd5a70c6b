-- a NOTICE raised while a cursor's values are received reaches the client
-- in the client's encoding, like any other message: here a domain's CHECK
-- calls PL/pgSQL, which a cursor value's receive function runs
CREATE TABLE nt (id int PRIMARY KEY, k text NOT NULL);
CREATE FUNCTION nt_check(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'checked % (caf%)', v, chr(233);
    RETURN v <> 'bad';
END
$$;
CREATE DOMAIN nt_key AS text;
INSERT INTO nt VALUES (1, 'a'), (2, 'b'), (3, 'bad'), (4, 'c');
ALTER TABLE nt ALTER COLUMN k TYPE nt_key;
ALTER DOMAIN nt_key ADD CONSTRAINT nt_key_check CHECK (nt_check(VALUE)) NOT VALID;
SELECT resilience.cursor_of(n, 'k') AS c_b FROM nt n WHERE id = 2 \gset
SELECT resilience.cursor_of(n, 'k') AS c_bad FROM nt n WHERE id = 3 \gset
-- the server's encoding, then LATIN1: the message is converted in both,
-- also when the receive function then fails
SELECT id FROM resilience.page(NULL::nt, 'k', after => :'c_b');
SET client_encoding = 'LATIN1';
SELECT id FROM resilience.page(NULL::nt, 'k', after => :'c_b');
SELECT resilience.page_json('nt', 'k', before => :'c_b')->'rows';
\set VERBOSITY terse
SELECT id FROM resilience.page(NULL::nt, 'k', after => :'c_bad');
\set VERBOSITY default
-- held messages keep their own context, once
\set SHOW_CONTEXT always
SELECT id FROM resilience.page(NULL::nt, 'k', after => :'c_b');
-- a message raised in PL/pgSQL right after, for comparison
DO $$ BEGIN PERFORM nt_check('b'); END $$;
\set SHOW_CONTEXT errors
RESET client_encoding;
SELECT id FROM resilience.page(NULL::nt, 'k', after => :'c_b');
