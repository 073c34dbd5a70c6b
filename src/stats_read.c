/*-------------------------------------------------------------------------
 *
 * stats_read.c
 *		Reading the monitoring counters: the set-returning functions behind
 *		the views of src/stats.sql, the quantiles, stats_reset() and
 *		metrics() in the Prometheus text exposition format.
 *
 * Every function here raises 55000 without preloading (stats_require).
 * Name entries are copied under every partition lock held shared, then
 * rendered without any lock; fixed counters are read one atomic at a time,
 * so a read racing events sees each counter at some instant of the read.
 *
 *-------------------------------------------------------------------------
 */

#include "postgres.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "catalog/pg_type.h"
#include "catalog/pg_control.h"
#include "commands/dbcommands.h"
#include "common/controldata_utils.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "executor/spi.h"
#include "catalog/pg_collation.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "catalog/pg_authid.h"
#include "catalog/namespace.h"
#include "catalog/pg_conversion.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_database.h"
#include "utils/syscache.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "args.h"
#include "extension.h"
#include "resilience.h"
#include "shmem.h"
#include "spiplan.h"
#include "stats_int.h"
#include "stats.h"


RESILIENCE_FUNCTION(stats_counters);
RESILIENCE_FUNCTION(stats_histograms);
RESILIENCE_FUNCTION(stats_names);
RESILIENCE_FUNCTION(stats_gave_up);
RESILIENCE_FUNCTION(stats_info);
RESILIENCE_FUNCTION(stats_quantile);
RESILIENCE_FUNCTION(stats_reset);
RESILIENCE_FUNCTION(stats_metrics);

/* ---- reading ---- */

