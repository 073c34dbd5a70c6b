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
my $job2 = $node->safe_psql('app',
	"SELECT resilience.lease_acquire('job2', 'worker-1', '1 min')", connstr => $worker);
is($job2 >> 40, '1', 'and grant leases on to an application role');
is($node->safe_psql('app',
		"BEGIN; SELECT resilience.lease_fence('job2', $job2); COMMIT;", connstr => $worker),
	'', 'which can fence its writes');
is($node->safe_psql('app', "SELECT resilience.try_lock('guard')", connstr => $worker),
	't', 'guards need no grant');
is($node->safe_psql('app', "SELECT count(*) FROM resilience.locks", connstr => $worker),
	'0', 'and resilience.locks is readable by every role');

# The owner can dump the database and restore it (as the owner, into a
# database of its own): the leases and the token sequence come back, so a
# grant after the restore is larger than every token granted before.
my $dump = PostgreSQL::Test::Utils::tempdir() . '/app.sql';
$node->command_ok([ 'pg_dump', '--no-owner', '-d', $owner, '-f', $dump ],
	'the owner can pg_dump the database');
$node->safe_psql('postgres', 'CREATE DATABASE app2 OWNER app_owner');
my $owner2 = $node->connstr('app2') . ' user=app_owner';
$node->command_ok([ 'psql', '-X', '-q', '-1', '-v', 'ON_ERROR_STOP=1', '-d', $owner2, '-f', $dump ],
	'and restore it');
is($node->safe_psql('app2', "SELECT count(*) FROM resilience.leases", connstr => $owner2),
	'2', 'the leases are restored');
is($node->safe_psql('app2',
		"SELECT resilience.lease_acquire('job3', 'owner-1', '1 min') > $job2", connstr => $owner2),
	't', 'a new lease after the restore gets a larger token than any before it');

$node->stop;
done_testing();
