/*-------------------------------------------------------------------------
 *
 * subxact.h
 *		Running a piece of work in an internal subtransaction, so that an
 *		error it raises can be survived, as a PL/pgSQL EXCEPTION block does.
 *
 * Invariants of subxact_run():
 *  - on success the subtransaction is released into the caller's: its
 *    locks and any xact-scope state move to the caller's resource owner;
 *  - on an error the subtransaction is rolled back (its locks released,
 *    nested SPI connections and snapshots unwound), the error state is
 *    flushed and the error comes back copied into errcxt;
 *  - either way the memory context and resource owner current at the call
 *    are current again on return.
 * Invariants of subxact_run_or_undo():
 *  - work(arg) decides: true releases the subtransaction into the
 *    caller's, false rolls it back, releasing every lock it took (a table
 *    lock the caller already held stays held);
 *  - an error rolls the subtransaction back and is raised again, so an
 *    enclosing handler (a PL/pgSQL EXCEPTION block) unwinds only its own.
 * Call them only where a PL/pgSQL EXCEPTION block could run; never in
 * parallel mode.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RESILIENCE_SUBXACT_H
#define RESILIENCE_SUBXACT_H

#include "postgres.h"

#include "utils/elog.h"
#include "utils/palloc.h"

typedef void (*SubxactWork) (void *arg);

/* work(arg) in a subtransaction: NULL if it succeeded, else its error */
extern ErrorData *subxact_run(SubxactWork work, void *arg, MemoryContext errcxt);

/*
 * work(arg) in a subtransaction: true if it succeeded, false if it raised
 * sqlerrcode (rolled back); any other error is raised again.
 */
extern bool subxact_run_catching(SubxactWork work, void *arg, int sqlerrcode);

/* work(arg) in a subtransaction, kept only if work returns true */
typedef bool (*SubxactUndoable) (void *arg);
extern bool subxact_run_or_undo(SubxactUndoable work, void *arg);

#endif							/* RESILIENCE_SUBXACT_H */
