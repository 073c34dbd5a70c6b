# The monitoring counters (docs/monitoring.md) across processes and restarts:
#  - without shared_preload_libraries the views and metrics() raise 55000
#    with a hint, and everything else works (and counts nothing);
#  - 8 pgbench clients counting at once lose no increment: the sums equal
#    the work done, per name too, with names evicted from a small table;
#  - a wait and a timeout behind a prepared transaction's lock;
#  - a clean restart keeps the counts, an immediate stop (crash) resets them;
#  - a database owner's install sees and resets its own database's names
#    only; a dropped database's names leave metrics();
#  - a hot standby counts its own work;
#  - the real prometheus-postgres-exporter with monitoring/'s queries file
#    serves them over HTTP (skipped when the binary is absent).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $top = abs_path(dirname(__FILE__) . '/..');

my $node = PostgreSQL::Test::Cluster->new('stats');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf',
	"max_connections = 30\nfsync = off\nsynchronous_commit = off\nmax_prepared_transactions = 2\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION resilience');

# ---- not preloaded -------------------------------------------------------
foreach my $call (
	q{SELECT * FROM resilience.stats},
	q{SELECT * FROM resilience.guard_name_stats},
	q{SELECT resilience.metrics()},
	q{SELECT resilience.stats_reset()})
{
	my ($ret, $out, $err) =
	  $node->psql('postgres', "\\set VERBOSITY verbose\n$call");
	like($err, qr/ERROR:  55000: .* needs resilience in shared_preload_libraries/,
		"not preloaded: $call raises 55000");
	like($err, qr/HINT:  Add resilience to shared_preload_libraries in postgresql.conf and restart the server\./,
		"not preloaded: $call hints at the fix");
}
is( $node->safe_psql('postgres',
		q{SELECT resilience.try_lock('x'), resilience.retry_statement('SELECT 1 AS one'), resilience.lease_acquire('l', 'h', '1 min') > 0}),
	't|[{"one": 1}]|t',
	'not preloaded: the counted functions work unchanged');

# ---- preloaded, a small name table ---------------------------------------
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'resilience'\nresilience.stats_max_names = 100\n");
$node->restart;
is($node->safe_psql('postgres', 'SELECT names, max_names FROM resilience.stats_info()'),
	'0|100', 'preloaded: the table is empty and sized by the setting');

my $dir = PostgreSQL::Test::Utils::tempdir;
sub pgbench_script
{
	my ($name, $sql) = @_;
	open(my $fh, '>', "$dir/$name.sql") or die;
	print $fh "$sql\n";
	close $fh;
	return "$dir/$name.sql";
}

# 8 clients x 250 transactions: a hot name, one of 1000 names (more than the
# table holds), a retry_statement
my ($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '8', '-j', '8', '-t', '250',
	  '-f', pgbench_script('count', q{\set n random(1, 1000)
BEGIN;
SELECT resilience.lock('hot');
SELECT resilience.lock('name-' || :n);
SELECT resilience.retry_statement('SELECT 1');
COMMIT;}),
	  $node->connstr('postgres') ]);
like($stdout, qr/number of transactions actually processed: 2000\/2000/, 'race: 2000 transactions ran');
is( $node->safe_psql('postgres', q{
	SELECT (SELECT acquired_xact_exclusive FROM resilience.guard_stats),
	       (SELECT calls || ',' || commits || ',' || attempts FROM resilience.retry_stats
	        WHERE function = 'retry_statement'),
	       (SELECT acquisitions FROM resilience.guard_name_stats WHERE name = 'hot')}),
	'4000|2000,2000,2000|2000',
	'race: no increment lost (4000 locks, 2000 retry calls, 2000 on the hot name)');
my ($names, $evicted) = split /\|/, $node->safe_psql('postgres',
	'SELECT names, names_evicted FROM resilience.stats_info()');
ok($names <= 100 && $evicted > 0, "race: the table stays bounded ($names names, $evicted evicted)");

# admission into a full table: a busy newcomer gets a row within about 64
# locks (each one admits it with probability 1/64: missing after 2000 has a
# chance of 2e-14), and counts from then on
is( $node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 2000) WHERE resilience.try_session_lock('newcomer') AND resilience.session_unlock('newcomer');
	SELECT acquisitions BETWEEN 1 AND 2000 FROM resilience.guard_name_stats WHERE name = 'newcomer'}),
	"2000\nt", 'admission: a busy name enters a full table');

