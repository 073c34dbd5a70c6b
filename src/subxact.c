/*-------------------------------------------------------------------------
 *
 * subxact.c
 *		Work in an internal subtransaction (see subxact.h), shared by the
 *		guards (a lock wait that may time out), retry_statement (an attempt
 *		that may fail), the queue's redrive (an update that may hit a
 *		unique index) and a waiting claim (an attempt that found nothing
 *		gives back the locks its statements took before it sleeps).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/resowner.h"

#include "subxact.h"

/* See subxact.h. */
ErrorData *
subxact_run(SubxactWork work, void *arg, MemoryContext errcxt)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	/* BeginInternalSubTransaction switches to the subtransaction's context */
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		work(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(errcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();
	return edata;
}

/* See subxact.h. */
bool
subxact_run_catching(SubxactWork work, void *arg, int sqlerrcode)
{
	ErrorData  *edata = subxact_run(work, arg, CurrentMemoryContext);

	if (edata == NULL)
		return true;
	if (edata->sqlerrcode != sqlerrcode)
		ReThrowError(edata);
	FreeErrorData(edata);
	return false;
}

/* See subxact.h. */
bool
subxact_run_or_undo(SubxactUndoable work, void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool keep = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		keep = work(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ReThrowError(edata);
	}
	PG_END_TRY();
	if (keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return keep;
}
