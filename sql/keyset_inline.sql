-- page_sql() inlines a filter's parameters: each $k the SQL lexer reads as a
-- parameter becomes the k-th value as a typed literal; $k inside string
-- constants, dollar quotes, quoted identifiers and comments is left alone.
-- The lexer's parameter token is learnt at run time (its number depends on the
-- server's generated grammar), so this holds on every supported major.
CREATE TABLE inl (id bigint PRIMARY KEY, s text, "$1" text);
INSERT INTO inl SELECT g, 'v' || g, CASE WHEN g % 2 = 0 THEN '$1' END FROM generate_series(1, 12) g;

-- a parameter next to punctuation, twice, and after ten others ($1 vs $10)
SELECT resilience.page_sql('inl', 'id', page_size => 3,
                           filter => 'id >= $1 AND (s <> $2) AND s<>$2 AND id NOT IN ($3,$4,$5,$6,$7,$8,$9) AND id <> $10',
                           params => ARRAY['2', 'v3', '30', '40', '50', '60', '70', '80', '90', '5']);
-- look-alikes that are not parameters stay as they are
SELECT resilience.page_sql('inl', 'id', page_size => 3,
                           filter => $f$s <> '$1' AND s <> $$ $1 $$ AND "$1" IS DISTINCT FROM $1 /* $1 */ -- $1
$f$,
                           params => ARRAY['x']);
-- the inlined query returns what page() returns
SELECT resilience.page_sql('inl', 'id', page_size => 4,
                           filter => $f$"$1" = '$1' AND id > $1 AND s <> $2$f$, params => ARRAY['3', 'v8']) AS q \gset
SELECT array_agg(s.id) AS via_page_sql FROM (:q) s;
SELECT array_agg(id) AS via_page
FROM resilience.page(NULL::inl, 'id', page_size => 4,
                     filter => $f$"$1" = '$1' AND id > $1 AND s <> $2$f$, params => ARRAY['3', 'v8']);
DROP TABLE inl;