# and one-off names mostly pass by: 320 names locked once each make about 5
# inserts (each one evicting), not 320 (the table holds at least 90 of its 100)
my ($evicted0) = $node->safe_psql('postgres', 'SELECT names_evicted FROM resilience.stats_info()');
$node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 320) g WHERE resilience.try_session_lock('once-' || g) AND resilience.session_unlock('once-' || g)});
my ($evicted1) = $node->safe_psql('postgres', 'SELECT names_evicted FROM resilience.stats_info()');
cmp_ok($evicted1 - $evicted0, '<', 80,
	'admission: one-off names into a full table cause few evictions (' . ($evicted1 - $evicted0) . ')');

# a name in the table counts every event, though lookups of names that are
# not skip the lock through the table's presence filter, which each
# eviction rebuilds: 20 new lease names (a lease event enters a name at
# once) evict at least once, then 500 uncontended locks of 'hot' add 500
my ($evicted2) = $node->safe_psql('postgres', q{
	SELECT count(resilience.lease_acquire('filter-' || g, 'h', '1 min')) FROM generate_series(1, 20) g;
	SELECT names_evicted FROM resilience.stats_info()}) =~ /(\d+)$/;
cmp_ok($evicted2, '>', $evicted1, 'filter: 20 new names evicted (so rebuilt the filter)');
is( $node->safe_psql('postgres', q{
	SELECT acquisitions FROM resilience.guard_name_stats WHERE name = 'hot';
	SELECT count(*) FROM generate_series(1, 500) WHERE resilience.try_session_lock('hot') AND resilience.session_unlock('hot');
	SELECT acquisitions FROM resilience.guard_name_stats WHERE name = 'hot'}),
	"2000\n500\n2500", 'filter: a tracked name counts every uncontended lock of a full table');

# a wait and a timeout behind a prepared transaction's lock (a name that
# waits enters a full table at once)
$node->safe_psql('postgres', q{BEGIN; SELECT resilience.lock('held'); PREPARE TRANSACTION 'held'});
is($node->safe_psql('postgres', q{SELECT resilience.try_lock('held', '50ms')}), 'f', 'wait: not granted');
is( $node->safe_psql('postgres', q{
	SELECT waits, timeouts, wait_us >= 50000 FROM resilience.guard_name_stats WHERE name = 'held'}),
	'1|1|t', 'wait: one wait, one timeout, at least 50 ms waited');
$node->safe_psql('postgres', q{ROLLBACK PREPARED 'held'});

