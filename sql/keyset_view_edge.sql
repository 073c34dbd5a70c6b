-- A simple view's sort is total through its table's key only while the
-- table has no inheritance children: a child added after the view's spec
-- was cached (CREATE TABLE ... INHERITS, ALTER TABLE ... INHERIT) makes the
-- next call refuse, in this session and in others.
\set VERBOSITY terse
SET search_path = public;
CREATE TABLE kve_parent (id int PRIMARY KEY, v int);
INSERT INTO kve_parent SELECT g, g % 2 FROM generate_series(1, 4) g;
CREATE VIEW kve_v AS SELECT id, v FROM kve_parent;
CREATE VIEW kve_only AS SELECT id, v FROM ONLY kve_parent;
SELECT id FROM resilience.page(NULL::kve_v, 'v', page_size => 2);
SELECT id FROM resilience.page(NULL::kve_only, 'v', page_size => 2);
CREATE TABLE kve_child () INHERITS (kve_parent);
INSERT INTO kve_child VALUES (1, 1);
SELECT id FROM resilience.page(NULL::kve_v, 'v', page_size => 2);
SELECT id FROM resilience.page(NULL::kve_only, 'v', page_size => 2);
\c
SET search_path = public;
SELECT id FROM resilience.page(NULL::kve_v, 'v', page_size => 2);
DROP TABLE kve_child;
-- relhassubclass stays set until the next VACUUM or ANALYZE of the parent
SELECT id FROM resilience.page(NULL::kve_v, 'v', page_size => 2);
ANALYZE kve_parent;
SELECT id FROM resilience.page(NULL::kve_v, 'v', page_size => 2);
CREATE TABLE kve_other (id int NOT NULL, v int);
ALTER TABLE kve_other INHERIT kve_parent;
SELECT id FROM resilience.page(NULL::kve_v, 'v', page_size => 2);
DROP VIEW kve_v, kve_only;
DROP TABLE kve_other, kve_parent;
