/*-------------------------------------------------------------------------
 *
 * df.c
 *		Document frequencies of embedding dimensions (for TF-IDF search).
 *
 * src/chain/df.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

PG_FUNCTION_INFO_V1(dwc__df_add);

/*
 * dwc._df_add(df int8[], embedding real[], delta int) returns int8[]: df with
 * delta added at each dimension where the embedding is not zero.
 */
Datum
dwc__df_add(PG_FUNCTION_ARGS)
{
	ArrayType  *df = PG_GETARG_ARRAYTYPE_P_COPY(0);
	ArrayType  *emb = PG_GETARG_ARRAYTYPE_P(1);
	int32		delta = PG_GETARG_INT32(2);
	int			n;
	int64	   *d;
	float4	   *e;
	int			i;

	if (ARR_NDIM(df) != 1 || ARR_ELEMTYPE(df) != INT8OID || ARR_HASNULL(df) ||
		ARR_NDIM(emb) != 1 || ARR_ELEMTYPE(emb) != FLOAT4OID || ARR_HASNULL(emb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("document frequencies and embedding must be one-dimensional arrays without nulls")));
	n = ARR_DIMS(df)[0];
	if (ARR_DIMS(emb)[0] != n)
		PG_RETURN_ARRAYTYPE_P(df);	/* another embedding space: not counted */
	d = (int64 *) ARR_DATA_PTR(df);
	e = (float4 *) ARR_DATA_PTR(emb);
	for (i = 0; i < n; i++)
	{
		if (e[i] != 0)
			d[i] = Max(d[i] + delta, 0);
	}
	PG_RETURN_ARRAYTYPE_P(df);
}
