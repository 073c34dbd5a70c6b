# The driver programs (drivers/python, drivers/node, drivers/go,
# drivers/java): each uses every capability the way an application would and
# asserts as it goes.  Each runs straight to the server with the driver's
# defaults, and through PgBouncer in transaction mode with its pooler-safe
# setting (RESILIENCE_POOLER=transaction); and once more through PgBouncer
# with the defaults, which must fail.  drivers/schema.sql resets the tables
# before each run.  A driver whose dependency is missing is skipped with the
# package to install (tools/deps.sh installs them all).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgBouncer;

my $drivers = "$FindBin::RealBin/../drivers";
plan skip_all => "no drivers/ directory beside t/ ($drivers)" unless -d $drivers;

my $node = PostgreSQL::Test::Cluster->new('drivers');
$node->init;
$node->append_conf('postgresql.conf',
	"max_connections = 40\nlc_messages = 'C'\nshared_preload_libraries = 'resilience'\n");
# also on 127.0.0.1, on the same port, for pgjdbc, which has no Unix sockets
# (drivers/java takes a socket directory in PGHOST for 127.0.0.1): the node
# keeps its socket, which the other programs and PgBouncer use
$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION resilience');

my ($bouncer, $via, $bouncer2, $via2);
if (defined PgBouncer::binary())
{
	# pgjdbc sends extra_float_digits in its startup packet, which PgBouncer
	# refuses unless told to ignore it
	my @ignore = (ignore_startup_parameters => 'extra_float_digits');
	($bouncer, $via) = PgBouncer::start($node, 'transaction', default_pool_size => 8, @ignore);
	# fewer server connections than the programs' 4 clients: every client's
	# transactions move between server connections
	($bouncer2, $via2) = PgBouncer::start($node, 'transaction', default_pool_size => 2, @ignore);
}

# run(label, [command], pooled): reset the tables, run the program, check it
# printed its "...: ok" summary and exited 0
sub run_program
{
	my ($label, $cmd, $pooled) = @_;
	$node->safe_psql('postgres', PostgreSQL::Test::Utils::slurp_file("$drivers/schema.sql"),
		extra_params => [ '-q', '-v', 'ON_ERROR_STOP=1' ]);
	my $target = $pooled ? $via : $node;
	local $ENV{PGHOST} = $target->host;
	local $ENV{PGPORT} = $target->port;
	local $ENV{PGUSER} = 'postgres';
	local $ENV{PGDATABASE} = 'postgres';
	local $ENV{RESILIENCE_POOLER} = $pooled ? 'transaction' : 'none';
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run($cmd, '<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout(120));
	};
	my $where = $pooled ? 'through pgbouncer (transaction mode)' : 'direct';
	chomp $out;
	ok($ok && $out =~ /: ok$/m, "$label $where") or diag("exit $?; stdout:\n$out\nstderr:\n$err\n$@");
	diag($out) if $ok;
}

# the driver's defaults through the pooler: named prepared statements land on
# another server connection, so the program must fail (the setting matters).
# Whether one run meets another connection depends on how the pooler happens
# to hand them out, so up to three runs are made: one failure proves it.
sub run_unsafe
{
	my ($label, $cmd) = @_;
	my ($ok, $msg, $out, $err);
	for my $try (1 .. 3)
	{
		$node->safe_psql('postgres', PostgreSQL::Test::Utils::slurp_file("$drivers/schema.sql"),
			extra_params => [ '-q', '-v', 'ON_ERROR_STOP=1' ]);
		local $ENV{PGHOST} = $via2->host;
		local $ENV{PGPORT} = $via2->port;
		local $ENV{PGUSER} = 'postgres';
		local $ENV{PGDATABASE} = 'postgres';
		local $ENV{RESILIENCE_POOLER} = 'none';
		($out, $err) = ('', '');
		$ok = eval {
			IPC::Run::run($cmd, '<', \undef, '>', \$out, '2>', \$err,
				IPC::Run::timeout(120));
		};
		($msg) = "$out\n$err" =~ /(prepared statement "[^"]*" (?:already exists|does not exist)|bind message supplies [^\n]*)/;
		last if !$ok && defined $msg;
	}
	ok(!$ok && defined $msg,
		"$label with its prepared-statement default fails through pgbouncer (transaction mode)")
	  or diag("exit $?; stdout:\n$out\nstderr:\n$err");
	diag("$label defaults through pgbouncer: $msg") if defined $msg;
}

