-- resilience installed by a database owner who is not a superuser (the
-- extension is trusted): that owner may rotate the cursor keys, nobody else
-- may, and no role but a superuser may read them (since 1.1: 1.0 let the
-- installing role read them).
SELECT current_database() AS origdb, current_user AS origuser \gset
CREATE ROLE regress_ks_owner LOGIN;
CREATE ROLE regress_ks_other LOGIN;
CREATE DATABASE regress_ks_trusted OWNER regress_ks_owner;
\c regress_ks_trusted regress_ks_owner
CREATE EXTENSION resilience;
SELECT extowner::regrole FROM pg_extension WHERE extname = 'resilience';
SELECT id, length(key) FROM resilience.cursor_keys;
SELECT resilience.rotate_cursor_key();
\c regress_ks_trusted :origuser
SELECT id, length(key) FROM resilience.cursor_keys ORDER BY id;
\c regress_ks_trusted regress_ks_owner
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1), (2), (3);
GRANT SELECT ON t TO regress_ks_other;
\c regress_ks_trusted regress_ks_other
SELECT count(*) FROM resilience.cursor_keys;
SELECT resilience.rotate_cursor_key();
SELECT id FROM resilience.page(NULL::t, 'id', after => (SELECT resilience.cursor_of(t, 'id') FROM t WHERE id = 1));
\c :origdb :origuser
DROP DATABASE regress_ks_trusted;
DROP ROLE regress_ks_owner;
DROP ROLE regress_ks_other;
