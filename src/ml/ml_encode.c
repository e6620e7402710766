/*-------------------------------------------------------------------------
 *
 * ml_encode.c
 *		Encoding training data for a model: text one-hot (levels sorted
 *		bytewise), class labels, NULL features refused or imputed, the split
 *		applied and, when asked, standardisation.
 *
 * NULL features are refused, or, with nulls => 'impute', replaced by the
 * training rows' mean (numbers) or most frequent level (text), the value
 * kept with the model for predictions; or, with nulls => 'missing'
 * (gradient boosting), kept as missing: NaN for a number, no level at all
 * for text, the "imputed" value NaN saying so to predictions.  For gradient
 * boosting, a text column of at most 255 levels is one input, its level
 * number (native), split by sets of levels; other models, and more levels,
 * one-hot.  Class labels are sorted as their
 * type sorts (numbers numerically, text bytewise, false before true).
 * Standardisation (mean 0, variance 1; a constant input keeps scale 1) is
 * fitted on the training rows only.
 *
 * src/ml/ml_encode.c
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

typedef struct LevelSort
{
	char	   *text;
	int			old;
} LevelSort;

static int
cmp_level(const void *a, const void *b)
{
	return strcmp(((const LevelSort *) a)->text, ((const LevelSort *) b)->text);
}

/* renumber a categorical column's levels in sorted order */
static void
sort_levels(RawColumn *c, int nrows)
{
	LevelSort  *ls = palloc(sizeof(LevelSort) * Max(c->nlevels, 1));
	char	  **sorted = palloc(sizeof(char *) * Max(c->nlevels, 1));
	int		   *map = palloc(sizeof(int) * Max(c->nlevels, 1));
	int			i;

	for (i = 0; i < c->nlevels; i++)
	{
		ls[i].text = c->level_text[i];
		ls[i].old = i;
	}
	qsort(ls, c->nlevels, sizeof(LevelSort), cmp_level);
	for (i = 0; i < c->nlevels; i++)
	{
		sorted[i] = ls[i].text;
		map[ls[i].old] = i;
	}
	for (i = 0; i < nrows; i++)
		if (!c->null[i])
			c->num[i] = map[(int) c->num[i]];
	c->level_text = sorted;
	pfree(ls);
	pfree(map);
}

typedef struct LabelSort
{
	double		value;
	int			old;
} LabelSort;

static int
cmp_label(const void *a, const void *b)
{
	double		x = ((const LabelSort *) a)->value;
	double		y = ((const LabelSort *) b)->value;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* class labels: their sorted list, and the target as class numbers */
static char **
encode_labels(RawTable *t, int *nclasses)
{
	RawColumn  *c = t->target;
	char	  **labels;
	int			i;

	if (c->kind == ML_COL_CATEGORICAL)
	{
		sort_levels(c, t->nrows);
		*nclasses = c->nlevels;
		return c->level_text;
	}
	else
	{
		/* numbers: distinct values, sorted numerically */
		LabelSort  *ls = palloc(sizeof(LabelSort) * t->nrows);
		double	   *distinct;
		int			nd = 0;

		for (i = 0; i < t->nrows; i++)
		{
			ls[i].value = c->num[i];
			ls[i].old = i;
		}
		qsort(ls, t->nrows, sizeof(LabelSort), cmp_label);
		distinct = palloc(sizeof(double) * t->nrows);
		for (i = 0; i < t->nrows; i++)
		{
			if (nd == 0 || ls[i].value != distinct[nd - 1])
			{
				if (nd >= 100000)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("target column \"%s\" has more than 100000 classes", c->name),
							 errhint("A numeric target with many values is a regression target.")));
				distinct[nd++] = ls[i].value;
			}
			c->num[ls[i].old] = nd - 1;
		}
		labels = palloc(sizeof(char *) * Max(nd, 1));
		for (i = 0; i < nd; i++)
		{
			if (t->label_kind == ML_LABEL_BOOL)
				labels[i] = pstrdup(distinct[i] != 0 ? "true" : "false");
			else
				labels[i] = DatumGetCString(DirectFunctionCall1(float8out, Float8GetDatum(distinct[i])));
		}
		*nclasses = nd;
		return labels;
	}
}

