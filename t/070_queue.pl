# Job queues when workers and the server die:
#  - a worker's backend terminated (pg_terminate_backend) and killed with
#    SIGKILL (the postmaster then restarts every backend) in the middle of a
#    job: the job stays running until its lease ends, is claimed again with
#    a larger token and a counted attempt, and the dead worker's late
#    complete() with the old token is refused with RL001, so its effects
#    never commit;
#  - an immediate shutdown under load (pgbench clients enqueueing and
#    claiming/completing, each completion recorded in the transaction of its
#    complete()): after the restart every committed enqueue is completed
#    exactly once, none lost, no committed completion repeated, and nothing
#    that was not committed runs;
#  - with synchronous_commit = off, a claim still survives an immediate stop
#    (its token is never handed out twice);
#  - a pg_dump and restore keeps the position of job ids.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('queue');
$node->init;
# wakeups of waiting claims live in shared memory; a killed backend makes
# the postmaster restart the others, as it does by default
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'resilience'\nrestart_after_crash = on");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION resilience;
SELECT resilience.create_queue('work');
CREATE TABLE effects (job bigint NOT NULL, token bigint NOT NULL);
});

# claim_until($queue, $lease): claim one job, retrying for up to 60 s
# (a job whose lease has not ended yet is not claimable); "id|token|attempt"
sub claim_until
{
	my ($queue, $lease) = @_;
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		my $got = $node->safe_psql('postgres',
			"SELECT id || '|' || token || '|' || attempt FROM resilience.claim('$queue', 1, '$lease')");
		return $got if $got ne '';
		select(undef, undef, undef, 0.2);
	}
	return '';
}

# one job through a worker that dies in the middle of it; $how: the
# worker's end ('terminate' or 'kill9')
sub dead_worker
{
	my ($how) = @_;
	my $id = $node->safe_psql('postgres', "SELECT resilience.enqueue('work', '{\"how\": \"$how\"}')");
	my $worker = $node->background_psql('postgres', on_error_stop => 0);
	my $claimed = $worker->query_safe(
		"SELECT id || '|' || token FROM resilience.claim('work', 1, '2s')");
	my ($cid, $t1) = split /\|/, $claimed;
	is($cid, $id, "$how: the worker claimed the job");
	my $pid = $worker->query_safe('SELECT pg_backend_pid()');
	# mid-job: its effects written, not committed
	$worker->query_safe('BEGIN');
	$worker->query_safe("INSERT INTO effects VALUES ($id, $t1)");

	if ($how eq 'terminate')
	{
		$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	}
	else
	{
		kill 'KILL', $pid;
	}
	eval { $worker->quit };
	# after SIGKILL the postmaster restarts every backend: wait for it (psql
	# refused during the restart exits before reading its input, hence eval)
	my $up = 0;
	for (my $i = 0; $i < 600 && !$up; $i++)
	{
		$up = eval { $node->safe_psql('postgres', 'SELECT 1') eq '1' } // 0;
		select(undef, undef, undef, 0.1) unless $up;
	}
	ok($up, "$how: the server accepts connections");

	is($node->safe_psql('postgres', "SELECT state, token FROM resilience.jobs WHERE id = $id"),
		"running|$t1", "$how: the job is still running under the dead worker's claim");
	is($node->safe_psql('postgres', "SELECT count(*) FROM effects WHERE job = $id"),
		'0', "$how: the dead worker's uncommitted effects are gone");

	my ($rid, $t2, $attempt) = split /\|/, claim_until('work', '30s');
	is($rid, $id, "$how: the job is claimed again after its lease");
	cmp_ok($t2, '>', $t1, "$how: with a larger token");
	is($attempt, 2, "$how: the dead worker's attempt is counted");

	# the dead worker's late complete (as if its connection had survived)
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY sqlstate\nBEGIN; INSERT INTO effects VALUES ($id, $t1); SELECT resilience.complete($id, $t1); COMMIT;");
	like($err, qr/ERROR:  RL001/, "$how: the old token's complete is refused with RL001");
	($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY sqlstate\nSELECT resilience.fail($id, $t1, 'late')");
	like($err, qr/ERROR:  RL001/, "$how: and so is its fail");

	$node->safe_psql('postgres',
		"BEGIN; INSERT INTO effects VALUES ($id, $t2); SELECT resilience.complete($id, $t2); COMMIT;");
	is($node->safe_psql('postgres', "SELECT string_agg(token::text, ',') FROM effects WHERE job = $id"),
		$t2, "$how: the job's effects committed once, under the new claim");
	is($node->safe_psql('postgres', "SELECT count(*) FROM resilience.jobs WHERE id = $id"),
		'0', "$how: the job is done");
}

dead_worker('terminate');
dead_worker('kill9');

# ---- an immediate shutdown under load ---------------------------------------
$node->safe_psql(
	'postgres', q{
SELECT resilience.create_queue('load');
-- a committed enqueue leaves its id here, in the same transaction
CREATE TABLE enqueued (job bigint NOT NULL);
-- each completion, in the transaction of its complete(); no unique key,
-- so that a repeated completion would show
CREATE TABLE done (job bigint NOT NULL, token bigint NOT NULL);
});
my $dir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$dir/enqueue.sql", q{
INSERT INTO enqueued SELECT resilience.enqueue('load', '{}');
INSERT INTO enqueued SELECT unnest(resilience.enqueue_many('load', array_fill('{}'::jsonb, ARRAY[5])));
});
# a lease longer than a loaded machine's stall, so that the run itself
# does not make workers race for a job
PostgreSQL::Test::Utils::append_to_file("$dir/work.sql", q{
SELECT count(*) AS n, coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(token), '{}') AS tokens FROM resilience.claim('load', 3, '5s') \gset
\if :n > 0
BEGIN;
INSERT INTO done SELECT * FROM unnest(:ids::bigint[], :tokens::bigint[]);
SELECT count(resilience.complete(i, t)) FROM unnest(:ids::bigint[], :tokens::bigint[]) AS c(i, t);
COMMIT;
\endif
});
my ($pout, $perr) = ('', '');
my $pgbench = IPC::Run::start(
	[
		'pgbench', '-n', '-M', 'prepared', '-h', $node->host, '-p', $node->port,
		'-c', '6', '-j', '2', '-T', '60',
		'-f', "$dir/enqueue.sql\@1", '-f', "$dir/work.sql\@2", 'postgres'
	],
	'>', \$pout, '2>', \$perr);
