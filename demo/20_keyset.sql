-- resilience tour: keyset pagination
-- Pages that stay index-fast at any depth, with signed opaque cursors.
SET TimeZone = 'UTC';
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    customer text,
    total numeric NOT NULL
);
INSERT INTO orders
SELECT g, '2024-01-01'::timestamptz + (g / 3) * interval '1 min',
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'customer ' || (g % 7) END, g * 1.5
FROM generate_series(1, 1000) g;
CREATE INDEX orders_created ON orders (created_at, id);

-- The first page, newest first.  The primary key is appended to the sort
-- (id DESC) so that ties on created_at can never skip or repeat a row.
SELECT id, created_at FROM resilience.page(NULL::orders, 'created_at DESC', page_size => 3);

-- One call, one round trip: rows plus opaque cursors for the next and
-- previous pages, and exact has_next / has_prev.
SELECT jsonb_pretty(resilience.page_json('orders', 'created_at DESC', page_size => 2));

-- Continue after the last row of a page.
SELECT resilience.page_json('orders', 'created_at DESC', page_size => 3)->>'next' AS next \gset
SELECT id, created_at FROM resilience.page(NULL::orders, 'created_at DESC', after => :'next', page_size => 3);
-- ... or go back: before returns the preceding page, in the normal order.
SELECT id, created_at FROM resilience.page(NULL::orders, 'created_at DESC', before => :'next', page_size => 2);

-- Mixed directions and a nullable column: NULLs are never lost.
SELECT id, customer, total
FROM resilience.page(NULL::orders, 'customer NULLS FIRST, total DESC', page_size => 4);

-- A filter written by the application, values bound from params.
SELECT id, customer FROM resilience.page(NULL::orders, 'id', page_size => 3,
                                         filter => 'customer = $1 AND total > $2',
                                         params => ARRAY['customer 3', '100']);
-- params of another type bind as that type: here $1 is bigint.
SELECT id, customer FROM resilience.page(NULL::orders, 'id', page_size => 3,
                                         filter => 'id > $1', params => ARRAY[990]::bigint[]);

-- A simple view that shows the table's primary key is total, as the table is.
CREATE VIEW big_orders AS SELECT id, customer, total FROM orders WHERE total > 1400;
SELECT id, total FROM resilience.page(NULL::big_orders, 'total DESC', page_size => 3);

-- Exact numbers for JSON clients: numeric, and bigint beyond 2^53, as strings.
SET resilience.json_exact_numbers = on;
SELECT resilience.page_json('big_orders', 'total DESC', page_size => 2)->'rows' AS exact_rows;
RESET resilience.json_exact_numbers;

-- The exact query page() runs, for EXPLAIN: one row comparison on the index.
SELECT resilience.page_sql('orders', 'created_at DESC', after => :'next', page_size => 3) AS q \gset
EXPLAIN (COSTS OFF) :q;

-- A tampered cursor is refused (22023), and the message says why.
SELECT set_config('demo.cursor', overlay(:'next' placing 'x' from 80 for 1), false) IS NOT NULL AS tampered;
DO $$
BEGIN
    PERFORM * FROM resilience.page(NULL::orders, 'created_at DESC',
                                   after => current_setting('demo.cursor'));
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE NOTICE '% (%)', SQLERRM, SQLSTATE;
END $$;
