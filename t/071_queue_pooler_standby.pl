# Job queues behind PgBouncer in transaction pooling, and on a hot standby.
#  - Through the pooler: enqueue, claim, complete, fail and extend work from
#    different clients sharing one server connection (nothing is kept in the
#    session: a token is all a worker needs); a claim waiting through the
#    pooler wakes on an enqueue committed elsewhere.
#  - On a streaming standby the views are readable and every writer raises
#    25006, claim with a wait at once rather than after its wait.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use PgBouncer;

my $primary = PostgreSQL::Test::Cluster->new('queue_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'resilience'");
$primary->start;
$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION resilience;
SELECT resilience.create_queue('pooled');
CREATE TABLE effects (job bigint NOT NULL);
});

# ---- PgBouncer, transaction pooling ------------------------------------------
SKIP:
{
	skip 'pgbouncer is not installed', 9 unless defined PgBouncer::binary();
	my ($h, $via) = PgBouncer::start($primary, 'transaction');

	my $id = $via->safe_psql('postgres', "SELECT resilience.enqueue('pooled', '{\"n\": 1}')");
	like($id, qr/^\d+$/, 'pooler: enqueue');
	# one client claims, another completes: the token is the whole claim
	my $claimed = $via->safe_psql('postgres',
		"SELECT id || '|' || token || '|' || (payload->>'n') FROM resilience.claim('pooled', 1, '30s')");
	my ($cid, $token, $n) = split /\|/, $claimed;
	is("$cid|$n", "$id|1", 'pooler: claim');
	like($via->safe_psql('postgres', "SELECT resilience.extend($id, $token, '1 min') > now()"),
		qr/^t$/, 'pooler: extend');
	$via->safe_psql('postgres',
		"BEGIN; INSERT INTO effects VALUES ($id); SELECT resilience.complete($id, $token); COMMIT;");
	is($primary->safe_psql('postgres', "SELECT (SELECT count(*) FROM effects), (SELECT count(*) FROM resilience.jobs)"),
		'1|0', 'pooler: complete, with the job\'s effects in its transaction');

	# fail: retry, then dead after max_attempts
	$id = $via->safe_psql('postgres',
		"SELECT resilience.enqueue('pooled', '{}', max_attempts => 2)");
	$token = $via->safe_psql('postgres', "SELECT token FROM resilience.claim('pooled')");
	is($via->safe_psql('postgres', "SELECT resilience.fail($id, $token, 'boom', '0')"),
		'retry', 'pooler: fail with attempts left retries');
	$token = $via->safe_psql('postgres', "SELECT token FROM resilience.claim('pooled')");
	is($via->safe_psql('postgres', "SELECT resilience.fail($id, $token, 'boom again')"),
		'dead', 'pooler: fail on the last attempt: dead');
	is($primary->safe_psql('postgres', "SELECT state, last_error FROM resilience.jobs WHERE id = $id"),
		'dead|boom again', 'pooler: the last error is kept');

	# a claim waiting through the pooler (it holds its server connection
	# while it waits: the enqueue comes from a direct connection)
	my $waiter = $via->background_psql('postgres');
	$waiter->query_until(qr/waiting/, q{
\echo waiting
SELECT id AS woke FROM resilience.claim('pooled', 1, '30s', '20s');
});
	select(undef, undef, undef, 0.3);
	my $t0 = time();
	$id = $primary->safe_psql('postgres', "SELECT resilience.enqueue('pooled')");
	my $woke = $waiter->query_safe('SELECT 1');    # returns after the claim did
	my $elapsed = time() - $t0;
	$waiter->quit;
	ok( $primary->safe_psql('postgres', "SELECT state FROM resilience.jobs WHERE id = $id") eq 'running',
		'pooler: a waiting claim got the job enqueued meanwhile');
	cmp_ok($elapsed, '<', 10, 'pooler: it woke on the enqueue, well before its 20 s wait');
	$primary->safe_psql('postgres', "SELECT resilience.cancel($id)");
	$h->kill_kill;
}

# ---- hot standby -----------------------------------------------------------------
$primary->safe_psql('postgres', "SELECT resilience.enqueue('pooled', '{\"on\": \"primary\"}')");
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('queue_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
my $later = $primary->safe_psql('postgres', "SELECT resilience.enqueue('pooled', '{\"on\": \"later\"}')");
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', "SELECT ready FROM resilience.queues WHERE queue = 'pooled'"),
	'2', 'standby: resilience.queues is readable');
is($standby->safe_psql('postgres', "SELECT state, payload->>'on' FROM resilience.jobs WHERE id = $later"),
	'ready|later', 'standby: resilience.jobs is readable and replicated');

my $jid = $later;
foreach my $call (
	"resilience.enqueue('pooled')",
	"resilience.enqueue_many('pooled', ARRAY['{}'::jsonb])",
	"resilience.claim('pooled')",
	"resilience.complete($jid, 1)",
	"resilience.fail($jid, 1, 'x')",
	"resilience.extend($jid, 1, '1 min')",
	"resilience.cancel($jid)",
	"resilience.redrive('pooled')",
	"resilience.create_queue('other')")
{
	my ($ret, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY sqlstate\nSELECT $call");
	like($err, qr/ERROR:  25006/, "standby: $call raises 25006");
}
my $t0 = time();
my ($ret, $out, $err) = $standby->psql('postgres',
	"\\set VERBOSITY sqlstate\nSELECT * FROM resilience.claim('pooled', 1, '30s', '30s')");
my $elapsed = time() - $t0;
like($err, qr/ERROR:  25006/, 'standby: claim with a wait raises 25006');
cmp_ok($elapsed, '<', 10, 'standby: at once, not after its 30 s wait');
($ret, $out, $err) = $standby->psql('postgres', "SELECT resilience.claim('pooled')");
like($err, qr/cannot .* on a hot standby/, 'standby: with a clear message');

$standby->stop;
$primary->stop;
done_testing();
