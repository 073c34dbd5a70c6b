/*-------------------------------------------------------------------------
 *
 * stats_file.c
 *		The monitoring counters across a clean restart: written by the
 *		postmaster at exit, read when it creates the shared memory.
 *
 * As pg_stat_statements does: the file (STATS_DUMP_FILE) is written only
 * when the postmaster exits normally after a clean shutdown, and read (then
 * removed) only if pg_control says the last shutdown was clean, so after a
 * crash or an immediate shutdown the counts start over.  A file with
 * another magic number, version or layout is ignored with a LOG line.
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


#define STATS_DUMP_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/resilience.stat"
#define STATS_FILE_MAGIC	0x52535431	/* "RST1" */
#define STATS_FILE_VERSION	2	/* 2: names_evicted */

/* ---- the file ---- */

/* the layout a file must match */
typedef struct StatsFileHeader
{
	uint32		magic;
	uint32		version;
	uint32		ncounters;
	uint32		nhists;
	uint32		nbuckets;
	uint32		ngaveup;
	uint32		nnamecounters;
	uint32		nnames;
	int64		since;
	uint64		evicted;		/* names evicted (stats_info's names_evicted) */
} StatsFileHeader;

/* a name in the file */
typedef struct StatsFileName
{
	Oid			dbid;
	uint16		len;
	char		name[SHMEM_NAME_MAX + 1];
	uint64		events;
	uint64		counters[STATS_NAME_NCOUNTERS];
	uint64		buckets[STATS_NBUCKETS];
	uint64		sum;
} StatsFileName;

/*
 * Postmaster exit: write everything to the file, unless this is a crash or
 * an immediate shutdown (code != 0), so those reset the counts.
 */
