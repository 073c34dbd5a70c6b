# Guards behind PgBouncer.  Transaction pooling: transaction-scope guards
# work as usual, but a session guard stays on the server connection after
# the client that took it is gone (the stranded lock poolers are known for).
# Session pooling with DISCARD ALL: session guards go when the client does.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgBouncer;

plan skip_all => 'pgbouncer is not installed' unless defined PgBouncer::binary();

my $node = PostgreSQL::Test::Cluster->new('pooled');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION resilience');

# --- transaction pooling, one server connection for every client
my ($h, $via) = PgBouncer::start($node, 'transaction');

my $a = $via->background_psql('postgres');
$a->query_safe('BEGIN');
$a->query_safe("SELECT resilience.lock('job')");
is($node->safe_psql('postgres', "SELECT resilience.try_lock('job')"),
	'f', 'a transaction guard taken through the pooler is held');
$a->query_safe('COMMIT');
is($node->safe_psql('postgres', "SELECT resilience.try_lock('job')"),
	't', 'and released at commit, as without a pooler');

# a session guard outlives its client: the server connection keeps it
$a->query_safe("SELECT resilience.session_lock('leader')");
$a->quit;
is($node->safe_psql('postgres', "SELECT resilience.try_session_lock('leader')"),
	'f', 'transaction pooling: the session guard is stranded after the client left');
is( $node->safe_psql(
		'postgres',
		"SELECT backend_state FROM resilience.lock_holders('leader') WHERE granted"),
	'idle',
	'held by the pooler\'s idle server connection');
# the next client on that server connection is the one that "holds" it
is($via->safe_psql('postgres', "SELECT resilience.session_unlock('leader')"),
	't', 'a different client can release it: the pooler shares the session');
$h->kill_kill;

# --- session pooling: DISCARD ALL releases session guards with the client
($h, $via) = PgBouncer::start($node, 'session');
$a = $via->background_psql('postgres');
$a->query_safe("SELECT resilience.session_lock('leader')");
is($node->safe_psql('postgres', "SELECT resilience.try_session_lock('leader')"),
	'f', 'session pooling: held while the client is connected');
$a->quit;
ok( $node->poll_query_until(
		'postgres', "SELECT resilience.try_lock('leader')", 't'),
	'session pooling: DISCARD ALL released it when the client left');
is($via->safe_psql('postgres',
		"SELECT resilience.session_unlock('leader'), resilience.try_session_lock('leader'), resilience.session_unlock('leader')"),
	'f|t|t', 'the server connection\'s guard bookkeeping copes with DISCARD ALL');
$h->kill_kill;

$node->stop;
done_testing();
