# Leases on a streaming replica and across failover: writers fail with
# 25006 on the standby, and after a promotion that lost the last grants to
# asynchronous replication the new primary's tokens are still larger than
# every token ever issued, so the lost grant's holder is fenced out.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION resilience');
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

my $floor1 = 1 << 40;
my $t1 = $primary->safe_psql('postgres',
	"SELECT resilience.lease_acquire('cron', 'node-1', '1s')");
is($t1, $floor1 + 1, 'first token on timeline 1 is (1 << 40) + 1');
$primary->wait_for_catchup($standby);

# on the standby, reads work and every writer fails with 25006
is($standby->safe_psql('postgres', "SELECT holder, token FROM resilience.leases"),
	"node-1|$t1", 'the lease is replicated');
foreach my $call (
	"resilience.lease_acquire('cron', 'node-2', '1 min')",
	"resilience.lease_renew('cron', 'node-1', $t1, '1 min')",
	"resilience.lease_release('cron', 'node-1', $t1)",
	"resilience.lease_fence('cron', $t1)",
	"resilience.lease_token_floor()")
{
	my ($ret, $out, $err) = $standby->psql('postgres',
		"\\set VERBOSITY sqlstate\nSELECT $call");
	like($err, qr/ERROR:  25006/, "$call fails with 25006 on a standby");
}
my ($ret, $out, $err) = $standby->psql('postgres',
	"SELECT resilience.lease_acquire('cron', 'node-2', '1 min')");
like($err, qr/cannot acquire lease "cron" on a hot standby/, 'with a clear message');

# guards are not WAL-logged: they work on a standby, for that standby only
is($standby->safe_psql('postgres', "SELECT resilience.try_lock('on-standby')"),
	't', 'guards work on a hot standby');

# cut replication, then grant on the old primary: that grant is lost
$standby->safe_psql('postgres', "ALTER SYSTEM SET primary_conninfo = ''");
$standby->reload;
ok( $standby->poll_query_until(
		'postgres', 'SELECT count(*) FROM pg_stat_wal_receiver', '0'),
	'standby disconnected');
sleep(2);    # node-1's 1 s lease expires
my $lost = $primary->safe_psql('postgres',
	"SELECT resilience.lease_acquire('cron', 'node-2', '1 min')");
is($lost, $t1 + 1, 'node-2 got the next token on the old primary');

# failover: the standby never saw node-2's grant
$standby->promote;
is($standby->safe_psql('postgres', "SELECT holder, token, expired FROM resilience.leases"),
	"node-1|$t1|t", 'the new primary lost the last grant');
my $t3 = $standby->safe_psql('postgres',
	"SELECT resilience.lease_acquire('cron', 'node-3', '1 min')");
is($t3 >> 40, 2, 'the first grant on timeline 2 is on timeline 2 (token >> 40)');
cmp_ok($t3, '>', $lost, 'larger than the lost grant\'s token');

# node-2 (the lost grant's holder) writes to the new primary: fenced out
($ret, $out, $err) = $standby->psql('postgres',
	"\\set VERBOSITY sqlstate\nBEGIN; SELECT resilience.lease_fence('cron', $lost); COMMIT;");
like($err, qr/ERROR:  RL001/, 'the lost grant\'s token is fenced out (RL001)');
is($standby->safe_psql('postgres',
		"BEGIN; SELECT resilience.lease_fence('cron', $t3); COMMIT;"),
	'', 'the new holder passes the fence');

# the lease row and its token survive a restart; tokens keep growing
$standby->restart;
is($standby->safe_psql('postgres', "SELECT holder, token FROM resilience.leases"),
	"node-3|$t3", 'the lease survives a restart');
$standby->safe_psql('postgres', "SELECT resilience.lease_release('cron', 'node-3', $t3)");
is($standby->safe_psql('postgres',
		"SELECT resilience.lease_acquire('cron', 'node-4', '1 min')"),
	$t3 + 1, 'release keeps the token: the next grant is the next one');

$primary->stop;
$standby->stop;
done_testing();
