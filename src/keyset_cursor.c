/*-------------------------------------------------------------------------
 *
 * keyset_cursor.c
 *		Encoding and decoding keyset cursors, with the messages raised
 *		meanwhile held until the client encoding is the client's again.
 *
 * cursor_encode() and cursor_decode() set the client encoding to the
 * server's while they call the key types' send and receive functions (so
 * that text travels in the server's encoding).  A message below ERROR raised
 * meanwhile, say a NOTICE from PL/pgSQL in a domain's CHECK, would be sent
 * to the client then, unconverted.  So while a window is open such messages
 * are held back (emit_log_hook turns their client output off and keeps a
 * copy) and raised again once the encoding is the client's again; an ERROR
 * is sent only after the window has been left, so it needs nothing.  The
 * hook only sees messages that go to the server log, so log_min_messages is
 * DEBUG5 while a window is open, and the hook gives each message the server
 * log destination the real setting gives it.  Nothing is held, and nothing
 * changes, when the client and server encodings are the same (cursor.c
 * switches nothing then).  Windows nest (a receive function can run a page
 * query); held messages are raised when the outermost one closes, also when
 * it closes with an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "keyset_int.h"

static emit_log_hook_type keyset_prev_emit_log_hook = NULL;
static bool keyset_hook_installed = false;
static int	keyset_hold_depth = 0;
static int	keyset_hold_log_min_messages;
static bool keyset_hold_replaying = false;
static List *keyset_held = NIL;			/* ErrorData, in keyset_held_cxt */
static MemoryContext keyset_held_cxt = NULL;

/* Whether elevel goes to the server log under log_min_messages = level (elog.c's rule). */
static bool
keyset_log_level_output(int elevel, int level)
{
	if (elevel == LOG || elevel == LOG_SERVER_ONLY)
		return level == LOG || level <= ERROR;
	if (elevel == WARNING_CLIENT_ONLY)
		return false;
	if (level == LOG)
		return elevel >= FATAL;
	return elevel >= level;
}

/* emit_log_hook: hold client messages while a window is open. */
static void
keyset_emit_log_hook(ErrorData *edata)
{
	if (keyset_hold_replaying)
	{
		/* already logged (or not) when it was raised */
		edata->output_to_server = false;
		return;
	}
	if (keyset_hold_depth > 0)
	{
		edata->output_to_server = keyset_log_level_output(edata->elevel,
														  keyset_hold_log_min_messages);
		if (edata->elevel < ERROR && edata->output_to_client)
		{
			MemoryContext old = MemoryContextSwitchTo(keyset_held_cxt);

			keyset_held = lappend(keyset_held, CopyErrorData());
			MemoryContextSwitchTo(old);
			edata->output_to_client = false;
		}
		if (!edata->output_to_server)
			return;
	}
	if (keyset_prev_emit_log_hook)
		keyset_prev_emit_log_hook(edata);
}

/* Open a window; false if there is nothing to hold (same encodings). */
static bool
keyset_hold_begin(void)
{
	if (pg_get_client_encoding() == GetDatabaseEncoding())
		return false;
	if (!keyset_hook_installed)
	{
		keyset_held_cxt = AllocSetContextCreate(TopMemoryContext,
												"resilience held messages",
												ALLOCSET_SMALL_SIZES);
		keyset_prev_emit_log_hook = emit_log_hook;
		emit_log_hook = keyset_emit_log_hook;
		keyset_hook_installed = true;
	}
	if (keyset_hold_depth++ == 0)
	{
		/* a replay cut short by an error (out of memory) must not linger */
		keyset_hold_replaying = false;
		keyset_hold_log_min_messages = log_min_messages;
		log_min_messages = DEBUG5;
	}
	return true;
}

/* After the replay (also while its error unwinds): undo what keyset_hold_end set. */
static void
keyset_hold_replayed(ErrorContextCallback *context)
{
	RESUME_INTERRUPTS();
	keyset_hold_replaying = false;
	error_context_stack = context;
	MemoryContextReset(keyset_held_cxt);
}

/* Close a window (also while an error unwinds); the outermost raises what it held. */
static void
keyset_hold_end(void)
{
	List	   *held;
	ListCell   *lc;
	ErrorContextCallback *context = error_context_stack;

	Assert(keyset_hold_depth > 0);
	if (--keyset_hold_depth > 0)
		return;
	log_min_messages = keyset_hold_log_min_messages;
	held = keyset_held;
	keyset_held = NIL;
	/*
	 * Each held message has its context already.  Interrupts are held while
	 * they are raised again: errfinish() checks for interrupts, and a cancel
	 * thrown from here would leave replaying set (the hook would then keep
	 * every later message out of the server log); the cancel is serviced at
	 * the next CHECK_FOR_INTERRUPTS instead.
	 */
	error_context_stack = NULL;
	keyset_hold_replaying = true;
	HOLD_INTERRUPTS();
	/*
	 * PG_CATCH and a second call rather than PG_FINALLY: PG_FINALLY's own flag
	 * draws -Wclobbered from gcc in builds without assertions.
	 */
	PG_TRY();
	{
		foreach(lc, held)
			ThrowErrorData((ErrorData *) lfirst(lc));
	}
	PG_CATCH();
	{
		keyset_hold_replayed(context);
		PG_RE_THROW();
	}
	PG_END_TRY();
	keyset_hold_replayed(context);
}

/* cursor_decode() for spec, with messages held. */
void
keyset_cursor_decode(const KeysetSpec *spec, text *c, Datum *vals, bool *nulls)
{
	if (!keyset_hold_begin())
	{
		cursor_decode(VARDATA_ANY(c), VARSIZE_ANY_EXHDR(c), spec->fingerprint, spec->ncols,
					  (FmgrInfo *) spec->recv, spec->typioparams, spec->typmods,
					  spec->typnames, vals, nulls);
		return;
	}
	PG_TRY();
	{
		cursor_decode(VARDATA_ANY(c), VARSIZE_ANY_EXHDR(c), spec->fingerprint, spec->ncols,
					  (FmgrInfo *) spec->recv, spec->typioparams, spec->typmods,
					  spec->typnames, vals, nulls);
	}
	PG_FINALLY();
	{
		keyset_hold_end();
	}
	PG_END_TRY();
}

/* cursor_encode() for spec, with messages held. */
char *
keyset_cursor_encode(const KeysetSpec *spec, const Datum *vals, const bool *nulls)
{
	char	   *volatile res = NULL;

	if (!keyset_hold_begin())
		return cursor_encode(spec->fingerprint, spec->ncols, (FmgrInfo *) spec->send, vals, nulls);
	PG_TRY();
	{
		res = cursor_encode(spec->fingerprint, spec->ncols, (FmgrInfo *) spec->send, vals, nulls);
	}
	PG_FINALLY();
	{
		keyset_hold_end();
	}
	PG_END_TRY();
	return res;
}
