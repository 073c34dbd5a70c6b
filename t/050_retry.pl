# resilience.retry_transaction under real concurrency and interrupts:
#  - pg_cancel_backend / pg_terminate_backend during a backoff sleep act at
#    once (the sleep is a latch wait that checks for interrupts);
#  - write skew with 8 pgbench clients (take a doctor off call only if two or
#    more remain) keeps the invariant with 0 failed transactions, while the
#    same transaction without retries fails;
#  - statements pipelined before the CALL (a write, or a NOTIFY, which leaves
#    no XID) are refused, not committed behind the caller's back;
#  - memory stays flat over attempts refused while their SQL is prepared
#    (a SAVEPOINT, 0A000, listed in retry_on): each frees its plan;
#  - the wait for a lane another role holds ends within the call's timeout.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('retry');
$node->init;
$node->append_conf('postgresql.conf',
	"max_connections = 30\nfsync = off\nsynchronous_commit = off\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION resilience');

# A CALL whose SQL always fails with a listed SQLSTATE and whose backoff is
# up to 1000 s: it spends its life in the backoff sleep.
my $sleeper = q{CALL resilience.retry_transaction('SELECT 1 / 0', }
  . q{max_attempts => 1000, retry_on => '{22012}', }
  . q{base_delay => '1000s', max_delay => '1000s')};

# Start the sleeping CALL, wait until it sleeps, interrupt it with $func,
# and return (seconds until the CALL ended, its stderr).
sub interrupt_sleep
{
	my ($func) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sleeper ],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity
		  WHERE wait_event_type = 'Extension' AND query LIKE 'CALL resilience.retry_transaction%'})
	  or die "the CALL never reached its backoff sleep";
	my $pid = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity
		  WHERE wait_event_type = 'Extension' AND query LIKE 'CALL resilience.retry_transaction%'});
	my $t0 = time;
	$node->safe_psql('postgres', "SELECT $func($pid)");
	$h->finish;
	return (time - $t0, $err);
}

my ($elapsed, $err) = interrupt_sleep('pg_cancel_backend');
cmp_ok($elapsed, '<', 5, 'pg_cancel_backend ends the backoff sleep at once');
like($err, qr/canceling statement due to user request/, 'the CALL reports the cancel (57014)');

($elapsed, $err) = interrupt_sleep('pg_terminate_backend');
cmp_ok($elapsed, '<', 5, 'pg_terminate_backend ends the backoff sleep at once');
like($err, qr/terminating connection due to administrator command/, 'the session is terminated');

# Write skew: 16 shifts of 3 doctors, all on call.  Each transaction reads
# its shift and toggles one doctor: off call only if two or more are on call.
$node->safe_psql('postgres', q{
	CREATE TABLE doctors (shift int, doc int, on_call bool NOT NULL, PRIMARY KEY (shift, doc));
	INSERT INTO doctors SELECT s, d, true FROM generate_series(1, 16) s, generate_series(1, 3) d;
});
my $dir = PostgreSQL::Test::Utils::tempdir;
my $toggle = q{UPDATE doctors SET on_call = CASE WHEN (SELECT count(*) FROM doctors
  WHERE shift = $1 AND on_call) >= 2 THEN NOT on_call ELSE true END WHERE shift = $1 AND doc = $2};
(my $toggle_vars = $toggle) =~ s/\$(\d)/$1 == 1 ? ':s' : ':d'/ge;
open(my $fh, '>', "$dir/call.sql") or die;
print $fh "\\set s random(1, 16)\n\\set d random(1, 3)\n"
  . "CALL resilience.retry_transaction('$toggle', ARRAY[:s, :d]::text[], max_attempts => 10000);\n";
close $fh;
open($fh, '>', "$dir/plain.sql") or die;
print $fh "\\set s random(1, 16)\n\\set d random(1, 3)\n"
  . "BEGIN ISOLATION LEVEL SERIALIZABLE;\n$toggle_vars;\nEND;\n";
close $fh;

my $invariant = q{SELECT count(*) FROM (SELECT shift FROM doctors GROUP BY shift
  HAVING count(*) FILTER (WHERE on_call) = 0) s};
my $rollbacks = q{SELECT xact_rollback FROM pg_stat_database WHERE datname = 'postgres'};

# the plain transaction, without retries, does hit serialization failures
my ($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '8', '-j', '8', '-T', '3',
	  '--failures-detailed', '-f', "$dir/plain.sql", $node->connstr('postgres') ]);