/* 55000 unless the shared memory exists. */
static void
stats_require(const char *funcname)
{
	if (stats_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs resilience in shared_preload_libraries", funcname),
				 errdetail("The monitoring counters live in shared memory, which is set up only when the server starts."),
				 errhint("Add resilience to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* a copy of one name entry, read without holding its lock afterwards */
typedef struct StatsNameCopy
{
	Oid			dbid;
	char		kind;
	char		name[SHMEM_NAME_MAX + 1];
	uint64		counters[STATS_NAME_NCOUNTERS];
	uint64		buckets[STATS_NBUCKETS];
	uint64		sum;
	const char *text;			/* name in this database's encoding */
} StatsNameCopy;

/*
 * Whether the caller may see the names of every database: a superuser or a
 * member of pg_read_all_stats (pg_monitor is one), as pg_stat_statements
 * shows other users' queries.  The extension's owner is neither when a
 * database owner installed it (trusted): it sees its own database's names.
 */
static bool
stats_sees_all_databases(void)
{
	return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

/* what stats_name_text looked up, for one read of the names */
#define STATS_ENC_CACHE_DBS 16
typedef struct StatsEncodingCache
{
	int			ndbs;
	Oid			dbids[STATS_ENC_CACHE_DBS];
	int			encs[STATS_ENC_CACHE_DBS];	/* -1: the database is gone */
	bool		looked[_PG_LAST_ENCODING_]; /* by source encoding: */
	Oid			procs[_PG_LAST_ENCODING_];	/* its conversion to ours */
} StatsEncodingCache;

/*
 * A name as text of this database.  Names are bytes in the encoding of the
 * database that counted them, and a superuser or pg_monitor reads those of
 * every database: a name from a database of another encoding is converted,
 * and one that cannot be (or is not valid in its own encoding, or is of a
 * dropped database) gets its non-ASCII bytes as \xNN, so that the views and
 * metrics() always return valid text.
 */
static const char *
stats_name_text(const char *name, Oid dbid, StatsEncodingCache *cache)
{
	int			len = strlen(name);
	int			dst_enc = GetDatabaseEncoding();
	int			src_enc = dst_enc;
	StringInfoData buf;

	/* a catalog lookup per database, not per name (past 16, per name) */
	if (dbid != MyDatabaseId)
	{
		int			i;

		for (i = 0; i < cache->ndbs && cache->dbids[i] != dbid; i++)
			;
		if (i == cache->ndbs)
		{
			HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dbid));

			src_enc = -1;
			if (HeapTupleIsValid(tup))
			{
				src_enc = ((Form_pg_database) GETSTRUCT(tup))->encoding;
				ReleaseSysCache(tup);
			}
			if (cache->ndbs < STATS_ENC_CACHE_DBS)
			{
				cache->dbids[cache->ndbs] = dbid;
				cache->encs[cache->ndbs++] = src_enc;
			}
		}
		else
			src_enc = cache->encs[i];
	}
	if (src_enc == dst_enc && pg_verifymbstr(name, len, true))
		return name;
	if (src_enc >= 0 && src_enc != dst_enc && dst_enc != PG_SQL_ASCII &&
		src_enc != PG_SQL_ASCII && pg_verify_mbstr(src_enc, name, len, true))
	{
		Oid			proc;

		if (!cache->looked[src_enc])
		{
			cache->looked[src_enc] = true;
			/* pg_catalog's, not the first on the caller's search_path */
			cache->procs[src_enc] = FindDefaultConversion(PG_CATALOG_NAMESPACE,
														  src_enc, dst_enc);
		}
		proc = cache->procs[src_enc];
		if (OidIsValid(proc))
		{
			int			dstlen = len * MAX_CONVERSION_GROWTH + 1;
			unsigned char *dst = palloc(dstlen);

			if (pg_do_encoding_conversion_buf(proc, src_enc, dst_enc,
											  (unsigned char *) name, len,
											  dst, dstlen, true) == len)
				return (const char *) dst;
			pfree(dst);
		}
	}
	initStringInfo(&buf);
	for (const unsigned char *p = (const unsigned char *) name; *p; p++)
	{
		if (IS_HIGHBIT_SET(*p))
			appendStringInfo(&buf, "\\x%02x", *p);
		else
			appendStringInfoChar(&buf, (char) *p);
	}
	return buf.data;
}

/*
 * Copy the name entries the caller may see (see stats_sees_all_databases;
 * every partition lock shared for the scan).
 */
static StatsNameCopy *
stats_copy_names(int *n)
{
	HASH_SEQ_STATUS status;
	StatsNameEntry *e;
	StatsNameCopy *copies;
	int			max = *stats_name_table.max_entries;
	bool		all = stats_sees_all_databases();
	int			i = 0;
	StatsEncodingCache cache = {0};

	copies = MemoryContextAllocHuge(CurrentMemoryContext,
									sizeof(StatsNameCopy) * Max(max, 1));
	shmem_lock_all(&stats_name_table, LW_SHARED);
	hash_seq_init(&status, stats_name_table.htab);
	while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
	{
		StatsNameCopy *c;

		if (!all && e->key.dbid != MyDatabaseId)
			continue;
		if (i >= max)
		{
			hash_seq_term(&status);
			break;
		}
		c = &copies[i++];
		c->dbid = e->key.dbid;
		c->kind = e->key.name[0];
		memcpy(c->name, e->key.name + 1, e->key.len - 1);
		c->name[e->key.len - 1] = '\0';
		for (int j = 0; j < STATS_NAME_NCOUNTERS; j++)
			c->counters[j] = pg_atomic_read_u64(&e->counters[j]);
		/* only queues fill their histogram (pickup latency) */
		if (c->kind == STATS_KIND_QUEUE)
		{
			for (int b = 0; b < STATS_NBUCKETS; b++)
				c->buckets[b] = pg_atomic_read_u64(&e->hist.buckets[b]);
			c->sum = pg_atomic_read_u64(&e->hist.sum);
		}
		else
		{
			memset(c->buckets, 0, sizeof(c->buckets));
			c->sum = 0;
		}
	}
	shmem_unlock_all(&stats_name_table);
	/* no catalog lookups under the partition locks: converted after */
	for (int j = 0; j < i; j++)
		copies[j].text = stats_name_text(copies[j].name, copies[j].dbid, &cache);
	*n = i;
	return copies;
}

/* an int8[] of n values */
static Datum
stats_int8_array(const uint64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum((int64) v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* read a histogram's buckets and sum */
void
stats_hist_read(StatsHist *h, uint64 *buckets, uint64 *sum)
{
	for (int b = 0; b < STATS_NBUCKETS; b++)
		buckets[b] = pg_atomic_read_u64(&h->buckets[b]);
	*sum = pg_atomic_read_u64(&h->sum);
}

/* the name of a kind */
static const char *
stats_kind_name(char kind)
{
	switch (kind)
	{
		case STATS_KIND_GUARD:
			return "guard";
		case STATS_KIND_LEASE:
			return "lease";
		case STATS_KIND_QUEUE:
			return "queue";
	}
	return "unknown";
}

/* stats_counters() RETURNS TABLE (area text, counter text, value bigint) */
Datum
stats_counters(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	StatsTotals t;

	stats_require("resilience.stats_counters()");
	InitMaterializedSRF(fcinfo, 0);
	stats_totals(&t);
	for (int i = 0; i < STATS_NCOUNTERS; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(stats_counter_defs[i].area);
		values[1] = CStringGetTextDatum(stats_counter_defs[i].counter);
		values[2] = Int64GetDatum((int64) t.counters[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * stats_histograms() RETURNS TABLE (area text, histogram text,
 *		buckets bigint[], count bigint, sum bigint)
 */
Datum
stats_histograms(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	StatsTotals t;

	stats_require("resilience.stats_histograms()");
	InitMaterializedSRF(fcinfo, 0);
	stats_totals(&t);
	for (int h = 0; h < STATS_NHISTS; h++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		uint64	   *buckets = t.buckets[h];
		uint64		sum = t.sums[h];
		uint64		count = 0;

		for (int b = 0; b < STATS_NBUCKETS; b++)
			count += buckets[b];
		values[0] = CStringGetTextDatum(stats_hist_defs[h].area);
		values[1] = CStringGetTextDatum(stats_hist_defs[h].counter);
		values[2] = stats_int8_array(buckets, STATS_NBUCKETS);
		values[3] = Int64GetDatum((int64) count);
		values[4] = Int64GetDatum((int64) sum);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * stats_names() RETURNS TABLE (dbid oid, kind text, name text,
 *		counters bigint[], buckets bigint[], sum bigint)
 */
Datum
stats_names(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StatsNameCopy *copies;
	int			n;

	stats_require("resilience.stats_names()");
	InitMaterializedSRF(fcinfo, 0);
	copies = stats_copy_names(&n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		StatsNameCopy *c = &copies[i];

		values[0] = ObjectIdGetDatum(c->dbid);
		values[1] = CStringGetTextDatum(stats_kind_name(c->kind));
		values[2] = CStringGetTextDatum(c->text);
		values[3] = stats_int8_array(c->counters, STATS_NAME_NCOUNTERS);
		if (c->kind == STATS_KIND_QUEUE)
		{
			values[4] = stats_int8_array(c->buckets, STATS_NBUCKETS);
			values[5] = Int64GetDatum((int64) c->sum);
		}
		else
			nulls[4] = nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* the text of a retry function */
static const char *
stats_retry_func_name(uint32 key)
{
	return (key >> 30) == STATS_RETRY_TRANSACTION + 1 ? "retry_transaction" : "retry_statement";
}

/* stats_gave_up() RETURNS TABLE (function text, sqlstate text, calls bigint) */
Datum
stats_gave_up(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	uint64		other;

	stats_require("resilience.stats_gave_up()");
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		uint32		key = pg_atomic_read_u32(&stats_shared->gave_up[i].key);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (key == 0)
			continue;
		values[0] = CStringGetTextDatum(stats_retry_func_name(key));
		values[1] = CStringGetTextDatum(unpack_sql_state(key & 0x3FFFFFFF));
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_shared->gave_up[i].calls));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	other = pg_atomic_read_u64(&stats_shared->gave_up_other);
	if (other > 0)
	{
		Datum		values[3];
		bool		nulls[3] = {true, true, false};

		values[2] = Int64GetDatum((int64) other);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * stats_info(OUT stats_since timestamptz, OUT names int, OUT max_names int,
 *		OUT names_evicted bigint, OUT track boolean)
 */
Datum
stats_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	stats_require("resilience.stats_info()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&stats_shared->since));
	values[1] = Int32GetDatum((int32) pg_atomic_read_u32(&stats_name_table.header->count));
	values[2] = Int32GetDatum(*stats_name_table.max_entries);
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&stats_name_table.header->evicted));
	values[4] = BoolGetDatum(stats_track);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* the upper bound of bucket b (2^b), or infinity for the last one */
static double
stats_bucket_bound(int b)
{
	return b >= STATS_NBUCKETS - 1 ? get_float8_infinity() : ldexp(1.0, b);
}

/*
 * stats_quantile(buckets bigint[], q float8) RETURNS float8: the upper bound
 * of the bucket holding the q-quantile (never below the true value, less
 * than twice it); NULL when empty.
 */
Datum
stats_quantile(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	double		q;
	double		total = 0;
	double		rank;
	double		seen = 0;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	arr = PG_GETARG_ARRAYTYPE_P(0);
	q = PG_GETARG_FLOAT8(1);
	if (!(q >= 0 && q <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantile must be between 0 and 1"),
				 errhint("Use 0.5 for the median, 0.99 for the 99th percentile.")));
	deconstruct_array(arr, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			total += (double) DatumGetInt64(elems[i]);
	if (total <= 0)
		PG_RETURN_NULL();
	rank = Max(q * total, 1);
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i])
			seen += (double) DatumGetInt64(elems[i]);
		if (seen >= rank)
			PG_RETURN_FLOAT8(i >= n - 1 && n == STATS_NBUCKETS ?
							 get_float8_infinity() : ldexp(1.0, i));
	}
	PG_RETURN_FLOAT8(get_float8_infinity());
}

/*
 * stats_reset() RETURNS void: for a superuser, every counter and per-name
 * entry of all databases; for the extension's owner (or a member of it) who
 * is not one, the per-name entries of the current database only: the
 * counters are the server's, shared with every other database.
 */
Datum
stats_reset(PG_FUNCTION_ARGS)
{
	ResilienceExtension ext;
	HASH_SEQ_STATUS status;
	StatsNameEntry *e;
	int			removed = 0;
	bool		all;

	stats_require("resilience.stats_reset()");
	resilience_extension_lookup(&ext);
	if (!superuser() && !has_privs_of_role(GetUserId(), ext.owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to reset resilience statistics"),
				 errdetail("Only the owner of extension resilience or a superuser may reset them.")));

	all = superuser();
	shmem_lock_all(&stats_name_table, LW_EXCLUSIVE);
	hash_seq_init(&status, stats_name_table.htab);
	while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
	{
		if (!all && e->key.dbid != MyDatabaseId)
			continue;
		hash_search(stats_name_table.htab, &e->key, HASH_REMOVE, NULL);
		removed++;
	}
	pg_atomic_sub_fetch_u32(&stats_name_table.header->count, removed);
	/* the removed names' bits would keep making lookups take the lock */
	if (removed > 0)
		shmem_filter_rebuild(&stats_name_table);
	if (all)
	{
		pg_atomic_write_u64(&stats_name_table.header->evicted, 0);
		stats_zero();
		pg_atomic_write_u64(&stats_shared->since, (uint64) GetCurrentTimestamp());
	}
	shmem_unlock_all(&stats_name_table);
	PG_RETURN_VOID();
}

/* ---- Prometheus text ---- */

/* a label value, escaped as the exposition format wants (\\, \", \n) */
static void
stats_append_label(StringInfo buf, const char *s)
{
	/* most names need no escape: one copy */
	if (strpbrk(s, "\\\"\n") == NULL)
	{
		appendStringInfoString(buf, s);
		return;
	}
	for (; *s; s++)
	{
		if (*s == '\\')
			appendStringInfoString(buf, "\\\\");
		else if (*s == '"')
			appendStringInfoString(buf, "\\\"");
		else if (*s == '\n')
			appendStringInfoString(buf, "\\n");
		else
			appendStringInfoChar(buf, *s);
	}
}

/* a value, scaled: counts as integers, microseconds as seconds */
static void
stats_append_value(StringInfo buf, uint64 v, int64 scale)
{
	if (scale == 1)
	{
		char		digits[MAXINT8LEN + 1];
		int			len = pg_ulltoa_n(v, digits);

		appendBinaryStringInfo(buf, digits, len);
	}
	else
	{
		/*
		 * microseconds as seconds, exact to the microsecond: the digits
		 * %.6f of v / 1e6 printed for any total under 10^15 us (31 years),
		 * without float formatting (metrics() writes one per lock name)
		 */
		char		digits[MAXINT8LEN + 8];
		int			len;

		Assert(scale == 1000000);	/* six decimals below */
		len = pg_ulltoa_n(v / scale, digits);
		digits[len++] = '.';
		v %= scale;
		for (int i = 5; i >= 0; i--, v /= 10)
			digits[len + i] = (char) ('0' + v % 10);
		appendBinaryStringInfo(buf, digits, len + 6);
	}
}

/* HELP and TYPE of a family */
static void
stats_append_family(StringInfo buf, const char *family, const char *type,
					const char *help)
{
	appendStringInfo(buf, "# HELP %s %s\n# TYPE %s %s\n", family, help, family, type);
}

/*
 * One histogram's samples: cumulative buckets, _sum and _count.  labels
 * are preformatted (may be empty).
 */
static void
stats_append_hist(StringInfo buf, const char *family, const char *labels,
				  const uint64 *buckets, uint64 sum, int64 scale)
{
	uint64		cum = 0;
	const char *sep = labels[0] ? "," : "";

	for (int b = 0; b < STATS_NBUCKETS; b++)
	{
		cum += buckets[b];
		appendStringInfo(buf, "%s_bucket{%s%sle=\"", family, labels, sep);
		if (b == STATS_NBUCKETS - 1)
			appendStringInfoString(buf, "+Inf");
		else if (scale == 1)
			appendStringInfo(buf, "%.0f", stats_bucket_bound(b));
		else
			appendStringInfo(buf, "%g", stats_bucket_bound(b) / (double) scale);
		appendStringInfoString(buf, "\"} ");
		appendStringInfo(buf, UINT64_FORMAT "\n", cum);
	}
	appendStringInfo(buf, "%s_sum%s%s%s ", family, labels[0] ? "{" : "", labels, labels[0] ? "}" : "");
	stats_append_value(buf, sum, scale);
	appendStringInfo(buf, "\n%s_count%s%s%s " UINT64_FORMAT "\n", family,
					 labels[0] ? "{" : "", labels, labels[0] ? "}" : "", cum);
}

/*
 * The labels of every name copy, datname="...",name="..." (queue="..." for
 * queues), built once per metrics() call; database names looked up once each.
 */
static char **
stats_name_labels(StatsNameCopy *copies, int n)
{
	char	  **labels = palloc(sizeof(char *) * Max(n, 1));
	Oid			cached_db = InvalidOid;
	char	   *cached_name = NULL;
	StringInfoData lab;

	initStringInfo(&lab);
	for (int i = 0; i < n; i++)
	{
		StatsNameCopy *c = &copies[i];

		if (cached_db != c->dbid)
		{
			cached_name = get_database_name(c->dbid);
			cached_db = c->dbid;
		}
		if (cached_name == NULL)
		{
			/*
			 * A dropped database's names: left out, as two dropped databases
			 * would give two series of one label set (eviction drops them).
			 */
			labels[i] = NULL;
			continue;
		}
		resetStringInfo(&lab);
		appendStringInfoString(&lab, "datname=\"");
		stats_append_label(&lab, cached_name);
		appendStringInfoString(&lab, c->kind == STATS_KIND_QUEUE ? "\",queue=\"" : "\",name=\"");
		stats_append_label(&lab, c->text);
		appendStringInfoChar(&lab, '"');
		labels[i] = pnstrdup(lab.data, lab.len);
	}
	pfree(lab.data);
	return labels;
}

/*
 * Grow buf once to about what the per-name lines will take (one line per
 * counter of a name, a histogram's lines for a queue), rather than by
 * doubling and copying as they are appended.
 */
static void
stats_reserve_name_lines(StringInfo buf, char **labels, StatsNameCopy *copies, int n)
{
	/* a line: family, labels, an event label, a value */
	const Size	line = 96;
	Size		want = 0;

	for (int i = 0; i < n; i++)
	{
		Size		lines;

		if (labels[i] == NULL)
			continue;
		lines = copies[i].kind == STATS_KIND_GUARD ? 4 :
			copies[i].kind == STATS_KIND_LEASE ? STATS_LEASE_NEVENTS :
			STATS_QUEUE_NEVENTS + STATS_NBUCKETS + 2;
		want += lines * (strlen(labels[i]) + line);
	}
	if (want > 0 && want < MaxAllocSize - (Size) buf->len - 1)
		enlargeStringInfo(buf, (int) want);
}

/* per-name families: one family, every entry of kind */
static void
stats_append_name_family(StringInfo buf, char **labels, StatsNameCopy *copies,
						 int n, char kind, const char *family, const char *help,
						 int counter, const char *event,
						 int64 scale, bool *emitted)
{
	int			flen = strlen(family);

	for (int i = 0; i < n; i++)
	{
		if (copies[i].kind != kind || labels[i] == NULL)
			continue;
		if (!*emitted)
		{
			stats_append_family(buf, family, "counter", help);
			*emitted = true;
		}
		appendBinaryStringInfo(buf, family, flen);
		appendStringInfoChar(buf, '{');
		appendStringInfoString(buf, labels[i]);
		if (event)
		{
			appendStringInfoString(buf, ",event=\"");
			appendStringInfoString(buf, event);
			appendStringInfoChar(buf, '"');
		}
		appendBinaryStringInfo(buf, "} ", 2);
		stats_append_value(buf, copies[i].counters[counter], scale);
		appendStringInfoChar(buf, '\n');
	}
}

/* metrics() RETURNS text: everything, in the Prometheus text format */
Datum
stats_metrics(PG_FUNCTION_ARGS)
{
	static const char *const lease_events[STATS_LEASE_NEVENTS] = {
		"grant", "renewal", "takeover", "refused", "fence_rejected", "release"
	};
	static const char *const queue_events[STATS_QUEUE_NEVENTS] = {
		"enqueued", "claimed", "completed", "failed", "dead", "lease_expired",
		"fence_rejected"
	};
	StringInfoData buf;
	const char *family = NULL;
	StatsNameCopy *copies;
	char	  **labels;
	int			n;
	bool		emitted;
	StatsTotals totals;

	stats_require("resilience.metrics()");
	/* built in place as the text datum returned: room for its header */
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	stats_totals(&totals);

	for (int i = 0; i < STATS_NCOUNTERS; i++)
	{
		const StatsDef *d = &stats_counter_defs[i];

		if (family == NULL || strcmp(family, d->family) != 0)
		{
			stats_append_family(&buf, d->family, "counter", d->help);
			family = d->family;
		}
		appendStringInfoString(&buf, d->family);
		if (d->labels[0])
			appendStringInfo(&buf, "{%s}", d->labels);
		appendStringInfoChar(&buf, ' ');
		stats_append_value(&buf, totals.counters[i], d->scale);
		appendStringInfoChar(&buf, '\n');
	}

	stats_append_family(&buf, "resilience_retry_gave_up_by_sqlstate_total", "counter",
						"Calls of the retry functions that gave up, by the SQLSTATE raised.");
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		uint32		key = pg_atomic_read_u32(&stats_shared->gave_up[i].key);

		if (key == 0)
			continue;
		appendStringInfo(&buf, "resilience_retry_gave_up_by_sqlstate_total{function=\"%s\",sqlstate=\"%s\"} " UINT64_FORMAT "\n",
						 stats_retry_func_name(key), unpack_sql_state(key & 0x3FFFFFFF),
						 pg_atomic_read_u64(&stats_shared->gave_up[i].calls));
	}
	appendStringInfo(&buf, "resilience_retry_gave_up_by_sqlstate_total{function=\"\",sqlstate=\"other\"} " UINT64_FORMAT "\n",
					 pg_atomic_read_u64(&stats_shared->gave_up_other));

	family = NULL;
	for (int h = 0; h < STATS_NHISTS; h++)
	{
		const StatsDef *d = &stats_hist_defs[h];

		if (family == NULL || strcmp(family, d->family) != 0)
		{
			stats_append_family(&buf, d->family, "histogram", d->help);
			family = d->family;
		}
		stats_append_hist(&buf, d->family, d->labels, totals.buckets[h], totals.sums[h],
						  d->scale);
	}

	stats_append_family(&buf, "resilience_stats_names", "gauge",
						"Names (guards, leases, queues) tracked in shared memory.");
	appendStringInfo(&buf, "resilience_stats_names %u\n",
					 pg_atomic_read_u32(&stats_name_table.header->count));
	stats_append_family(&buf, "resilience_stats_names_evicted_total", "counter",
						"Tracked names dropped to make room (resilience.stats_max_names).");
	appendStringInfo(&buf, "resilience_stats_names_evicted_total " UINT64_FORMAT "\n",
					 pg_atomic_read_u64(&stats_name_table.header->evicted));

	copies = stats_copy_names(&n);
	labels = stats_name_labels(copies, n);
	stats_reserve_name_lines(&buf, labels, copies, n);
	emitted = false;
	stats_append_name_family(&buf, labels, copies, n, STATS_KIND_GUARD,
							 "resilience_guard_name_acquisitions_total",
							 "Locks granted, per lock name.",
							 NAME_GUARD_ACQUIRED, NULL, 1, &emitted);
	emitted = false;
	stats_append_name_family(&buf, labels, copies, n, STATS_KIND_GUARD,
							 "resilience_guard_name_waits_total",
							 "Lock requests that waited, per lock name.",
							 NAME_GUARD_WAITS, NULL, 1, &emitted);
	emitted = false;
	stats_append_name_family(&buf, labels, copies, n, STATS_KIND_GUARD,
							 "resilience_guard_name_timeouts_total",
							 "Lock requests not granted in time, per lock name.",
							 NAME_GUARD_TIMEOUTS, NULL, 1, &emitted);
	emitted = false;
	stats_append_name_family(&buf, labels, copies, n, STATS_KIND_GUARD,
							 "resilience_guard_name_wait_seconds_total",
							 "Time lock requests waited, per lock name.",
							 NAME_GUARD_WAIT_US, NULL, 1000000, &emitted);
	emitted = false;
	for (int ev = 0; ev < STATS_LEASE_NEVENTS; ev++)
		stats_append_name_family(&buf, labels, copies, n, STATS_KIND_LEASE,
								 "resilience_lease_name_events_total",
								 "Lease events, per lease name.",
								 ev, lease_events[ev], 1, &emitted);
	emitted = false;
	for (int ev = 0; ev < STATS_QUEUE_NEVENTS; ev++)
		stats_append_name_family(&buf, labels, copies, n, STATS_KIND_QUEUE,
								 "resilience_queue_name_events_total",
								 "Job queue events, per queue.",
								 ev, queue_events[ev], 1, &emitted);
	emitted = false;
	for (int i = 0; i < n; i++)
	{
		if (copies[i].kind != STATS_KIND_QUEUE || labels[i] == NULL)
			continue;
		if (!emitted)
		{
			stats_append_family(&buf, "resilience_queue_name_pickup_latency_seconds", "histogram",
								"Time from a job becoming runnable to its claim, per queue.");
			emitted = true;
		}
		stats_append_hist(&buf, "resilience_queue_name_pickup_latency_seconds", labels[i],
						  copies[i].buckets, copies[i].sum, 1000000);
	}

	SET_VARSIZE(buf.data, buf.len);
	PG_RETURN_TEXT_P((text *) buf.data);
}

