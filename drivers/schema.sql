-- The tables the driver programs work on (drivers/*/), as an application's
-- migration would create them.  t/030_drivers.pl runs this before each
-- program, so every run starts from the same data.
SET client_min_messages = warning;
DROP TABLE IF EXISTS orders, acct, payments, job_runs, processed_jobs;

-- 300 orders of 3 customers; pairs of orders share created_at, so pages must
-- use the appended primary key to split ties
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id int NOT NULL,
    created_at timestamptz NOT NULL,
    total numeric(12,2) NOT NULL);
CREATE INDEX orders_customer_created ON orders (customer_id, created_at DESC, id DESC);
INSERT INTO orders
SELECT g, 1 + g % 3, timestamptz '2026-01-01 00:00+00' + (g / 2) * interval '1 minute',
       round((g * 7.31)::numeric % 1000, 2)
FROM generate_series(1, 300) g;

-- 8 accounts of 1000: transfers move money, the total stays 8000
CREATE TABLE acct (id int PRIMARY KEY, bal bigint NOT NULL);
INSERT INTO acct SELECT g, 1000 FROM generate_series(1, 8) g;

CREATE TABLE payments (
    id bigserial PRIMARY KEY,
    account int NOT NULL,
    amount numeric(12,2) NOT NULL);

-- what the elected leader writes under its fencing token
CREATE TABLE job_runs (holder text NOT NULL, token bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());

-- what queue workers write: one row per job done, in the transaction that
-- completes the job (no key, so a job done twice would show as two rows)
CREATE TABLE processed_jobs (job_id bigint NOT NULL, n int NOT NULL, worker text NOT NULL);
