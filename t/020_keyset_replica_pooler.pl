# Keyset pagination on a streaming replica and behind PgBouncer.  Cursors are
# signed with keys in resilience.cursor_keys, which replicate like any table:
# a cursor made on the primary works on the standby and back, a standby
# backend that cached the key reloads it when a rotation is replayed, and
# rotation itself is refused there (25006).  Behind a transaction pooler,
# consecutive pages are served by different server backends.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgBouncer;

my $sort = 'created_at DESC';

my $primary = PostgreSQL::Test::Cluster->new('kprimary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION resilience');
# created_at has ties (three rows a minute), so the appended id decides
$primary->safe_psql(
	'postgres', q{
CREATE TABLE t (id int PRIMARY KEY, created_at timestamptz NOT NULL, v text);
CREATE INDEX t_created ON t (created_at, id);
INSERT INTO t SELECT i, '2024-01-01 00:00+00'::timestamptz + (i / 3) * interval '1 min', 'v' || i
FROM generate_series(1, 1000) i;
});
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('kstandby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

# ids of page() after/before $cur (a literal cursor or NULL), in page order
sub page_ids
{
	my ($node, $dir, $cur, $size) = @_;
	my $arg = defined $cur ? "'$cur'" : 'NULL';
	return $node->safe_psql('postgres',
		"SELECT string_agg(id::text, ',' ORDER BY n) FROM resilience.page(NULL::t, '$sort', $dir => $arg, page_size => $size) WITH ORDINALITY AS p(id, created_at, v, n)"
	);
}
my $cursor_of = "SELECT resilience.cursor_of(t, '$sort') FROM t WHERE id = ";

# the expected order, and ids $from..$to (1-based) of it
my @order = split /,/, $primary->safe_psql('postgres',
	"SELECT string_agg(id::text, ',' ORDER BY created_at DESC, id DESC) FROM t");
sub slice { my ($from, $n) = @_; return join(',', @order[ $from - 1 .. $from + $n - 2 ]); }
my %pos;
@pos{@order} = (1 .. @order);

# --- 1. cursors cross between primary and standby
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
my $c500 = $primary->safe_psql('postgres', "$cursor_of 500");
my $on_primary = page_ids($primary, 'after', $c500, 20);
is($on_primary, slice($pos{500} + 1, 20), 'page() after a cursor on the primary returns the next 20 rows');
is(page_ids($standby, 'after', $c500, 20), $on_primary,
	'a cursor made on the primary is accepted on the standby: same rows');
is(page_ids($standby, 'before', $c500, 20), slice($pos{500} - 20, 20),
	'before => the same cursor on the standby returns the 20 rows before it');
is($standby->safe_psql('postgres', "$cursor_of 500"), $c500,
	'cursor_of on the standby makes the same cursor as on the primary');

my $pj = $standby->safe_psql('postgres',
	"SELECT j->>'next', j->>'has_next', j->>'has_prev', jsonb_array_length(j->'rows') FROM resilience.page_json('t', '$sort', page_size => 10) j");
my ($next, $has_next, $has_prev, $nrows) = split /\|/, $pj;
is("$has_next|$has_prev|$nrows", 'true|false|10', 'page_json() works on the read-only standby');
is(page_ids($primary, 'after', $next, 10), slice(11, 10),
	'page_json()\'s next cursor from the standby continues the walk on the primary');

# a full forward walk on the standby, 97 rows a page, cursor_of the last row
my ($ret, $out, $err) = $standby->psql(
	'postgres', qq{
DO \$\$
DECLARE cur text; r t; last t; seen int[] := '{}'; pages int := 0; n int;
BEGIN
  LOOP
    n := 0;
    FOR r IN SELECT * FROM resilience.page(NULL::t, '$sort', after => cur, page_size => 97) LOOP
      seen := seen || r.id; last := r; n := n + 1;
    END LOOP;
    EXIT WHEN n = 0;
    pages := pages + 1;
    cur := resilience.cursor_of(last, '$sort');
  END LOOP;
  RAISE NOTICE 'walk: pages=% rows=% distinct=% in_order=%', pages, cardinality(seen),
    (SELECT count(DISTINCT x) FROM unnest(seen) x),
    seen = (SELECT array_agg(id ORDER BY created_at DESC, id DESC) FROM t);
END
\$\$;
});
like($err, qr/walk: pages=11 rows=1000 distinct=1000 in_order=t/,
	'a forward walk on the standby (page_size 97) visits every row once, in order');

# --- 2. key rotation replayed on the standby
my $sb = $standby->background_psql('postgres', on_error_stop => 0);
$sb->query_safe('\set VERBOSITY verbose');
my $c100 = $primary->safe_psql('postgres', "$cursor_of 100");
is($sb->query_safe(
		"SELECT count(*) FROM resilience.page(NULL::t, '$sort', after => '$c100', page_size => 5)"),
	'5', 'a long-lived standby session verifies a cursor (and caches the key)');

$primary->safe_psql('postgres', 'SELECT resilience.rotate_cursor_key()');
$primary->wait_for_catchup($standby);
my $c100b = $primary->safe_psql('postgres', "$cursor_of 100");
isnt($c100b, $c100, 'after a rotation the primary signs with the new key');
# asked before it sees any new-key cursor: only the replayed invalidation can
# have told this session about the new key
is($sb->query_safe("$cursor_of 100"), $c100b,
	'the standby session signs with the new key after the rotation is replayed');
is($sb->query_safe(
		"SELECT string_agg(id::text, ',') FROM resilience.page(NULL::t, '$sort', after => '$c100b', page_size => 3)"),
	slice($pos{100} + 1, 3), 'the standby session accepts a cursor signed with the new key');
is(page_ids($standby, 'after', $c100b, 3), slice($pos{100} + 1, 3),
	'a new standby connection accepts it too');
is($sb->query_safe(
		"SELECT string_agg(id::text, ',') FROM resilience.page(NULL::t, '$sort', after => '$c100', page_size => 3)"),
	slice($pos{100} + 1, 3), 'after one rotation the old cursor still works on the standby');

$primary->safe_psql('postgres', 'SELECT resilience.rotate_cursor_key()');
$primary->wait_for_catchup($standby);
my ($o, $failed) = $sb->query(
	"SELECT count(*) FROM resilience.page(NULL::t, '$sort', after => '$c100', page_size => 3)");
like($sb->{stderr}, qr/ERROR:  22023: cursor is not valid/,
	'after a second rotation the standby session refuses the old cursor: 22023');
$sb->{stderr} = '';
($ret, $out, $err) = $standby->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT count(*) FROM resilience.page(NULL::t, '$sort', after => '$c100', page_size => 3)");
like($err, qr/ERROR:  22023: cursor is not valid/,
	'and so does a new standby connection');
is($sb->query_safe(
		"SELECT string_agg(id::text, ',') FROM resilience.page(NULL::t, '$sort', after => '$c100b', page_size => 3)"),
	slice($pos{100} + 1, 3), 'the previous key\'s cursor still works on the standby session');
is($sb->query_safe("$cursor_of 100"), $primary->safe_psql('postgres', "$cursor_of 100"),
	'the standby session signs with the newest key after the second rotation');

($o, $failed) = $sb->query('SELECT resilience.rotate_cursor_key()');
like($sb->{stderr}, qr/ERROR:  25006:/, 'rotate_cursor_key() on the standby fails with 25006');
$sb->{stderr} = '';
$sb->quit;

# --- 3. behind PgBouncer in transaction pooling mode
SKIP:
{
	skip 'pgbouncer is not installed', 7 unless defined PgBouncer::binary();

	# round robin, so that consecutive transactions go to different server
	# connections
	my ($h, $via) = PgBouncer::start($primary, 'transaction',
		default_pool_size => 2, server_round_robin => 1);

	my @clients = map { $via->background_psql('postgres') } 1 .. 4;
	# two transactions at once: the pool opens both server connections
	$clients[$_]->query_safe('BEGIN; SELECT 1') for 0, 1;
	$clients[$_]->query_safe('COMMIT') for 0, 1;

	# one page: (backend pid, next, prev, has_next, has_prev, ids)
	my $fetch = sub {
		my ($client, $dir, $cur) = @_;
		my $arg = defined $cur ? "'$cur'" : 'NULL';
		my $r = $client->query_safe(
			"SELECT pg_backend_pid(), j->>'next', j->>'prev', j->>'has_next', j->>'has_prev', "
			  . "(SELECT string_agg(e.r->>'id', ',' ORDER BY e.o) FROM jsonb_array_elements(j->'rows') WITH ORDINALITY e(r, o)) "
			  . "FROM resilience.page_json('t', '$sort', $dir => $arg, page_size => 97) j");
		return [ split /\|/, $r, -1 ];
	};

	my (@pages, %pids, %seen);
	my $cur;
	for (my $i = 0; $i < 50; $i++)
	{
		my $p = $fetch->($clients[ $i % @clients ], 'after', $cur);
		push @pages, $p;
		$pids{ $p->[0] } = 1;
		$seen{$_}++ for split /,/, $p->[5];
		last if $p->[3] ne 'true';
		$cur = $p->[1];
	}
	is(scalar(@pages), 11, 'through the pooler: 11 pages of 97 for 1000 rows');
	# round robin should alternate strictly; ask only for what the checks
	# below need, so that a pooler scheduling quirk cannot fail the test
	my @moved = grep { $pages[$_][0] != $pages[ $_ - 1 ][0] } 1 .. $#pages;
	ok(keys %pids == 2 && @moved >= $#pages / 2,
		'pages were served by both server backends, cursors crossing between them ('
		  . scalar(@moved) . " of $#pages)");
	is(join(',', map { $_->[5] } @pages), join(',', @order),
		'every row seen exactly once, in order, across clients and backends');
	is(scalar(grep { $seen{$_} != 1 } keys %seen) + (1000 - keys %seen), 0,
		'no row missed or repeated');
	my @last = split /,/, $pages[-1][5];
	is("$pages[-1][3]|" . scalar(@last), 'false|30',
		'the last page has has_next false and the remaining 30 rows');

	# prev of each page, fetched by another client: exactly the page before
	# (one transaction more, so that round robin does not hand each fetch the
	# backend that made its cursor)
	$clients[0]->query_safe('SELECT 1');
	my (@bad, @elsewhere);
	for my $k (1 .. $#pages)
	{
		my $b = $fetch->($clients[ ($k + 1) % @clients ], 'before', $pages[$k][2]);
		push @elsewhere, $k if $b->[0] != $pages[$k][0];
		push @bad, $k
		  unless $b->[5] eq $pages[ $k - 1 ][5]
		  && $b->[4] eq ($k == 1 ? 'false' : 'true')
		  && $b->[3] eq 'true';
	}
	ok(@elsewhere >= $#pages / 2,
		'before => prev was mostly served by another backend than the one that made the cursor ('
		  . scalar(@elsewhere) . " of $#pages)");
	is("@bad", '', 'before => prev returns exactly the previous page, has_prev/has_next exact');

	$_->quit for @clients;
	$h->kill_kill;
}

$standby->stop;
$primary->stop;
done_testing();