/*
 * Training data, ready for a model: read from source (a relation or a
 * query) or rows (a JSON array), encoded with a schema, split and, when
 * asked, standardised.
 */
MlPrepared *
DwcMlPrepare(const char *source, Jsonb *rows, const char *target, ArrayType *features, MlTask task,
			 const MlOptions *opts, bool standardize, Oid caller)
{
	RawTable   *t = source ? MlReadSql(source, target, features, task, opts, caller)
		: MlReadJson(rows, target, features, task, opts);
	MlPrepared *pr = palloc0(sizeof(MlPrepared));
	MlSchema   *s = palloc0(sizeof(MlSchema));
	int			n = t->nrows;
	bool	   *is_test;
	int			ntest = 0,
				ntrain;
	double	   *label = NULL;
	int			p = 0;
	int			i,
				j,
				r;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training data has no rows")));
	pr->schema = s;
	pr->nrows = n;
	pr->nfeatures = t->ncols;
	pr->features = palloc(sizeof(char *) * t->ncols);

	if (task == ML_CLASSIFICATION)
	{
		s->classes = encode_labels(t, &s->nclasses);
		s->label_kind = t->label_kind;
		if (s->nclasses < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the target column \"%s\" has a single class (%s); classification needs at least two",
							target, s->classes[0])));
		label = t->target->num;
	}
	if (task != ML_CLUSTERING)
		s->target = pstrdup(target);

	/* columns: levels sorted, NULLs checked */
	s->ncols = t->ncols;
	s->cols = palloc0(sizeof(MlColumn) * t->ncols);
	for (i = 0; i < t->ncols; i++)
	{
		RawColumn  *c = &t->cols[i];
		MlColumn   *mc = &s->cols[i];

		pr->features[i] = c->name;
		if (c->nnull == n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" has only NULL values", c->name),
					 errhint("Leave it out of the features.")));
		if (c->nnull > 0 && !opts->impute && !opts->missing)
		{
			for (r = 0; r < n && !c->null[r]; r++)
				;
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column \"%s\" is NULL in row %d (and %d rows in all)", c->name, r + 1, c->nnull),
					 errhint("Filter or fill the NULLs in the source, or train with the option nulls => 'impute'.")));
		}
		mc->name = c->name;
		mc->kind = c->kind;
		mc->offset = p;
		if (c->kind == ML_COL_CATEGORICAL)
		{
			sort_levels(c, n);
			mc->nlevels = c->nlevels;
			mc->levels = c->level_text;
			mc->native = opts->native_categorical && c->nlevels < ML_MAX_LEVEL_SPLIT;
			p += mc->native ? 1 : c->nlevels;
		}
		else
			p++;
	}
	s->p = p;

	is_test = palloc(Max(n, 1));
	if (opts->test_column)
		memcpy(is_test, t->holdout, n);
	else
		MlSplit(opts, label, s->nclasses, n, is_test);
	for (i = 0; i < n; i++)
		ntest += is_test[i];
	ntrain = n - ntest;
	if (ntrain == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every row is a test row: nothing is left to train on")));

	/* imputation from the training rows */
	for (i = 0; i < t->ncols; i++)
	{
		RawColumn  *c = &t->cols[i];
		MlColumn   *mc = &s->cols[i];

		/* kept missing: every column, so that any may be missing when predicting */
		if (c->nnull == 0 && !opts->missing)
			continue;
		mc->has_impute = true;
		if (opts->missing)
			mc->impute = NAN;	/* kept missing */
		else if (c->kind == ML_COL_NUMERIC)
		{
			double		sum = 0;
			int			cnt = 0;

			for (r = 0; r < n; r++)
				if (!is_test[r] && !c->null[r])
				{
					sum += c->num[r];
					cnt++;
				}
			if (cnt == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" has only NULL values in the training rows", c->name)));
			mc->impute = sum / cnt;
		}
		else
		{
			int		   *cnt = palloc0(sizeof(int) * c->nlevels);
			int			best = 0;

			for (r = 0; r < n; r++)
				if (!is_test[r] && !c->null[r])
					cnt[(int) c->num[r]]++;
			for (j = 1; j < c->nlevels; j++)
				if (cnt[j] > cnt[best])
					best = j;
			mc->impute = best;
		}
	}

	/* the encoded matrices, column-major */
	pr->train.n = ntrain;
	pr->train.p = p;
	pr->train.x = palloc_extended(sizeof(double) * (size_t) ntrain * p, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	pr->test.n = ntest;
	pr->test.p = p;
	pr->test.x = palloc_extended(sizeof(double) * (size_t) Max(ntest, 1) * p, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	if (task != ML_CLUSTERING)
	{
		pr->train.y = palloc_extended(sizeof(double) * Max(ntrain, 1), MCXT_ALLOC_HUGE);
		pr->test.y = palloc_extended(sizeof(double) * Max(ntest, 1), MCXT_ALLOC_HUGE);
	}
	for (i = 0; i < t->ncols; i++)
	{
		RawColumn  *c = &t->cols[i];
		MlColumn   *mc = &s->cols[i];
		int			a = 0,
					b = 0;

		DWC_CHECK_FOR_INTERRUPTS();
		for (r = 0; r < n; r++)
		{
			MlData	   *dst = is_test[r] ? &pr->test : &pr->train;
			int			row = is_test[r] ? b++ : a++;
			double		v = c->null[r] ? mc->impute : c->num[r];

			if (c->kind == ML_COL_NUMERIC || mc->native)
				dst->x[(size_t) mc->offset * dst->n + row] = v;	/* a number, or a level's number */
			else if (!isnan(v))
				dst->x[(size_t) (mc->offset + (int) v) * dst->n + row] = 1.0;
		}
	}
	/* which inputs are level numbers, for the learner */
	{
		int		   *levels_of = palloc0(sizeof(int) * Max(p, 1));
		bool		any = false;

		for (i = 0; i < t->ncols; i++)
			if (s->cols[i].native)
			{
				levels_of[s->cols[i].offset] = s->cols[i].nlevels;
				any = true;
			}
		pr->train.levels_of = any ? levels_of : NULL;
		pr->test.levels_of = pr->train.levels_of;
	}
	if (task != ML_CLUSTERING)
	{
		int			a = 0,
					b = 0;

		for (r = 0; r < n; r++)
		{
			if (is_test[r])
				pr->test.y[b++] = t->target->num[r];
			else
				pr->train.y[a++] = t->target->num[r];
		}
	}

	if (standardize)
	{
		s->mean = palloc(sizeof(double) * p);
		s->scale = palloc(sizeof(double) * p);
		for (j = 0; j < p; j++)
		{
			double	   *col = pr->train.x + (size_t) j * ntrain;
			double		mean = 0,
						ss = 0;

			int			known = 0;

			if (pr->train.levels_of && pr->train.levels_of[j] > 0)
			{
				/* a level number is no quantity */
				s->mean[j] = 0;
				s->scale[j] = 1;
				continue;
			}
			/* missing values (NaN) stay missing and are left out of the moments */
			for (r = 0; r < ntrain; r++)
				if (!isnan(col[r]))
				{
					mean += col[r];
					known++;
				}
			mean /= Max(known, 1);
			for (r = 0; r < ntrain; r++)
				if (!isnan(col[r]))
					ss += (col[r] - mean) * (col[r] - mean);
			s->mean[j] = mean;
			s->scale[j] = ss > 0 ? sqrt(ss / Max(known, 1)) : 1.0;
			for (r = 0; r < ntrain; r++)
				col[r] = (col[r] - mean) / s->scale[j];
			col = pr->test.x + (size_t) j * ntest;
			for (r = 0; r < ntest; r++)
				col[r] = (col[r] - mean) / s->scale[j];
		}
	}
	return pr;
}
