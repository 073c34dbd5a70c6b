/*-------------------------------------------------------------------------
 *
 * shim.c
 *		The server functions the cursor codec can reach, outside the server.
 *
 * cursor_codec.c and sha256.c call no server function but the assertion
 * handler (they are built with assertions in the fuzz harness): here it
 * reports and aborts, which libFuzzer records as a crash with its input.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

/* the real stdio, not libpgport's replacements (not linked here) */
#undef fprintf
#undef snprintf

#if PG_VERSION_NUM >= 160000
void
ExceptionalCondition(const char *conditionName, const char *fileName, int lineNumber)
{
	fprintf(stderr, "TRAP: failed Assert(\"%s\"), File: \"%s\", Line: %d\n",
			conditionName, fileName, lineNumber);
	abort();
}
#else
void
ExceptionalCondition(const char *conditionName, const char *errorType,
					 const char *fileName, int lineNumber)
{
	fprintf(stderr, "TRAP: %s(\"%s\"), File: \"%s\", Line: %d\n",
			errorType, conditionName, fileName, lineNumber);
	abort();
}
#endif
