/*-------------------------------------------------------------------------
 *
 * arrays.h
 *		One-dimensional arrays of Datums, as batch writers pass their
 *		columns to INSERT ... SELECT FROM unnest().
 *
 * src/core/arrays.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ARRAYS_H
#define DWC_ARRAYS_H

#include "postgres.h"

/* an array of n values of type (nulls may be NULL: none), as a Datum */
extern Datum DwcArrayDatum(Datum *values, bool *nulls, int n, Oid type);

#endif							/* DWC_ARRAYS_H */
