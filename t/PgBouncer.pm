# PgBouncer in front of a PostgreSQL::Test::Cluster node, for the TAP suites
# that test behaviour behind a pooler (012, 020).
package PgBouncer;

use strict;
use warnings;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

# The pgbouncer binary (on PATH or in /usr/sbin), or undef.
sub binary
{
	my ($bin) =
	  grep { -x $_ } map { "$_/pgbouncer" } (split(/:/, $ENV{PATH}), '/usr/sbin');
	return $bin;
}

# start($node, $pool_mode, setting => value, ...): a pgbouncer for $node's
# postgres database (default_pool_size 1 unless given), ready to accept
# connections.  Returns its IPC::Run handle (stop it with kill_kill) and a
# node-like object whose psql helpers connect through it.
sub start
{
	my ($node, $mode, %settings) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my ($host, $nport) = ($node->host, $node->port);
	my %all = (default_pool_size => 1, %settings);
	my $extra = join('', map { "$_ = $all{$_}\n" } sort keys %all);

	PostgreSQL::Test::Utils::append_to_file("$dir/users.txt", qq{"postgres" ""\n});
	PostgreSQL::Test::Utils::append_to_file(
		"$dir/pgbouncer.ini", qq{
[databases]
postgres = host=$host port=$nport dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = $mode
server_reset_query = DISCARD ALL
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
$extra});
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ binary(), "$dir/pgbouncer.ini" ], '>', \$out, '2>', \$err);
	my $via = bless { %$node, _host => '127.0.0.1', _port => $port },
	  'PostgreSQL::Test::Cluster';
	# wait for the port first: psql against a pgbouncer not listening yet
	# exits before reading its input, and IPC::Run dies of the broken pipe
	for (my $i = 0; $i < 300; $i++)
	{
		last if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
		select(undef, undef, undef, 0.1);
	}
	for (my $i = 0; $i < 100; $i++)
	{
		my $ret = eval { ($via->psql('postgres', 'SELECT 1'))[0] } // -1;
		last if $ret == 0;
		select(undef, undef, undef, 0.1);
	}
	return ($h, $via);
}

1;
