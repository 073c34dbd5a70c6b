# Rate limits and circuit breakers in shared memory:
#  - without shared_preload_libraries their functions raise 55000 with a
#    hint, and the rest of the extension works;
#  - 8 pgbench clients racing on one key are allowed exactly the burst, and
#    a half-open breaker admits exactly `probes` calls across them;
#  - the eviction rules of resilience.max_rate_limit_keys and
#    resilience.max_breakers keep the entries that matter, and a database
#    filling the tables pushes out its own entries, not another's;
#  - a restart empties the limits and closes the breakers;
#  - a standby decides with a state of its own, which it keeps on promotion.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf',
	"max_connections = 30\nfsync = off\nsynchronous_commit = off\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION resilience');

# ---- not preloaded -------------------------------------------------------
foreach my $call (
	q{SELECT * FROM resilience.rate_limit('k', 10)},
	q{SELECT resilience.rate_limit_reset('k')},
	q{SELECT * FROM resilience.rate_limits},
	q{SELECT resilience.breaker_allow('b')},
	q{SELECT resilience.breaker_record('b', true)},
	q{SELECT resilience.breaker_state('b')},
	q{SELECT * FROM resilience.breakers})
{
	my ($ret, $out, $err) =
	  $node->psql('postgres', "\\set VERBOSITY verbose\n$call");
	like($err, qr/ERROR:  55000: .* needs resilience in shared_preload_libraries/,
		"not preloaded: $call raises 55000");
	like($err, qr/HINT:  Add resilience to shared_preload_libraries in postgresql.conf and restart the server\./,
		"not preloaded: $call hints at the fix");
}
is( $node->safe_psql('postgres',
		q{SELECT resilience.backoff_delay(2, '1s', '1 min', 'none'), resilience.try_lock('x')}),
	'00:00:02|t',
	'not preloaded: the rest of the extension works');
# the size settings exist only when preloaded (PGC_POSTMASTER settings
# cannot be defined later: that is a FATAL error in the backend)
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_settings WHERE name LIKE 'resilience.max_%s'}),
	'0', 'not preloaded: no size settings, and the session survived loading the module');

# ---- preloaded, small tables ---------------------------------------------
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'resilience'\n"
	  . "resilience.max_rate_limit_keys = 100\nresilience.max_breakers = 10\n");
$node->restart;
is($node->safe_psql('postgres', 'SHOW resilience.max_rate_limit_keys'), '100', 'preloaded: the setting is read');

my $dir = PostgreSQL::Test::Utils::tempdir;
sub pgbench_script
{
	my ($name, $sql) = @_;
	open(my $fh, '>', "$dir/$name.sql") or die;
	print $fh "$sql\n";
	close $fh;
	return "$dir/$name.sql";
}

# 800 calls from 8 clients on a key allowing 300 per burst and 1 a day
$node->safe_psql('postgres', 'CREATE TABLE hits (c int)');
my ($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '8', '-j', '8', '-t', '100',
	  '-f', pgbench_script('race', q{INSERT INTO hits SELECT :client_id FROM resilience.rate_limit('race', 1, '1 day', 300) WHERE allowed;}),
	  $node->connstr('postgres') ]);
like($stdout, qr/number of transactions actually processed: 800\/800/, 'race: 800 calls made');
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT c) > 1 FROM hits'),
	'300|t', 'race: exactly the burst of 300 allowed, to several clients');
is( $node->safe_psql('postgres',
		q{SELECT allowed, denied FROM resilience.rate_limits WHERE key = 'race'}),
	'300|500', 'race: the view counts 300 allowed and 500 denied');

