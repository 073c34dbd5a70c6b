-- resilience keyset pagination checks the caller's SELECT privilege on the
-- relation before it locks it or resolves the sort: without it, page(),
-- page_json(), page_sql() and cursor_of() fail with 42501 and take no lock,
-- so a role cannot block DDL on a table it cannot read, nor get a signed
-- cursor for it.
CREATE TABLE secret (id int PRIMARY KEY, note text);
INSERT INTO secret VALUES (1, 'a'), (2, 'b'), (3, 'c');
CREATE VIEW secret_v AS SELECT * FROM secret;
CREATE ROLE regress_ks_noacl;
GRANT USAGE ON SCHEMA public TO regress_ks_noacl;
-- a column privilege is not enough: a page returns every column
GRANT SELECT (id) ON secret TO regress_ks_noacl;

SET ROLE regress_ks_noacl;
-- the full message once
SELECT * FROM resilience.page(NULL::secret, 'id');
\set VERBOSITY sqlstate
SELECT resilience.page_json('secret', 'id');
SELECT resilience.page_sql('secret', 'id');
SELECT resilience.cursor_of(ROW(1, 'a')::secret, 'id');
SELECT resilience.page_sql('secret_v', 'id', assume_unique => true);
\set VERBOSITY default
SELECT resilience.cursor_of(ROW(1, 'a')::secret_v, 'id', assume_unique => true);

RESET ROLE;

-- with the privilege, every function works
GRANT SELECT ON secret TO regress_ks_noacl;
SET ROLE regress_ks_noacl;
SELECT id FROM resilience.page(NULL::secret, 'id', page_size => 2);
SELECT resilience.page_json('secret', 'id', page_size => 2)->'has_next' AS has_next;
SELECT resilience.page_sql('secret', 'id', page_size => 2);
SELECT id FROM resilience.page(NULL::secret, 'id',
    after => resilience.cursor_of(ROW(2, 'b')::secret, 'id'));
RESET ROLE;

-- a table the role may read but, lacking USAGE on its schema, not name:
-- refused by OID too, also when the backend has the plan cached for a role
-- that may (a pooler's SET ROLE)
CREATE SCHEMA ks_hidden;
CREATE TABLE ks_hidden.st (id int PRIMARY KEY, v text);
INSERT INTO ks_hidden.st VALUES (1, 'hidden');
GRANT SELECT ON ks_hidden.st TO regress_ks_noacl;
SELECT 'ks_hidden.st'::regclass::oid AS hidden_oid \gset
SET ROLE regress_ks_noacl;
SELECT resilience.page_json(:hidden_oid, 'id');
RESET ROLE;
SELECT resilience.page_json(:hidden_oid, 'id')->'rows' AS owner_rows;
SET ROLE regress_ks_noacl;
SELECT resilience.page_json(:hidden_oid, 'id');
SELECT * FROM resilience.page(NULL::ks_hidden.st, 'id');
RESET ROLE;
DROP SCHEMA ks_hidden CASCADE;

DROP VIEW secret_v;
DROP TABLE secret;
DROP OWNED BY regress_ks_noacl;
DROP ROLE regress_ks_noacl;
