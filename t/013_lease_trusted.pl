# A database owner who is not a superuser installs the (trusted) extension,
# uses leases and grants them on to an application role.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('trusted');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
CREATE ROLE app_owner LOGIN;
CREATE ROLE app_worker LOGIN;
CREATE DATABASE app OWNER app_owner;
});

my $owner = $node->connstr('app') . ' user=app_owner';
my $worker = $node->connstr('app') . ' user=app_worker';
$node->safe_psql('app', 'CREATE EXTENSION resilience', connstr => $owner);
is($node->safe_psql('app',
		"SELECT resilience.lease_acquire('job', 'owner-1', '1 min') >> 40", connstr => $owner),
	'1', 'the installing database owner can take a lease');
$node->safe_psql('app', q{
GRANT SELECT, INSERT, UPDATE ON resilience.lease_state TO app_worker;
GRANT SELECT ON resilience.leases TO app_worker;
}, connstr => $owner);
is($node->safe_psql('app',
		"SELECT resilience.lease_acquire('job2', 'worker-1', '1 min') >> 40", connstr => $worker),
	'1', 'and grant leases on to an application role');
is($node->safe_psql('app',
		"BEGIN; SELECT resilience.lease_fence('job2', 1::bigint << 40); COMMIT;", connstr => $worker),
	'', 'which can fence its writes');
is($node->safe_psql('app', "SELECT resilience.try_lock('guard')", connstr => $worker),
	't', 'guards need no grant');
is($node->safe_psql('app', "SELECT count(*) FROM resilience.locks", connstr => $worker),
	'0', 'and resilience.locks is readable by every role');

$node->stop;
done_testing();