sub run_both
{
	my ($label, $cmd) = @_;
	run_program($label, $cmd, 0);
  SKIP:
	{
		skip "pgbouncer is not installed", 2 unless defined $bouncer;
		run_program($label, $cmd, 1);
		run_unsafe($label, $cmd);
	}
}

# --- Python, psycopg 3 (python3-psycopg).  Debian's python3, whatever
# python3 comes first on PATH.
SKIP:
{
	my $py = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
	skip "Python driver: psycopg 3 is not installed (apt-get install python3-psycopg)", 3
	  unless system($py, '-c', 'import psycopg') == 0;
	run_both('python psycopg', [ $py, "$drivers/python/app.py" ]);
}

# --- Node, pg (npm install in drivers/node)
SKIP:
{
	skip "Node driver: node is not installed (apt-get install nodejs)", 3
	  unless system('sh', '-c', 'command -v node >/dev/null') == 0;
	skip "Node driver: pg is not installed (cd drivers/node && npm ci)", 3
	  unless -f "$drivers/node/node_modules/pg/package.json";
	run_both('node pg', [ 'node', "$drivers/node/app.js" ]);
}

# --- Go, pgx v4 (golang-go, golang-github-jackc-pgx-v4-dev), GOPATH mode:
# built offline from Debian's source packages
SKIP:
{
	my $gopath = '/usr/share/gocode';
	skip "Go driver: go is not installed (apt-get install golang-go)", 4
	  unless system('sh', '-c', 'command -v go >/dev/null') == 0;
	skip "Go driver: pgx v4 is not installed (apt-get install golang-github-jackc-pgx-v4-dev)", 4
	  unless -d "$gopath/src/github.com/jackc/pgx/v4";
	my $bin = PostgreSQL::Test::Utils::tempdir() . '/app';
	# the build cache survives between runs: a cold build takes a while
	my $cache = $ENV{GOCACHE} // "/tmp/resilience-gocache-$<";
	my ($out, $err) = ('', '');
	my $built = IPC::Run::run(
		[ 'env', "GOPATH=$gopath", 'GO111MODULE=off', "GOCACHE=$cache", 'GOFLAGS=',
			"HOME=" . PostgreSQL::Test::Utils::tempdir(),
			'go', 'build', '-o', $bin, "$drivers/go/app.go" ],
		'<', \undef, '>', \$out, '2>', \$err);
	ok($built, 'go build drivers/go/app.go') or diag($err);
	skip "Go driver: the build failed", 3 unless $built;
	run_both('go pgx v4', [$bin]);
}

# --- Java, pgjdbc (libpostgresql-jdbc-java), compiled with javac
# (default-jdk-headless) against Debian's jar
SKIP:
{
	my $jar = '/usr/share/java/postgresql.jar';
	skip "Java driver: javac is not installed (apt-get install default-jdk-headless)", 4
	  unless system('sh', '-c', 'command -v javac >/dev/null && command -v java >/dev/null') == 0;
	skip "Java driver: pgjdbc is not installed (apt-get install libpostgresql-jdbc-java)", 4
	  unless -f $jar;
	my $classes = PostgreSQL::Test::Utils::tempdir();
	my ($out, $err) = ('', '');
	my $built = IPC::Run::run([ 'javac', '-cp', $jar, '-d', $classes, "$drivers/java/App.java" ],
		'<', \undef, '>', \$out, '2>', \$err);
	ok($built, 'javac drivers/java/App.java') or diag($err);
	skip "Java driver: the build failed", 3 unless $built;
	run_both('java pgjdbc', [ 'java', '-cp', "$classes:$jar", 'App' ]);
}

# the documented driver code is the code above (docs/*.md excerpt marks)
SKIP:
{
	my $top = "$FindBin::RealBin/..";
	skip "no docs/ beside t/", 1 unless -d "$top/docs" && -f "$top/tools/doc-excerpts.py";
	my ($out, $err) = ('', '');
	my $same = IPC::Run::run([ '/usr/bin/python3', "$top/tools/doc-excerpts.py", $top, glob("$top/docs/*.md") ],
		'<', \undef, '>', \$out, '2>', \$err);
	ok($same, 'docs quote the driver programs as they are') or diag("$out$err");
}

$_->kill_kill for grep { defined } ($bouncer, $bouncer2);
$node->stop;
done_testing();
