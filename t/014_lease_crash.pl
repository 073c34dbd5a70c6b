# A crash never makes a lease token be handed out twice: not the token of a
# grant that rolled back, nor that of a grant whose asynchronous commit the
# crash lost, nor that of a grant whose value another backend's unflushed
# record covered.  The WAL writer is kept asleep (synchronous_commit = off,
# wal_writer_delay = 10s), so only the flush lease_next_token() does itself
# makes the sequence's advance survive the immediate stop.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf',
	"synchronous_commit = off\nwal_writer_delay = '10s'\nautovacuum = off\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION resilience; CHECKPOINT;');

# a rolled-back grant, then an asynchronously committed one, then a crash
my $undone = $node->safe_psql('postgres', q{
	BEGIN;
	SELECT resilience.lease_acquire('undone', 'n1', '1 hour');
	ROLLBACK;});
my $async = $node->safe_psql('postgres',
	"SELECT resilience.lease_acquire('async', 'n1', '1 hour')");
cmp_ok($async, '>', $undone, 'the grant after a rollback gets a larger token');
$node->stop('immediate');
$node->start;

my $after = $node->safe_psql('postgres',
	"SELECT resilience.lease_acquire('undone', 'n2', '1 hour')");
cmp_ok($after, '>', $async,
	'after the crash, a new grant is larger than every token handed out before it');
my $kept = $node->safe_psql('postgres',
	"SELECT count(*) FROM resilience.leases WHERE name = 'async'");
my $again = $node->safe_psql('postgres',
	"SELECT coalesce(resilience.lease_acquire('async', 'n2', '1 hour'), 0)");
ok(($kept eq '1' && $again eq '0') || ($kept eq '0' && $again > $after),
	"the asynchronous grant either survived (and is still held) or its token stays used ($kept, $again)");

# The value a grant draws may be covered by a record of the sequence's
# advance that another backend wrote and did not flush: here a direct
# nextval() after a checkpoint (so that it logs), rolled back.  The grant's
# own nextval() then writes no WAL; it must flush that record all the same.
$node->safe_psql('postgres', 'CHECKPOINT');
$node->safe_psql('postgres', q{
	BEGIN;
	SELECT nextval('resilience.lease_token_seq');
	ROLLBACK;});
my $covered = $node->safe_psql('postgres', q{
	BEGIN;
	SELECT resilience.lease_acquire('covered', 'n1', '1 hour');
	ROLLBACK;});
$node->stop('immediate');
$node->start;
cmp_ok($node->safe_psql('postgres', "SELECT resilience.lease_acquire('covered', 'n2', '1 hour')"),
	'>', $covered, 'a token drawn from values another backend logged is not handed out again');

# a grant by the holder of a live lease draws no token: the sequence stays
my $seq = $node->safe_psql('postgres', 'SELECT last_value FROM resilience.lease_token_seq');
$node->safe_psql('postgres', "SELECT resilience.lease_acquire('undone', 'n2', '1 hour')");
is($node->safe_psql('postgres', 'SELECT last_value FROM resilience.lease_token_seq'),
	$seq, 'extending a live lease draws no token');

# a lease taken in the transaction that creates the extension: allowed (a
# rollback takes the sequence away with the lease)
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
like($node->safe_psql('fresh', q{
	BEGIN;
	CREATE EXTENSION resilience;
	SELECT resilience.lease_acquire('first', 'n1', '1 hour');
	COMMIT;}), qr/^\d+$/, 'a grant in the transaction of CREATE EXTENSION');

$node->stop;
done_testing();