# a half-open breaker with probes = 3 raced by 8 clients: 3 calls in all
$node->safe_psql('postgres', q{
	CREATE TABLE probe_hits (c int);
	SELECT resilience.breaker_allow('probe', probes => 3, open_for => '1 day');
	SELECT resilience.breaker_force('probe', 'half_open');
});
($stdout, $stderr) = run_command(
	[ 'pgbench', '-n', '-M', 'prepared', '-c', '8', '-j', '8', '-t', '50',
	  '-f', pgbench_script('probe', q{INSERT INTO probe_hits SELECT :client_id WHERE resilience.breaker_allow('probe', probes => 3, open_for => '1 day');}),
	  $node->connstr('postgres') ]);
like($stdout, qr/number of transactions actually processed: 400\/400/, 'probes: 400 calls made');
is($node->safe_psql('postgres', 'SELECT count(*) FROM probe_hits'),
	'3', 'probes: exactly 3 admitted across 8 clients');

# eviction: a key with a day to refill survives 150 busy keys in 100 slots
is( $node->safe_psql('postgres', q{
	SELECT resilience.rate_limit_reset('race');
	SELECT allowed FROM resilience.rate_limit('busy', 1, '1 day', 1);
	SELECT allowed FROM resilience.rate_limit('busy', 1, '1 day', 1);
	}), "t\nt\nf", 'eviction: busy key used up');
is( $node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 150) g,
	    LATERAL resilience.rate_limit('k' || g, 10) r WHERE r.allowed;
	SELECT count(*) <= 100 FROM resilience.rate_limits;
	SELECT allowed FROM resilience.rate_limit('busy', 1, '1 day', 1);
	}), "150\nt\nf", 'eviction: the table stays within 100 keys and the busy key is still denied');

# breakers: closed ones go first, then open ones; when all are forced open, 53400
is( $node->safe_psql('postgres', q{
	SELECT resilience.breaker_force('down', 'open');
	SELECT count(*) FROM generate_series(1, 30) g WHERE resilience.breaker_allow('b' || g);
	SELECT resilience.breaker_state('down'), (SELECT count(*) <= 10 FROM resilience.breakers);
	}), "\n30\nopen|t", 'eviction: 30 closed breakers in 10 slots, the open one kept');
# closed breakers with a failure in their window still go before the open one
is( $node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 30) g
	WHERE resilience.breaker_allow('c' || g, min_calls => 1000)
	  AND resilience.breaker_record('c' || g, false) IS NOT NULL;
	SELECT resilience.breaker_state('down');
	SELECT count(*) FROM generate_series(1, 30) g, LATERAL resilience.breaker_reset('c' || g);
	}), "30\nopen\n30", 'eviction: 30 closed breakers with a failure each in 10 slots, the open one kept');
# any role may open breakers (open_for is the caller's): 20 opened by
# failures in 10 slots push out the open ones used least recently, 'down'
# among them, rather than refusing every new breaker
is( $node->safe_psql('postgres', q{
	SELECT count(*) FROM generate_series(1, 20) g
	WHERE resilience.breaker_allow('o' || g, min_calls => 1, open_for => '100 years')
	  AND resilience.breaker_record('o' || g, false) IS NOT NULL;
	SELECT count(*) <= 10, count(*) FILTER (WHERE state <> 'open') FROM resilience.breakers;
	SELECT resilience.breaker_state('down'), resilience.breaker_state('o20');
	}), "20\nt|0\nclosed|open", 'eviction: when only open breakers are left, the least recently used go');
my ($ret, $out, $err) = $node->psql('postgres', q{
	\set VERBOSITY verbose
	SELECT resilience.breaker_force('open' || g, 'forced_open') FROM generate_series(1, 11) g;
});
like($err, qr/ERROR:  53400: resilience.max_breakers is full/, 'eviction: only forced-open breakers left: 53400');

# ---- databases: one filling the tables pushes out its own entries --------
# The tables are the server's.  A database that fills them with keys far
# from rest (a long per) and with open breakers evicts its own, not the
# exhausted key and the open breaker of another database.
$node->safe_psql('postgres', q{
	SELECT count(*) FROM resilience.breakers, LATERAL resilience.breaker_reset(name);
	SELECT count(*) FROM resilience.rate_limits, LATERAL resilience.rate_limit_reset(key);
	CREATE DATABASE other});
