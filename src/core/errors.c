/*-------------------------------------------------------------------------
 *
 * errors.c
 *		Error helpers shared by dwc's SQL-callable functions.
 *
 * src/core/errors.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/errors.h"

/*
 * Report an invalid argument value.  The value is quoted in the message so
 * that an empty string or trailing blanks are visible.
 */
void
DwcInvalidArgument(const char *name, const char *value, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for %s: \"%s\"", name, value),
			 detail ? errdetail_internal("%s", detail) : 0));
}