void
stats_shmem_shutdown(int code, Datum arg)
{
	FILE	   *f;
	StatsFileHeader hdr;
	HASH_SEQ_STATUS status;
	StatsNameEntry *e;
	bool		ok = true;
	uint32		trailer = STATS_FILE_MAGIC;
	StatsTotals totals;

	if (code != 0 || stats_shared == NULL || stats_name_table.htab == NULL)
		return;

	f = AllocateFile(STATS_DUMP_FILE ".tmp", PG_BINARY_W);
	if (f == NULL)
		goto error;

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = STATS_FILE_MAGIC;
	hdr.version = STATS_FILE_VERSION;
	hdr.ncounters = STATS_NCOUNTERS;
	hdr.nhists = STATS_NHISTS;
	hdr.nbuckets = STATS_NBUCKETS;
	hdr.ngaveup = STATS_GAVE_UP_SLOTS;
	hdr.nnamecounters = STATS_NAME_NCOUNTERS;
	hdr.nnames = (uint32) hash_get_num_entries(stats_name_table.htab);
	hdr.since = (int64) pg_atomic_read_u64(&stats_shared->since);
	hdr.evicted = pg_atomic_read_u64(&stats_name_table.header->evicted);
	ok = fwrite(&hdr, sizeof(hdr), 1, f) == 1;
	stats_totals(&totals);
	for (int i = 0; ok && i < STATS_NCOUNTERS; i++)
		ok = fwrite(&totals.counters[i], sizeof(uint64), 1, f) == 1;
	for (int h = 0; ok && h < STATS_NHISTS; h++)
		ok = fwrite(totals.buckets[h], sizeof(totals.buckets[h]), 1, f) == 1 &&
			fwrite(&totals.sums[h], sizeof(uint64), 1, f) == 1;
	for (int i = 0; ok && i < STATS_GAVE_UP_SLOTS; i++)
	{
		uint32		key = pg_atomic_read_u32(&stats_shared->gave_up[i].key);
		uint64		calls = pg_atomic_read_u64(&stats_shared->gave_up[i].calls);

		ok = fwrite(&key, sizeof(key), 1, f) == 1 &&
			fwrite(&calls, sizeof(calls), 1, f) == 1;
	}
	if (ok)
	{
		uint64		other = pg_atomic_read_u64(&stats_shared->gave_up_other);

		ok = fwrite(&other, sizeof(other), 1, f) == 1;
	}

	/* the postmaster is alone now: no locks needed */
	hash_seq_init(&status, stats_name_table.htab);
	while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
	{
		StatsFileName fn;

		if (!ok)
		{
			hash_seq_term(&status);
			break;
		}
		memset(&fn, 0, sizeof(fn));
		fn.dbid = e->key.dbid;
		fn.len = e->key.len;
		memcpy(fn.name, e->key.name, e->key.len);
		fn.events = pg_atomic_read_u64(&e->events);
		for (int j = 0; j < STATS_NAME_NCOUNTERS; j++)
			fn.counters[j] = pg_atomic_read_u64(&e->counters[j]);
		stats_hist_read(&e->hist, fn.buckets, &fn.sum);
		ok = fwrite(&fn, sizeof(fn), 1, f) == 1;
	}
	if (ok)
		ok = fwrite(&trailer, sizeof(trailer), 1, f) == 1;
	if (!ok)
		goto error;
	if (FreeFile(f))
	{
		f = NULL;
		goto error;
	}
	(void) durable_rename(STATS_DUMP_FILE ".tmp", STATS_DUMP_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", STATS_DUMP_FILE ".tmp")));
	if (f)
		FreeFile(f);
	unlink(STATS_DUMP_FILE ".tmp");
}

/* read a histogram's values */
static bool
stats_read_hist(FILE *f, StatsHist *h)
{
	uint64		v[STATS_NBUCKETS + 1];

	if (fread(v, sizeof(v), 1, f) != 1)
		return false;
	for (int b = 0; b < STATS_NBUCKETS; b++)
		pg_atomic_write_u64(&h->buckets[b], v[b]);
	pg_atomic_write_u64(&h->sum, v[STATS_NBUCKETS]);
	return true;
}

/*
 * Postmaster start: load the file written at the last clean shutdown, then
 * remove it, so a crash before the next clean shutdown starts from zero.
 */
void
stats_load(void)
{
	FILE	   *f;
	StatsFileHeader hdr;
	uint32		trailer = 0;
	uint32		loaded = 0;
	ControlFileData *control;
	bool		crc_ok;

	/*
	 * Only a clean shutdown leaves pg_control saying so: after an immediate
	 * shutdown or a crash the file (if any) is stale, as is the rest of
	 * the statistics, which PostgreSQL discards then too.
	 */
	control = get_controlfile(DataDir, &crc_ok);
	if (!crc_ok || (control->state != DB_SHUTDOWNED &&
					control->state != DB_SHUTDOWNED_IN_RECOVERY))
	{
		pfree(control);
		unlink(STATS_DUMP_FILE);
		return;
	}
	pfree(control);

	f = AllocateFile(STATS_DUMP_FILE, PG_BINARY_R);
	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", STATS_DUMP_FILE)));
		return;
	}
	if (fread(&hdr, sizeof(hdr), 1, f) != 1 ||
		hdr.magic != STATS_FILE_MAGIC || hdr.version != STATS_FILE_VERSION ||
		hdr.ncounters != STATS_NCOUNTERS || hdr.nhists != STATS_NHISTS ||
		hdr.nbuckets != STATS_NBUCKETS || hdr.ngaveup != STATS_GAVE_UP_SLOTS ||
		hdr.nnamecounters != STATS_NAME_NCOUNTERS ||
		!IS_VALID_TIMESTAMP(hdr.since))
		goto bad;
	pg_atomic_write_u64(&stats_shared->since, (uint64) hdr.since);
	pg_atomic_write_u64(&stats_name_table.header->evicted, hdr.evicted);
	for (int i = 0; i < STATS_NCOUNTERS; i++)
	{
		uint64		v;

		if (fread(&v, sizeof(v), 1, f) != 1)
			goto bad;
		pg_atomic_write_u64(&stats_shared->counters[i], v);
	}
	for (int h = 0; h < STATS_NHISTS; h++)
		if (!stats_read_hist(f, &stats_shared->hists[h]))
			goto bad;
	for (int i = 0; i < STATS_GAVE_UP_SLOTS; i++)
	{
		uint32		key;
		uint64		calls;

		if (fread(&key, sizeof(key), 1, f) != 1 ||
			fread(&calls, sizeof(calls), 1, f) != 1)
			goto bad;
		pg_atomic_write_u32(&stats_shared->gave_up[i].key, key);
		pg_atomic_write_u64(&stats_shared->gave_up[i].calls, calls);
	}
	{
		uint64		other;

		if (fread(&other, sizeof(other), 1, f) != 1)
			goto bad;
		pg_atomic_write_u64(&stats_shared->gave_up_other, other);
	}
	for (uint32 i = 0; i < hdr.nnames; i++)
	{
		StatsFileName fn;
		ShmemKey	key;
		StatsNameEntry *e;
		bool		found;

		if (fread(&fn, sizeof(fn), 1, f) != 1 || fn.len < 1 || fn.len > SHMEM_NAME_MAX)
			goto bad;
		if (loaded >= (uint32) *stats_name_table.max_entries)
			continue;			/* the setting was lowered: keep the first */
		key.dbid = fn.dbid;
		key.len = fn.len;
		memcpy(key.name, fn.name, fn.len);
		key.name[fn.len] = '\0';
		e = hash_search(stats_name_table.htab, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
			continue;
		if (!found)
		{
			stats_name_init(e);
			pg_atomic_fetch_add_u32(&stats_name_table.header->count, 1);
			loaded++;
		}
		pg_atomic_write_u64(&e->events, fn.events);
		for (int j = 0; j < STATS_NAME_NCOUNTERS; j++)
			pg_atomic_write_u64(&e->counters[j], fn.counters[j]);
		for (int b = 0; b < STATS_NBUCKETS; b++)
			pg_atomic_write_u64(&e->hist.buckets[b], fn.buckets[b]);
		pg_atomic_write_u64(&e->hist.sum, fn.sum);
	}
	if (fread(&trailer, sizeof(trailer), 1, f) != 1 || trailer != STATS_FILE_MAGIC)
		goto bad;
	FreeFile(f);
	unlink(STATS_DUMP_FILE);
	return;

bad:
	ereport(LOG,
			(errmsg("ignoring resilience statistics file \"%s\": not written by this version, or truncated",
					STATS_DUMP_FILE)));
	FreeFile(f);
	unlink(STATS_DUMP_FILE);
	/* start from zero rather than from half a file */
	stats_zero();
	pg_atomic_write_u64(&stats_name_table.header->evicted, 0);
	pg_atomic_write_u64(&stats_shared->since, (uint64) GetCurrentTimestamp());
	{
		HASH_SEQ_STATUS status;
		StatsNameEntry *e;

		hash_seq_init(&status, stats_name_table.htab);
		while ((e = (StatsNameEntry *) hash_seq_search(&status)) != NULL)
		{
			hash_search(stats_name_table.htab, &e->key, HASH_REMOVE, NULL);
			pg_atomic_sub_fetch_u32(&stats_name_table.header->count, 1);
		}
	}
}

