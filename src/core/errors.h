/*-------------------------------------------------------------------------
 *
 * errors.h
 *		Error helpers shared by dwc's SQL-callable functions.
 *
 * dwc reports bad input with ereport(ERROR) and a standard SQLSTATE, so that
 * SQL callers can catch it and PostgREST can map it to an HTTP status
 * (22xxx -> 400, 42501 -> 403, P0002 -> 404, 23505 -> 409 ...).  These
 * helpers keep the wording of the most common cases identical everywhere.
 *
 * src/core/errors.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ERRORS_H
#define DWC_ERRORS_H

#include "fmgr.h"
#include "utils/elog.h"

/*
 * Raise "argument NAME must not be null" when argument N of a non-strict
 * function is NULL.  Use in functions declared without STRICT because some of
 * their arguments may be NULL.
 */
#define DWC_REQUIRE_ARG(n, name) \
	do { \
		if (PG_ARGISNULL(n)) \
			ereport(ERROR, \
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), \
					 errmsg("argument \"%s\" must not be null", (name)))); \
	} while (0)

/* Text argument N as a palloc'd C string, or NULL when the argument is NULL. */
#define DWC_TEXT_ARG_OR_NULL(n) \
	(PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n)))

/* Raise "invalid value for NAME: "VALUE"" with a detail sentence. */
extern void DwcInvalidArgument(const char *name, const char *value,
							   const char *detail) pg_attribute_noreturn();

#endif							/* DWC_ERRORS_H */