$node->safe_psql('other', 'CREATE EXTENSION resilience');
is( $node->safe_psql('postgres', q{
	SELECT allowed FROM resilience.rate_limit('victim', 1, '1 day', 1);
	SELECT allowed FROM resilience.rate_limit('victim', 1, '1 day', 1);
	SELECT resilience.breaker_allow('victim', min_calls => 1, open_for => '1 day') AND resilience.breaker_record('victim', false) IS NOT NULL;
	SELECT resilience.breaker_state('victim')}),
	"t\nf\nt\nopen", 'databases: a key used up and a breaker open in postgres');
is( $node->safe_psql('other', q{
	SELECT count(*) FROM generate_series(1, 150) g, LATERAL resilience.rate_limit('m' || g, 1, '3650 days', 1) r WHERE r.allowed;
	SELECT count(*) FROM generate_series(1, 20) g
	WHERE resilience.breaker_allow('m' || g, min_calls => 1, open_for => '100 years')
	  AND resilience.breaker_record('m' || g, false) IS NOT NULL}),
	"150\n20", 'databases: another database fills both tables');
is( $node->safe_psql('postgres', q{
	SELECT allowed FROM resilience.rate_limit('victim', 1, '1 day', 1);
	SELECT resilience.breaker_state('victim')}),
	"f\nopen", "databases: the other database's flood evicted its own entries");
# an operator's disabled breaker is never evicted: a flood from any role of
# any database made it closed again (it was evicted with the closed ones)
$node->safe_psql('postgres', q{SELECT resilience.breaker_reset('victim'), resilience.breaker_force('kept', 'disabled')});
is( $node->safe_psql('other', q{
	SELECT count(*) FROM generate_series(1, 20) g WHERE resilience.breaker_allow('d' || g)}),
	'20', 'databases: another database makes 20 closed breakers in 10 slots');
is($node->safe_psql('postgres', q{SELECT resilience.breaker_state('kept')}),
	'disabled', "databases: the operator's disabled breaker was not evicted");