# ---- names of a database in another encoding ----------------------------
# A name is kept as the bytes of its database's encoding; read from a
# database of another, it is converted (its LATIN1 bytes were returned as
# is: text invalid in UTF8, 22021 on any conversion)
$node->safe_psql('postgres', q{
	CREATE DATABASE l1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
	CREATE DATABASE u8 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('l1', q{
	CREATE EXTENSION resilience;
	SET client_encoding = 'UTF8';
	SELECT resilience.lease_acquire('café', 'h', '1 min')});
$node->safe_psql('u8', 'CREATE EXTENSION resilience');
is( $node->safe_psql('u8', q{
	SELECT encode(convert_to(name, 'UTF8'), 'hex') FROM resilience.stats_names() WHERE name LIKE 'caf%'}),
	'636166c3a9', "encodings: a LATIN1 database's name reads as UTF8 in a UTF8 database");
$node->safe_psql('postgres', 'DROP DATABASE l1');
$node->safe_psql('postgres', 'DROP DATABASE u8');

# ---- restart and crash ---------------------------------------------------
my $restart_q = q{
	SELECT (SELECT sum(value) FROM resilience.stats), (SELECT stats_since FROM resilience.stats_info()),
	       (SELECT acquisitions FROM resilience.guard_name_stats WHERE name = 'hot'),
	       (SELECT names_evicted FROM resilience.stats_info())};
my $before = $node->safe_psql('postgres', $restart_q);
like($before, qr/\|[1-9]\d*$/, 'restart: names were evicted before it');
$node->restart;
is($node->safe_psql('postgres', $restart_q),
	$before, 'restart: every count, the names, names_evicted and stats_since survive a clean restart');
ok(!-e $node->data_dir . '/pg_stat/resilience.stat', 'restart: the file is removed once read');

# a file whose stats_since is out of range is ignored: every view read it
# and failed with 22008
$node->stop;
my $file = $node->data_dir . '/pg_stat/resilience.stat';
open(my $fh, '+<:raw', $file) or die "open $file: $!";
seek($fh, 32, 0) or die;	# StatsFileHeader.since
print $fh pack('q<', 9223372036854775807);
close $fh;
$node->start;
is($node->safe_psql('postgres', q{SELECT stats_since <= now() FROM resilience.stats_info()}),
	't', 'restart: a file with an impossible stats_since is ignored, the views read');

$node->safe_psql('postgres', q{SELECT resilience.lock('hot')});
$node->stop('immediate');
$node->start;
is( $node->safe_psql('postgres', q{
	SELECT (SELECT sum(value) FROM resilience.stats), names, names_evicted FROM resilience.stats_info()}),
	'0|0|0', 'crash: an immediate stop resets the counts');

# a backend killed mid-run: the postmaster's crash recovery resets them too
$node->safe_psql('postgres', q{SELECT resilience.lock('hot')});
{
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'SELECT pg_sleep(60)' ],
		\$in, \$out, \$err);
	my $bpid = '';
	for (1 .. 100)
	{
		$bpid = $node->safe_psql('postgres',
			q{SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'});
		last if $bpid;
		select(undef, undef, undef, 0.1);
	}
	kill 'KILL', $bpid;
	$h->finish;
}
my $up = 0;
for (1 .. 300)
{
	my ($ret) = $node->psql('postgres', 'SELECT 1');
	if (defined $ret && $ret == 0) { $up = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($up, 'crash: the server is back after a backend was killed');
is($node->safe_psql('postgres', q{SELECT sum(value) FROM resilience.stats}),
	'0', 'crash: a killed backend (crash recovery) resets the counts');

# ---- databases -------------------------------------------------------------
# A database owner installs the (trusted) extension in its own database: it
# owns the extension there, so it may read and reset, but only its own
# database's names; the server's counters and other databases' names are
# not its to see or to reset.  pg_monitor sees every database.
$node->safe_psql('postgres', q{
	SELECT resilience.stats_reset();
	CREATE ROLE regress_dbowner LOGIN;
	CREATE ROLE regress_watcher LOGIN IN ROLE pg_monitor;
	CREATE DATABASE tenant OWNER regress_dbowner;
	SELECT resilience.lock('postgres-secret')});
$node->safe_psql('tenant', q{CREATE EXTENSION resilience; SELECT resilience.lock('tenant-lock')},
	extra_params => [ '-U', 'regress_dbowner' ]);
is( $node->safe_psql('tenant', q{SELECT string_agg(name, ',' ORDER BY name) FROM resilience.guard_name_stats},
		extra_params => [ '-U', 'regress_dbowner' ]),
	'tenant-lock', "databases: a database owner's install sees its own database's names only");
my $owner_metrics = $node->safe_psql('tenant', q{SELECT resilience.metrics()},
	extra_params => [ '-U', 'regress_dbowner' ]);
unlike($owner_metrics, qr/postgres-secret/, "databases: ... in metrics() too");
like($owner_metrics, qr/datname="tenant",name="tenant-lock"/, "databases: metrics() has its own");
like( $node->safe_psql('tenant', q{SELECT string_agg(name, ',' ORDER BY name) FROM resilience.guard_name_stats},
		extra_params => [ '-U', 'regress_watcher' ]),
	qr/postgres-secret.*tenant-lock/, 'databases: pg_monitor sees every database');
my $calls0 = $node->safe_psql('postgres', q{SELECT value FROM resilience.stats WHERE area = 'guard' AND counter = 'acquired_xact_exclusive'});
$node->safe_psql('tenant', q{SELECT resilience.stats_reset()}, extra_params => [ '-U', 'regress_dbowner' ]);
is( $node->safe_psql('postgres', q{
	SELECT (SELECT string_agg(name, ',' ORDER BY name) FROM resilience.guard_name_stats WHERE name IN ('postgres-secret', 'tenant-lock')),
	       (SELECT value FROM resilience.stats WHERE area = 'guard' AND counter = 'acquired_xact_exclusive')}),
	"postgres-secret|$calls0",
	"databases: the owner's reset forgets its database's names, not the others' nor the server's counters");
# a dropped database's names leave metrics(): two of them with one name
# would give two series of one label set
foreach my $db ('gone1', 'gone2')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{CREATE EXTENSION resilience; SELECT resilience.lock('orders')});
	$node->safe_psql('postgres', "DROP DATABASE $db");
}
my $metrics = $node->safe_psql('postgres', q{SELECT resilience.metrics()});
unlike($metrics, qr/datname="",/, 'databases: no series for a dropped database');
$node->safe_psql('postgres', q{DROP DATABASE tenant; DROP ROLE regress_dbowner; DROP ROLE regress_watcher});

# ---- a hot standby counts its own work -----------------------------------
$node->safe_psql('postgres', q{SELECT resilience.stats_reset(); SELECT resilience.lock('primary-only')});
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('stats_standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
$standby->safe_psql('postgres', q{SELECT resilience.try_lock('standby-name'); SELECT resilience.retry_statement('SELECT 1')});
is( $standby->safe_psql('postgres', q{
	SELECT string_agg(name || ':' || acquisitions, ',' ORDER BY name) FROM resilience.guard_name_stats}),
	'standby-name:1', 'standby: counts its own locks, not the primary\'s');
is( $standby->safe_psql('postgres', q{SELECT calls FROM resilience.retry_stats WHERE function = 'retry_statement'}),
	'1', 'standby: counts its own retries');
is( $node->safe_psql('postgres', q{SELECT string_agg(name, ',') FROM resilience.guard_name_stats}),
	'primary-only', 'standby: the primary\'s counts are its own');
$standby->stop;

# ---- the exporter --------------------------------------------------------
SKIP:
{
	my $exporter = '/usr/bin/prometheus-postgres-exporter';
	skip 'prometheus-postgres-exporter is not installed (apt-get install prometheus-postgres-exporter)', 3
	  unless -x $exporter;
	skip 'curl is not installed', 3 unless system('curl --version >/dev/null 2>&1') == 0;

	$node->safe_psql('postgres', q{
		CREATE ROLE exporter LOGIN IN ROLE pg_monitor;
		SELECT resilience.stats_reset();
		SELECT resilience.lock('exported "name"');
		SELECT resilience.retry_statement('SELECT 1')});
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $dsn = 'host=' . $node->host . ' port=' . $node->port . ' user=exporter dbname=postgres sslmode=disable';
	my $log = "$dir/exporter.log";
	my $h = IPC::Run::start(
		[ $exporter, "--web.listen-address=127.0.0.1:$port",
		  "--extend.query-path=$top/monitoring/postgres_exporter_queries.yaml",
		  '--auto-discover-databases', '--disable-settings-metrics' ],
		'>', $log, '2>&1',
		init => sub { $ENV{DATA_SOURCE_NAME} = $dsn; });
	my $metrics = '';
	for (1 .. 100)
	{
		$metrics = `curl -s http://127.0.0.1:$port/metrics`;
		last if $metrics =~ /resilience_value/;
		select(undef, undef, undef, 0.2);
	}
	$h->kill_kill;
	like($metrics, qr/^resilience_value\{area="guard",counter="acquired_xact_exclusive"(,server="[^"]*")?\} 1$/m,
		'exporter: the guard counter over HTTP');
	like($metrics, qr/^resilience_value\{area="retry_statement",counter="calls"(,server="[^"]*")?\} 1$/m,
		'exporter: the retry counter over HTTP');
	like($metrics, qr/^resilience_guard_name_acquisitions\{datname="postgres",name="exported \\"name\\""(,server="[^"]*")?\} 1$/m,
		'exporter: a per-name counter, its label escaped')
	  or diag(substr(join("\n", grep { /resilience/ } split /\n/, $metrics), 0, 3000) . "\n" . slurp_file($log));
}

$node->stop;
done_testing();
