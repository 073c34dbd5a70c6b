# A schedule keeps firing once per period while several "nodes" drive it at
# once, with the real clock and no leader:
#  - pgbench clients calling claim() directly and through PgBouncer in
#    transaction mode for 4 seconds, then with a client calling tick() too;
#  - every period of '@every 1 second' from the first to the last gets
#    exactly one job: no gap, no duplicate;
#  - after a pause with nobody driving it, the missed periods are enqueued
#    once each by the next claim.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgBouncer;

my $node = PostgreSQL::Test::Cluster->new('schedules');
$node->init;
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'resilience'\nmax_connections = 30\nfsync = off\nsynchronous_commit = off\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION resilience;
	SELECT resilience.create_queue('tap_q');
	SELECT resilience.schedule('tick1s', '@every 1 second', 'tap_q', '{"from": "tap"}');
});
my $made = $node->safe_psql('postgres', q{SELECT next_run FROM resilience.schedule_state WHERE name = 'tick1s'});

my $dir = PostgreSQL::Test::Utils::tempdir;
sub script
{
	my ($name, $sql) = @_;
	open(my $fh, '>', "$dir/$name.sql") or die;
	print $fh "$sql\n";
	close $fh;
	return "$dir/$name.sql";
}
my $claim = script('claim', q{SELECT count(*) FROM resilience.claim('tap_q', 10);
SELECT pg_sleep(0.01);});
my $tick = script('tick', q{SELECT resilience.tick();
SELECT pg_sleep(0.01);});

# one job per period, consecutive from the first period after schedule()
my $periods = q{
	SELECT (payload -> 'resilience_schedule' ->> 'period')::timestamptz AS p
	FROM resilience.jobs WHERE queue = 'tap_q'};
sub check_periods
{
	my ($label, $min) = @_;
	my ($n, $distinct, $span_ok, $first_ok) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT count(*), count(DISTINCT p),
		       count(*) = extract(epoch FROM max(p) - min(p))::int + 1,
		       min(p) = '$made'
		FROM ($periods) j});
	cmp_ok($n, '>=', $min, "$label: $n periods enqueued");
	is($distinct, $n, "$label: no period enqueued twice");
	is($span_ok, 't', "$label: no period missed between the first and the last");
	is($first_ok, 't', "$label: the first job is for the first period after schedule()");
}

my ($bouncer, $via);
($bouncer, $via) = PgBouncer::start($node, 'transaction', default_pool_size => 2)
  if defined PgBouncer::binary();

# pgbench clients for $secs seconds: [connstr, clients, script], ...
sub drive
{
	my ($secs, @clients) = @_;
	my @runs;
	foreach my $c (@clients)
	{
		my ($connstr, $n, $file) = @$c;
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start(
			[ 'pgbench', '-n', '-c', $n, '-j', $n, '-T', $secs, '-f', $file, $connstr ],
			'>', \$out, '2>', \$err);
		push @runs, [ $h, \$out, \$err, $connstr ];
	}
	foreach my $r (@runs)
	{
		my ($h, $out, $err, $connstr) = @$r;
		$h->finish;
		like($$out, qr/number of transactions actually processed: [1-9]/, "clients on $connstr ran");
		unlike($$err, qr/error|abort/i, "clients on $connstr had no error") or diag($$err);
	}
}

# workers that only claim: 3 directly, 2 through PgBouncer (transaction mode)
my @claimers = ([ $node->connstr('postgres'), 3, $claim ]);
push @claimers, [ $via->connstr('postgres'), 2, $claim ] if $via;
drive(4, @claimers);
check_periods('claims only, 4s', 2);

# the same with a node calling tick() as well
drive(4, @claimers, [ $node->connstr('postgres'), 1, $tick ]);
check_periods('claims and ticks, 8s', 6);
is($node->safe_psql('postgres', q{
	SELECT enqueued = (SELECT count(*) FROM resilience.jobs WHERE queue = 'tap_q'), skipped
	FROM resilience.schedule_state WHERE name = 'tick1s'}),
	't|0', 'schedule_state counts every job, nothing skipped');

# nobody drives it for 3 seconds: the next claim enqueues the missed periods once
sleep(3);
$node->safe_psql('postgres', q{SELECT count(*) FROM resilience.claim('tap_q', 1)});
$node->safe_psql('postgres', q{SELECT count(*) FROM resilience.claim('tap_q', 1)});
my ($n, $distinct, $span_ok) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT count(*), count(DISTINCT p),
	       count(*) = extract(epoch FROM max(p) - min(p))::int + 1
	FROM ($periods) j});
is("$distinct|$span_ok", "$n|t", "after a pause: still one job per period, no gap ($n periods)");
is($node->safe_psql('postgres', q{
	SELECT next_run > now() - interval '1 second' AND last_period <= now()
	FROM resilience.schedule_state WHERE name = 'tick1s'}),
	't', 'the schedule is caught up');

$bouncer->kill_kill if $bouncer;
$node->stop;
done_testing();
