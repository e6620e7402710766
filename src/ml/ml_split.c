/*-------------------------------------------------------------------------
 *
 * ml_split.c
 *		The training options, and the hold-out split.
 *
 * The split is seeded and deterministic: a Fisher-Yates shuffle of the
 * row numbers (per class when stratified) from the seed, round(test_size
 * x rows) of them (per class) held out; the training rows keep their
 * original order.
 *
 * src/ml/ml_split.c
 *
 *-------------------------------------------------------------------------
 */

#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "core/dbworker.h"
#include "ml/ml_pg.h"
#include "ml/ml_raw.h"

/* seeded split: test row numbers marked in is_test */
void
MlSplit(const MlOptions *opts, const double *label, int nclasses, int n, bool *is_test)
{
	MlRng		rng;
	int		   *idx = palloc(sizeof(int) * Max(n, 1));
	int			i;

	ml_rng_seed(&rng, opts->seed);
	memset(is_test, 0, n);
	if (opts->test_size <= 0)
		return;
	if (label != NULL && opts->stratify)
	{
		int			c;

		for (c = 0; c < nclasses; c++)
		{
			int			m = 0;
			int			take;

			for (i = 0; i < n; i++)
				if ((int) label[i] == c)
					idx[m++] = i;
			ml_shuffle(&rng, idx, m);
			take = (int) rint(opts->test_size * m);
			if (take >= m && m > 0)
				take = m - 1;	/* every class keeps a training row */
			for (i = 0; i < take; i++)
				is_test[idx[i]] = true;
		}
	}
	else
	{
		int			take;

		for (i = 0; i < n; i++)
			idx[i] = i;
		ml_shuffle(&rng, idx, n);
		take = (int) rint(opts->test_size * n);
		if (take >= n)
			take = n - 1;
		for (i = 0; i < take; i++)
			is_test[idx[i]] = true;
	}
	pfree(idx);
}

void
DwcMlParseOptions(Jsonb *options, MlTask task, MlOptions *out)
{
	out->test_size = 0.25;
	out->seed = 42;
	out->stratify = task == ML_CLASSIFICATION;
	out->impute = false;
	out->missing = false;
	out->nulls_given = false;
	out->native_categorical = false;
	out->max_categories = 100;
	out->test_column = NULL;
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training options must be a JSON object")));
	{
		JsonbIterator *it = JsonbIteratorInit(&options->root);
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			double		d = 0;

			if (tok == WJB_KEY)
			{
				key = pnstrdup(v.val.string.val, v.val.string.len);
				continue;
			}
			if (tok != WJB_VALUE)
				continue;
			if (v.type == jbvNumeric)
				d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
			if (strcmp(key, "test_size") == 0)
			{
				if (v.type != jbvNumeric || !(d >= 0 && d < 1))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("test_size must be a number from 0 to below 1")));
				out->test_size = d;
			}
			else if (strcmp(key, "seed") == 0)
			{
				if (v.type != jbvNumeric || d != floor(d) || d < 0 || d > 9007199254740992.0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("seed must be a non-negative integer")));
				out->seed = (uint64) d;
			}
			else if (strcmp(key, "stratify") == 0)
			{
				if (v.type != jbvBool)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("stratify must be true or false")));
				out->stratify = v.val.boolean && task == ML_CLASSIFICATION;
			}
			else if (strcmp(key, "nulls") == 0)
			{
				char	   *s = v.type == jbvString ? pnstrdup(v.val.string.val, v.val.string.len) : "";

				out->nulls_given = true;
				if (strcmp(s, "impute") == 0)
					out->impute = true;
				else if (strcmp(s, "missing") == 0)
					out->missing = true;
				else if (strcmp(s, "error") == 0)
					out->impute = false;
				else
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("nulls must be \"error\", \"impute\" or \"missing\"")));
			}
			else if (strcmp(key, "max_categories") == 0)
			{
				if (v.type != jbvNumeric || d != floor(d) || d < 1 || d > 100000)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("max_categories must be an integer from 1 to 100000")));
				out->max_categories = (int) d;
			}
			else if (strcmp(key, "test_column") == 0)
			{
				if (v.type == jbvNull)
					out->test_column = NULL;
				else if (v.type != jbvString)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("test_column must be the name of a boolean column")));
				else
					out->test_column = pnstrdup(v.val.string.val, v.val.string.len);
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown training option \"%s\"", key),
						 errhint("The options are test_size, seed, stratify, test_column, nulls and max_categories.")));
		}
	}
}
