# resilience.retry_transaction makes progress under contention: random
# transfers among 10 accounts, SERIALIZABLE, every argument at its default,
# at 8, 32 and 64 connections.  Every call must commit (0 failed), the total
# must be conserved, and no call may need more than escalate_after + 1
# attempts (the default is 6): the attempt after the sixth failure, or after
# any failure that took base_delay or longer, has the lane alone, and with
# every transaction on the table wrapped, nothing is left for it to
# conflict with.  Each call records the previous call's
# attempt count inside its own transaction, so that no transaction runs
# outside the lane (one would hold back snapshots' xmin, and SSI's
# bookkeeping then counts a transaction that committed just before the
# escalated attempt as concurrent with it); autovacuum is off for the same
# reason (an ANALYZE takes an XID).  Then the wait for the lane under
# lock_timeout: 55P03, retried only if listed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $seconds = $ENV{RETRY_PROGRESS_SECONDS} // 4;

my $node = PostgreSQL::Test::Cluster->new('retry_progress');
$node->init;
$node->append_conf('postgresql.conf',
	"max_connections = 80\nfsync = off\nsynchronous_commit = off\nautovacuum = off\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION resilience;
	CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);
	INSERT INTO accounts SELECT g, 1000 FROM generate_series(1, 10) g;
	CREATE UNLOGGED TABLE calls (attempts int NOT NULL);
});

# move amt from a to b if a has it (b is never a); $4 is the attempt count
# of the client's previous call (0 before its first)
my $transfer = q{WITH d AS (UPDATE accounts SET balance = balance - $3 WHERE id = $1 AND balance >= $3 RETURNING id)
  UPDATE accounts SET balance = balance + $3 WHERE id = $2 AND EXISTS (SELECT FROM d);
  INSERT INTO calls SELECT $4::int WHERE $4::int > 0};
my $dir = PostgreSQL::Test::Utils::tempdir;
open(my $fh, '>', "$dir/transfer.sql") or die;
print $fh "\\set a random(1, 10)\n\\set b (:a + random(0, 8)) % 10 + 1\n\\set amt random(1, 100)\n"
  . "CALL resilience.retry_transaction('$transfer', ARRAY[:a, :b, :amt, :attempts]::text[]) \\gset\n";
close $fh;

for my $clients (8, 32, 64)
{
	$node->safe_psql('postgres', 'TRUNCATE calls');
	my ($stdout, $stderr) = run_command(
		[ 'pgbench', '-n', '-M', 'prepared', '-D', 'attempts=0', '-c', $clients, '-j', ($clients < 8 ? $clients : 8),
		  '-T', $seconds, '-f', "$dir/transfer.sql", $node->connstr('postgres') ]);
	my ($processed) = $stdout =~ /number of transactions actually processed: (\d+)/;
	my ($failed) = $stdout =~ /number of failed transactions: (\d+)/;
	ok(defined $processed && $processed > 0, "$clients clients: calls committed: " . ($processed // 'none'));
	is($failed // 0, 0, "$clients clients: 0 failed calls") or diag($stderr);
	unlike($stderr, qr/ERROR/, "$clients clients: no errors");
	is($node->safe_psql('postgres', 'SELECT sum(balance) FROM accounts'), '10000',
		"$clients clients: the total is conserved");
	my ($n, $max, $retried) = split /\|/, $node->safe_psql('postgres',
		'SELECT count(*), max(attempts), count(*) FILTER (WHERE attempts > 1) FROM calls');
	note("$clients clients: $n calls, $retried retried, at most $max attempts");
	cmp_ok($max, '<=', 7, "$clients clients: no call needed more than 7 attempts (max $max)");
}

# The wait for the lane is a lock wait like any other: lock_timeout ends it
# with 55P03, which rolls the attempt back and is retried only if listed.
# A long attempt holds the lane shared while an escalated call waits.
my ($hout, $herr) = ('', '');
my $holder = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', q{CALL resilience.retry_transaction('SELECT pg_sleep(3)')} ],
	'>', \$hout, '2>', \$herr);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 21061 AND mode = 'ShareLock' AND granted})
  or die "the holder never took the lane";
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET lock_timeout = '100ms'; CALL resilience.retry_transaction('INSERT INTO calls VALUES (-1)', escalate_after => 0)});
like($err, qr/lock timeout.*\n.*attempt 1 of 10 failed with SQLSTATE 55P03/s,
	'lock_timeout ends the wait for the lane (55P03, not in retry_on)');
($ret, $out, $err) = $node->psql('postgres',
	q{SET lock_timeout = '100ms'; CALL resilience.retry_transaction('INSERT INTO calls VALUES (-2)', escalate_after => 0,
	  retry_on => '{55P03}', max_attempts => 1000, base_delay => '50ms', max_delay => '50ms')});
like($out, qr/\|([2-9]|\d\d+)$/, "listed, it is retried until the holder is done (result|attempts: $out)");
$holder->finish;
is($node->safe_psql('postgres', 'SELECT string_agg(attempts::text, \',\' ORDER BY attempts) FROM calls WHERE attempts < 0'),
	'-2', 'the timed-out attempt left nothing behind, the retried one committed');

$node->stop;
done_testing();
