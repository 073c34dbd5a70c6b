# Guards held by a backend are released when it exits, whether the client
# disconnects or the backend is terminated, and another session takes them.
# Also: a full shared lock table, and a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('guard');
$node->init;
# a small lock table, to see what happens when guards fill it
$node->append_conf('postgresql.conf', 'max_locks_per_transaction = 10');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION resilience');

# a session guard survives the transaction that took it
my $leader = $node->background_psql('postgres');
$leader->query_safe("SET application_name = 'leader'");
my $leader_pid = $leader->query_safe('SELECT pg_backend_pid()');
$leader->query_safe("SELECT resilience.session_lock('leader')");

is($node->safe_psql('postgres', "SELECT resilience.try_session_lock('leader')"),
	'f', 'another session cannot take a held session guard');
is( $node->safe_psql(
		'postgres',
		"SELECT pid, mode, granted, application_name, backend_state
		 FROM resilience.lock_holders('leader')"),
	"$leader_pid|exclusive|t|leader|idle",
	'lock_holders names the idle holder');

# the client goes away: the backend exits and releases its guards
$leader->quit;
ok( $node->poll_query_until(
		'postgres', "SELECT resilience.try_lock('leader')", 't'),
	'the guard is free once the holder disconnected');

# a terminated backend releases its session guards too, and a waiter gets them
my $holder = $node->background_psql('postgres');
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid()');
$holder->query_safe("SELECT resilience.session_lock('worker')");
$holder->query_safe("BEGIN");
$holder->query_safe("SELECT resilience.lock('xact-guard')");

my $waiter = $node->background_psql('postgres');
$waiter->query_until(qr/waiting/, q{
\echo waiting
SELECT resilience.session_lock('worker', '60s');
});
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM resilience.lock_holders('worker') WHERE NOT granted", '1'),
	'a second session waits for the guard');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($holder_pid)");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM resilience.lock_holders('worker') WHERE granted AND pid <> $holder_pid",
		'1'),
	'the waiter takes the guard once the holder was terminated');
is($node->safe_psql('postgres', "SELECT resilience.try_lock('xact-guard')"),
	't', 'the terminated backend\'s transaction guard is released');
$holder->quit;
$waiter->quit;

# a cancel ends a guard wait as itself (57014); the session's lock_timeout
# and the lock queue are as before
my $blocker = $node->background_psql('postgres');
$blocker->query_safe("SELECT resilience.session_lock('busy')");
my $canceled = $node->background_psql('postgres', on_error_stop => 0);
my $canceled_pid = $canceled->query_safe('SELECT pg_backend_pid()');
$canceled->query_safe("SET lock_timeout = '7s'");
$canceled->query_until(qr/waiting/, q{
\\echo waiting
\\set VERBOSITY sqlstate
SELECT resilience.lock('busy', '60s');
});
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM resilience.lock_holders('busy') WHERE NOT granted", '1'),
	'a session waits for a busy guard');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($canceled_pid)");
my $after = $canceled->query("SHOW lock_timeout");
like($canceled->{stderr}, qr/ERROR:  57014/, 'a cancel ends the wait with 57014');
is($after, '7s', 'lock_timeout is as it was after a canceled wait');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM resilience.lock_holders('busy') WHERE NOT granted"),
	'0', 'the canceled waiter left the queue');
$canceled->quit;
$blocker->quit;

# the shared lock table is full: 53200, and nothing stays held
my ($ret, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT resilience.lock_many(array(SELECT 'n' || g FROM generate_series(1, 20000) g))");
like($err, qr/ERROR:  53200: out of shared memory/, 'a full lock table raises 53200');
like($err, qr/max_locks_per_transaction/, 'with the hint to raise max_locks_per_transaction');
is($node->safe_psql('postgres', "SELECT count(*) FROM resilience.locks"),
	'0', 'the failed lock_many left nothing held');
is($node->safe_psql('postgres', "SELECT resilience.try_lock('after-full')"),
	't', 'guards work again afterwards');

# guards never outlive a server restart
my $s = $node->background_psql('postgres');
$s->query_safe("SELECT resilience.session_lock('restart')");
$node->restart;
is($node->safe_psql('postgres', "SELECT count(*) FROM resilience.locks"),
	'0', 'no guard survives a restart');
eval { $s->quit };

$node->stop;
done_testing();