ok( $node->poll_query_until(
		'postgres', 'SELECT (SELECT count(*) FROM done) >= 300 AND (SELECT count(*) FROM enqueued) >= 300'),
	'load: jobs are enqueued and completed');
$node->stop('immediate');
$pgbench->finish;
$node->start;

my ($enq, $done_before) = split /\|/, $node->safe_psql('postgres',
	'SELECT (SELECT count(*) FROM enqueued), (SELECT count(*) FROM done)');
note("at the crash: $enq committed enqueues, $done_before committed completions");
cmp_ok($enq, '>', $done_before, 'some committed jobs were still to do at the crash');

# drain what is left with a fresh worker: jobs claimed before the crash come
# back when their 5 s lease ends
my $deadline = time() + 120;
while (time() < $deadline)
{
	my $left = $node->safe_psql('postgres', "SELECT count(*) FROM resilience.job_state WHERE queue = 'load'");
	last if $left == 0;
	my $got = $node->safe_psql('postgres',
		"SELECT id || ' ' || token FROM resilience.claim('load', 100, '30s', '1s')");
	my $sql = '';
	foreach my $line (split /\n/, $got)
	{
		my ($id, $token) = split / /, $line;
		$sql .= "BEGIN; INSERT INTO done VALUES ($id, $token); SELECT resilience.complete($id, $token); COMMIT;\n";
	}
	$node->safe_psql('postgres', $sql) if $sql ne '';
}
is($node->safe_psql('postgres', "SELECT count(*) FROM resilience.job_state WHERE queue = 'load'"),
	'0', 'after the restart the queue drains: no job is stuck, dead or left behind');
is( $node->safe_psql(
		'postgres', 'SELECT count(*) FROM enqueued e WHERE NOT EXISTS (SELECT FROM done d WHERE d.job = e.job)'),
	'0', 'no committed enqueue is lost');
is($node->safe_psql('postgres', 'SELECT count(*) - count(DISTINCT job) FROM done'),
	'0', 'no committed completion is repeated');
is( $node->safe_psql(
		'postgres', 'SELECT count(*) FROM done d WHERE NOT EXISTS (SELECT FROM enqueued e WHERE e.job = d.job)'),
	'0', 'nothing that was not committed was run');
is($node->safe_psql('postgres', 'SELECT count(*) FROM enqueued'), $enq,
	'every committed enqueue was processed exactly once');

# ---- synchronous_commit = off: a crash loses no claim's token ----------------
# A claim hands out a token: were its commit lost in a crash (asynchronous
# commit, the WAL writer asleep), the next claim would hand the same token
# to a second worker.  Claims commit synchronously whatever the setting.
$node->append_conf('postgresql.conf', "synchronous_commit = off\nwal_writer_delay = '10s'");
$node->restart;
$node->safe_psql('postgres', q{
	SELECT resilience.create_queue('async');
	SELECT resilience.enqueue('async', '{}')});
my ($async_id, $async_token) = split /\|/, $node->safe_psql('postgres',
	q{SELECT id, token FROM resilience.claim('async', lease => '1 hour')});
$node->stop('immediate');
$node->start;
is( $node->safe_psql('postgres', "SELECT state, token FROM resilience.job_state WHERE id = $async_id"),
	"running|$async_token", 'synchronous_commit = off: the claim survived an immediate stop');

# ---- a dump and restore -------------------------------------------------------
# pg_dump keeps the queues, the jobs and the position of their ids: a job
# enqueued after the restore gets a new id, never one a job had before
my $last_id = $node->safe_psql('postgres', 'SELECT last_value FROM resilience.job_state_id_seq');
my $dump = PostgreSQL::Test::Utils::tempdir() . '/queue.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'restore');
my $new_id = $node->safe_psql('restored', q{SELECT resilience.enqueue('async', '{}')});
cmp_ok($new_id, '>', $last_id, "restore: a new job's id ($new_id) follows every id issued before the dump ($last_id)");

$node->stop;
done_testing();
