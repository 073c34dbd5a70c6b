-- Guards under contention.  A prepared transaction holds the guards, as it
-- holds its locks without a process, so error details are deterministic.
-- That needs max_prepared_transactions > 0, which make test's server has.
-- A stock server has 0 (make installcheck): the suite then says it skipped,
-- and expected/guard_prepared_1.out is that output.
SELECT current_setting('max_prepared_transactions')::int > 0 AS have_2pc \gset
\if :have_2pc
\else
\echo skipped: max_prepared_transactions = 0, so no prepared transaction can hold a guard
\quit
\endif

-- contention: a prepared transaction holds 'busy' exclusively and
-- 'reading' shared
BEGIN;
SELECT resilience.lock('busy');
SELECT resilience.lock('reading', shared => true);
PREPARE TRANSACTION 'guard_holder';
SELECT pid, mode, granted, backend_state FROM resilience.lock_holders('busy');

SET lock_timeout = '3s';
SELECT resilience.try_lock('busy');                     -- no wait
SELECT resilience.try_lock('busy', '10ms');             -- waits 10 ms
SELECT resilience.try_lock('reading', shared => true);  -- shared with shared
SELECT resilience.try_lock('reading');                  -- exclusive vs shared
SELECT resilience.lock('busy', '0');
SELECT resilience.lock('busy', '20ms');
SELECT resilience.lock('reading', '10ms');
SELECT resilience.session_lock('busy', '1ms');
SELECT resilience.try_session_lock('busy', '1ms');
-- the session's lock_timeout is untouched
SHOW lock_timeout;
-- NULL timeout waits like any lock: lock_timeout applies
SET lock_timeout = '10ms';
SELECT resilience.lock('busy');
SELECT resilience.try_lock('busy', NULL);
RESET lock_timeout;
-- statement_timeout still cancels a longer guard timeout, as itself
SET statement_timeout = '20ms';
SELECT resilience.lock('busy', '10s');
SELECT resilience.try_lock('busy', '10s');
RESET statement_timeout;
-- lock_many fails as a whole: nothing it took stays held
DO $$
BEGIN
    PERFORM resilience.lock_many(ARRAY['free1', 'busy', 'free2', 'free3'], '15ms');
EXCEPTION WHEN lock_not_available THEN
    RAISE NOTICE 'lock_many: % (held now: %)', SQLERRM,
        (SELECT count(*) FROM resilience.locks WHERE pid = pg_backend_pid());
END
$$;
-- and a try-style failure inside a transaction leaves nothing queued
BEGIN;
SELECT resilience.try_lock('busy', '5ms');
SELECT count(*) AS mine FROM resilience.locks WHERE pid = pg_backend_pid();
SELECT resilience.lock('other');
COMMIT;
COMMIT PREPARED 'guard_holder';
SELECT resilience.try_lock('busy');
