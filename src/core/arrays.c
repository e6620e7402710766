/*-------------------------------------------------------------------------
 *
 * arrays.c
 *		One-dimensional arrays of Datums, as batch writers pass their
 *		columns to INSERT ... SELECT FROM unnest() (the queue's outcomes and
 *		enqueue_many, the AI call log, metrics).
 *
 * src/core/arrays.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/array.h"
#include "utils/lsyscache.h"

#include "core/arrays.h"

Datum
DwcArrayDatum(Datum *values, bool *nulls, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs, type, typlen, typbyval, typalign));
}