my ($plain_failed) = $stdout =~ /number of failed transactions: (\d+)/;
ok(defined $plain_failed && $plain_failed > 0,
	"without retries the workload fails transactions (failed: " . ($plain_failed // 'none') . ")");

my $before = $node->safe_psql('postgres', $rollbacks);
($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '8', '-j', '8', '-T', '8',
	  '-f', "$dir/call.sql", $node->connstr('postgres') ]);
like($stdout, qr/number of failed transactions: 0 \(/, 'CALL retry_transaction: 0 failed transactions');
my ($processed) = $stdout =~ /number of transactions actually processed: (\d+)/;
ok(defined $processed && $processed > 0, "CALLs committed: " . ($processed // 'none'));
is($node->safe_psql('postgres', $invariant), '0', 'every shift still has a doctor on call');
ok($node->poll_query_until('postgres', "SELECT ($rollbacks) > $before"),
	'attempts were rolled back and retried along the way');

# A pipeline whose earlier statement wrote data: the CALL refuses (2D000)
# and the earlier write rolls back with it, instead of being committed.
$node->safe_psql('postgres', 'CREATE TABLE plog (x int)');
open($fh, '>', "$dir/pipe.sql") or die;
print $fh "\\startpipeline\nINSERT INTO plog VALUES (1);\n"
  . "CALL resilience.retry_transaction('INSERT INTO plog VALUES (2)');\n\\endpipeline\n";
close $fh;
($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-M', 'extended', '-t', '1', '-f', "$dir/pipe.sql",
	  $node->connstr('postgres') ]);
# From PostgreSQL 17 on, the server runs a statement pipelined after a
# completed Execute in an implicit transaction block (where it refuses VACUUM
# too), so the CALL arrives atomic and gets the transaction-block refusal.
like($stderr,
	$node->pg_version >= 17
	? qr/cannot run inside a transaction block or an atomic context/
	: qr/cannot run after other statements in the same transaction/,
	'a CALL pipelined after a write is refused');
is($node->safe_psql('postgres', 'SELECT count(*) FROM plog'), '0',
	'and the pipelined write is rolled back, not committed');

# A pipelined NOTIFY writes nothing, yet the CALL's first commit would send
# it even though the pipeline fails afterwards.  A listener waits in
# pg_sleep meanwhile and prints the notifications it got once woken.
my ($lout, $lerr) = ('', '');
my $listener = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres'),
	  '-c', 'LISTEN pipe_chan', '-c', 'SELECT pg_sleep(120)', '-c', 'SELECT 1' ],
	'>', \$lout, '2>', \$lerr);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(120)'})
  or die "the listener never started";
# the control: a NOTIFY pipelined without a CALL is delivered
open($fh, '>', "$dir/notify_ok.sql") or die;
print $fh "\\startpipeline\nNOTIFY pipe_chan, 'control';\n\\endpipeline\n";
close $fh;
($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-M', 'extended', '-t', '1', '-f', "$dir/notify_ok.sql",
	  $node->connstr('postgres') ]);
open($fh, '>', "$dir/notify_call.sql") or die;
print $fh "\\startpipeline\nNOTIFY pipe_chan, 'leaked';\n"
  . "CALL resilience.retry_transaction('SELECT 1');\nSELECT 1 / 0;\n\\endpipeline\n";
close $fh;
($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-M', 'extended', '-t', '1', '-f', "$dir/notify_call.sql",
	  $node->connstr('postgres') ]);
like($stderr,
	$node->pg_version >= 17
	? qr/cannot run inside a transaction block or an atomic context/
	: qr/cannot run after other statements in the same transaction/,
	'a CALL pipelined after a NOTIFY is refused');
$node->safe_psql('postgres',
	q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(120)'});
$listener->finish;
like($lout, qr/payload "control"/, 'the listener got the control notification');
unlike($lout, qr/payload "leaked"/,
	'the NOTIFY pipelined before the refused CALL was not sent');

# Memory of attempts refused at preparation: the backend's RSS over 3 s of
# them (thousands of attempts a second), which grew 60 MB a second while
# each left its plan in the call's SPI context.
sub rss_kb
{
	my ($pid) = @_;
	open(my $st, '<', "/proc/$pid/status") or return undef;
	while (<$st>) { return $1 if /^VmRSS:\s+(\d+)/; }
	return undef;
}
my ($lout2, $lerr2) = ('', '');
my $leaky = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . ' application_name=leaky', '-c',
	  q{CALL resilience.retry_transaction('SELECT 1; SAVEPOINT a', retry_on => '{0A000}', }
	  . q{max_attempts => 100000000, base_delay => '1us', max_delay => '1us', timeout => '5s')} ],
	'>', \$lout2, '2>', \$lerr2);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'leaky'})
  or die "the refused CALL never started";
my $lpid = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE application_name = 'leaky'});
sleep 1;
my $rss1 = rss_kb($lpid);
sleep 3;
my $rss2 = rss_kb($lpid);
$leaky->finish;
SKIP:
{
	skip 'no /proc/PID/status', 1 unless defined $rss1 && defined $rss2;
	cmp_ok($rss2 - $rss1, '<', 20000,
		"RSS over 3 s of attempts refused at preparation: $rss1 kB, then $rss2 kB");
}
like($lerr2, qr/gave up after \d+ attempts \(timeout\)/,
	'the refused CALL gave up at its timeout');

# A lane held exclusively by another role's long attempt: a call with a
# timeout waits for it no longer than that, and says why it gave up.
$node->safe_psql('postgres', 'CREATE ROLE lane_hog LOGIN');
my ($hout, $herr) = ('', '');
my $hog = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . ' user=lane_hog application_name=hog', '-c',
	  q{CALL resilience.retry_transaction('SELECT pg_sleep(4)', escalate_after => 0)} ],
	'>', \$hout, '2>', \$herr);
$node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'hog' AND wait_event = 'PgSleep'})
  or die "the lane holder never started";
my $t0 = time;
my ($ret, $wout, $werr) = $node->psql('postgres',
	q{CALL resilience.retry_transaction('SELECT 1', timeout => '500ms')});
my $waited = time - $t0;
isnt($ret, 0, 'the call waiting for the held lane failed');
like($werr, qr/lock timeout.*gave up after 0 attempts \(timeout, waiting for the retry lane\)/s,
	'it gave up at its timeout, waiting for the lane');
cmp_ok($waited, '<', 2.5, "it waited about its timeout (${waited} s), not for the holder (4 s)");
$hog->finish;
like($hout, qr/pg_sleep/, 'the lane holder committed');

$node->stop;
done_testing();
