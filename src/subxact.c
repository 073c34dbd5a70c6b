/*-------------------------------------------------------------------------
 *
 * subxact.c
 *		Work in an internal subtransaction (see subxact.h), shared by the
 *		guards (a lock wait that may time out), retry_statement (an attempt
 *		that may fail) and the queue's redrive (an update that may hit a
 *		unique index).
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