# a closed breaker counting failures towards opening is not another
# database's to forget: its failures survive a flood of new breakers
is( $node->safe_psql('postgres', q{
	SELECT resilience.breaker_allow('failing', min_calls => 5, "window" => '1 day');
	SELECT count(*) FROM generate_series(1, 4) g, LATERAL resilience.breaker_record('failing' || left(g::text, 0), false)}),
	"t
4", 'databases: a closed breaker with 4 failures of the 5 that open it');
is( $node->safe_psql('other', q{
	SELECT count(*) FROM generate_series(1, 20) g WHERE resilience.breaker_allow('f' || g)}),
	'20', 'databases: another database makes 20 more closed breakers in 10 slots');
is( $node->safe_psql('postgres', q{
	SELECT calls, failures FROM resilience.breakers WHERE name = 'failing';
	SELECT resilience.breaker_record('failing', false) IS NOT NULL, resilience.breaker_state('failing')}),
	"4|4
t|open", "databases: the other database's flood kept its failures, and the fifth opens it");
# a session's clock set ahead (resilience.clock_override, for tests) judges
# which keys are at rest by the real clock when it evicts: by its own, every
# key of every database was at rest and dropped
my $others = $node->safe_psql('other', q{SELECT count(*) FROM resilience.rate_limits});
is( $node->safe_psql('postgres', q{
	SET resilience.clock_override = '2099-01-01 00:00:00+00';
	SELECT count(*) FROM generate_series(1, 11) g, LATERAL resilience.rate_limit('late' || g, 10) r WHERE r.allowed}),
	'11', 'clock override: 11 new keys in a full table');
my $left = $node->safe_psql('other', q{SELECT count(*) FROM resilience.rate_limits});
ok($others >= 80 && $left >= $others - 20,
	"clock override: the other database keeps its keys far from rest ($others before, $left after)");
$node->safe_psql('postgres', q{
	SELECT resilience.rate_limit_reset('victim'), resilience.breaker_reset('kept'), resilience.breaker_reset('failing');
	SELECT count(*) FROM generate_series(1, 11) g, LATERAL resilience.rate_limit_reset('late' || g);
	DROP DATABASE other});
# forced-open breakers of a dropped database are forgotten once the table
# is full of them: nothing could reach them any more, and every new breaker
# of every database got 53400 until a restart
$node->safe_psql('postgres', 'CREATE DATABASE gone');
$node->safe_psql('gone', q{
	CREATE EXTENSION resilience;
	SELECT count(*) FROM generate_series(1, 10) g, LATERAL resilience.breaker_force('f' || g, 'forced_open')});
$node->safe_psql('postgres', 'DROP DATABASE gone');
is( $node->safe_psql('postgres', q{
	SELECT resilience.breaker_allow('after-drop'), (SELECT count(*) FROM resilience.breakers)}),
	't|1', "databases: a dropped database's forced-open breakers make room");
$node->safe_psql('postgres', q{SELECT resilience.breaker_reset('after-drop')});

# ---- restart: limits restart empty, breakers close -----------------------
$node->safe_psql('postgres', q{
	SELECT resilience.breaker_reset('open' || g) FROM generate_series(1, 11) g;
	SELECT resilience.breaker_force('down', 'open')});
is($node->safe_psql('postgres', q{SELECT resilience.breaker_state('down')}), 'open', 'before restart: breaker open');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM resilience.rate_limits'),
	'0', 'after restart: no rate limit keys');
is($node->safe_psql('postgres', q{SELECT allowed FROM resilience.rate_limit('busy', 1, '1 day', 1)}),
	't', 'after restart: the used-up key allows a full burst again');
is($node->safe_psql('postgres', q{SELECT resilience.breaker_state('down'), (SELECT count(*) FROM resilience.breakers)}),
	'closed|0', 'after restart: breakers are closed and forgotten');

# ---- standby and failover: each server decides with its own state --------
$node->safe_psql('postgres', q{
	SELECT allowed FROM resilience.rate_limit('per-server', 1, '1 day', 1);
	SELECT resilience.breaker_force('down', 'forced_open');
});
$node->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('limits_standby');
$standby->init_from_backup($node, 'base', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT allowed FROM resilience.rate_limit('per-server', 1, '1 day', 1)}),
	't', 'standby: rate_limit works, with a state of its own (the primary used this key up)');
is($standby->safe_psql('postgres', q{SELECT allowed FROM resilience.rate_limit('per-server', 1, '1 day', 1)}),
	'f', 'standby: and limits its own calls exactly');
is($node->safe_psql('postgres', q{SELECT allowed FROM resilience.rate_limit('per-server', 1, '1 day', 1)}),
	'f', 'primary: the standby\'s calls did not refill it');
is( $standby->safe_psql('postgres', q{
		SELECT resilience.breaker_allow('down'), resilience.breaker_record('down', false),
		       (SELECT state FROM resilience.breakers WHERE name = 'down'),
		       (SELECT count(*) FROM resilience.rate_limits)}),
	't||closed|1', 'standby: breakers and both views work, closed there while open on the primary');
is($node->safe_psql('postgres', q{SELECT resilience.breaker_state('down')}), 'forced_open',
	'primary: its breaker is still open');

# failover: the promoted standby keeps the state it had made itself
$node->stop;
$standby->promote;
is( $standby->safe_psql('postgres', q{
		SELECT (SELECT allowed FROM resilience.rate_limit('per-server', 1, '1 day', 1)),
		       resilience.breaker_state('down')}),
	'f|closed', 'after failover: the new primary has the state it made as a standby, not the old primary\'s');
$standby->stop;
done_testing();
