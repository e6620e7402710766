/*-------------------------------------------------------------------------
 *
 * ml_describe.c
 *		Models described as JSON: the jsonb-building helpers of the ML
 *		subsystem, a model's hyperparameters as stored with each version,
 *		and dwc.ml_artifact_info(), what an artifact holds.
 *
 * src/ml/ml_describe.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "ml/ml_pg.h"

PG_FUNCTION_INFO_V1(dwc_ml_artifact_info);

void
ml_put_key(JsonbParseState **st, const char *k)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = unconstify(char *, k);
	v.val.string.len = strlen(k);
	pushJsonbValue(st, WJB_KEY, &v);
}

void
ml_put_num(JsonbParseState **st, const char *k, double d)
{
	JsonbValue	v;

	ml_put_key(st, k);
	if (isfinite(d))
	{
		v.type = jbvNumeric;
		v.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(d)));
	}
	else
		v.type = jbvNull;
	pushJsonbValue(st, WJB_VALUE, &v);
}

void
ml_put_str(JsonbParseState **st, const char *k, const char *s)
{
	JsonbValue	v;

	ml_put_key(st, k);
	if (s)
	{
		v.type = jbvString;
		v.val.string.val = unconstify(char *, s);
		v.val.string.len = strlen(s);
	}
	else
		v.type = jbvNull;
	pushJsonbValue(st, WJB_VALUE, &v);
}

void
ml_put_jsonb(JsonbParseState **st, const char *k, Jsonb *j)
{
	JsonbValue	v;

	ml_put_key(st, k);
	if (j)
	{
		v.type = jbvBinary;
		v.val.binary.data = &j->root;
		v.val.binary.len = VARSIZE(j) - VARHDRSZ;
	}
	else
		v.type = jbvNull;
	pushJsonbValue(st, WJB_VALUE, &v);
}

void
ml_put_bool(JsonbParseState **st, const char *k, bool b)
{
	JsonbValue	v;

	ml_put_key(st, k);
	v.type = jbvBool;
	v.val.boolean = b;
	pushJsonbValue(st, WJB_VALUE, &v);
}

void
ml_put_strings(JsonbParseState **st, const char *k, char **strs, int n)
{
	int			i;

	ml_put_key(st, k);
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		JsonbValue	v;

		v.type = jbvString;
		v.val.string.val = strs[i];
		v.val.string.len = strlen(strs[i]);
		pushJsonbValue(st, WJB_ELEM, &v);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/* the model's class labels, as JSON values of the target's type */
void
ml_put_labels(JsonbParseState **st, const char *k, const MlModel *m, const MlSchema *s)
{
	int			i;

	ml_put_key(st, k);
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < m->nclasses; i++)
	{
		Jsonb	   *lj = DwcMlLabelJsonb(m, s, i);
		JsonbValue	v;

		v.type = jbvBinary;
		v.val.binary.data = &lj->root;
		v.val.binary.len = VARSIZE(lj) - VARHDRSZ;
		pushJsonbValue(st, WJB_ELEM, &v);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/* the hyperparameters as trained (the model's, with what the algorithm took by default) */
Jsonb *
ml_params_jsonb(const MlModel *m)
{
	JsonbParseState *st = NULL;
	const MlParams *p = &m->params;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	switch (m->algorithm)
	{
		case ML_RIDGE:
			ml_put_num(&st, "alpha", p->alpha);
			ml_put_bool(&st, "fit_intercept", p->fit_intercept);
			break;
		case ML_LINEAR_REGRESSION:
			ml_put_bool(&st, "fit_intercept", p->fit_intercept);
			break;
		case ML_LASSO:
		case ML_ELASTIC_NET:
			ml_put_num(&st, "alpha", p->alpha);
			if (m->algorithm == ML_ELASTIC_NET)
				ml_put_num(&st, "l1_ratio", p->l1_ratio);
			ml_put_bool(&st, "fit_intercept", p->fit_intercept);
			ml_put_num(&st, "max_iter", p->max_iter > 0 ? p->max_iter : 1000);
			ml_put_num(&st, "tol", p->tol >= 0 ? p->tol : 1e-4);
			break;
		case ML_LOGISTIC_REGRESSION:
			ml_put_num(&st, "C", p->C);
			ml_put_bool(&st, "fit_intercept", p->fit_intercept);
			ml_put_num(&st, "max_iter", p->max_iter > 0 ? p->max_iter : 100);
			ml_put_num(&st, "tol", p->tol >= 0 ? p->tol : 1e-4);
			break;
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
			ml_put_str(&st, "criterion", p->criterion == ML_ENTROPY ? "entropy" :
					(m->task == ML_CLASSIFICATION ? "gini" : "squared_error"));
			ml_put_key(&st, "max_depth");
			if (p->max_depth > 0)
			{
				JsonbValue	v;

				v.type = jbvNumeric;
				v.val.numeric = int64_to_numeric(p->max_depth);
				pushJsonbValue(&st, WJB_VALUE, &v);
			}
			else
			{
				JsonbValue	v;

				v.type = jbvNull;
				pushJsonbValue(&st, WJB_VALUE, &v);
			}
			ml_put_num(&st, "min_samples_split", p->min_samples_split);
			ml_put_num(&st, "min_samples_leaf", p->min_samples_leaf);
			if (p->max_features == -1)
				ml_put_str(&st, "max_features", "sqrt");
			else if (p->max_features == -2)
				ml_put_str(&st, "max_features", "log2");
			else if (p->max_features > 0)
				ml_put_num(&st, "max_features", p->max_features);
			else
				ml_put_str(&st, "max_features", m->algorithm == ML_RANDOM_FOREST && m->task == ML_CLASSIFICATION
						? "sqrt" : NULL);
			if (m->algorithm == ML_RANDOM_FOREST)
			{
				ml_put_num(&st, "n_estimators", p->n_estimators);
				ml_put_bool(&st, "bootstrap", p->bootstrap);
			}
			ml_put_num(&st, "random_state", (double) p->seed);
			break;
		case ML_GRADIENT_BOOSTING:
			ml_put_num(&st, "learning_rate", p->learning_rate);
			ml_put_num(&st, "max_iter", p->max_iter > 0 ? p->max_iter : 100);
			ml_put_num(&st, "max_leaf_nodes", p->max_leaf_nodes);
			ml_put_key(&st, "max_depth");
			{
				JsonbValue	v;

				v.type = p->max_depth > 0 ? jbvNumeric : jbvNull;
				if (p->max_depth > 0)
					v.val.numeric = int64_to_numeric(p->max_depth);
				pushJsonbValue(&st, WJB_VALUE, &v);
			}
			ml_put_num(&st, "min_samples_leaf", p->min_samples_leaf);
			ml_put_num(&st, "l2_regularization", p->l2_regularization);
			ml_put_num(&st, "max_bins", p->max_bins);
			ml_put_str(&st, "categorical", p->native_categorical ? "native" : "one_hot");
			ml_put_str(&st, "early_stopping", p->early_stopping < 0 ? "auto" : p->early_stopping ? "true" : "false");
			ml_put_num(&st, "validation_fraction", p->validation_fraction);
			ml_put_num(&st, "n_iter_no_change", p->n_iter_no_change);
			ml_put_num(&st, "tol", p->tol >= 0 ? p->tol : 1e-7);
			ml_put_num(&st, "random_state", (double) p->seed);
			break;
		case ML_NAIVE_BAYES:
			ml_put_num(&st, "var_smoothing", p->var_smoothing);
			break;
		case ML_KNN:
			ml_put_num(&st, "n_neighbors", p->n_neighbors);
			ml_put_str(&st, "weights", p->distance_weights ? "distance" : "uniform");
			break;
		case ML_KMEANS:
			ml_put_num(&st, "n_clusters", p->n_clusters);
			ml_put_num(&st, "n_init", p->n_init);
			ml_put_num(&st, "max_iter", p->max_iter > 0 ? p->max_iter : 300);
			ml_put_num(&st, "tol", p->tol >= 0 ? p->tol : 1e-4);
			ml_put_num(&st, "random_state", (double) p->seed);
			break;
	}
	ml_put_bool(&st, "standardize", p->standardize);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* dwc.ml_artifact_info(bytea) -> jsonb */
Datum
dwc_ml_artifact_info(PG_FUNCTION_ARGS)
{
	bytea	   *a = PG_GETARG_BYTEA_PP(0);
	MlModel    *m;
	MlSchema   *s;
	JsonbParseState *st = NULL;
	int			i;

	ml_artifact_read((const unsigned char *) VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), &m, &s);
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	/* the artifact's own (read checked the header): an older one is read as it is */
	ml_put_num(&st, "format", ((const unsigned char *) VARDATA_ANY(a))[5]);
	ml_put_num(&st, "bytes", VARSIZE_ANY_EXHDR(a));
	ml_put_str(&st, "algorithm", ml_algorithm_name(m->algorithm));
	ml_put_str(&st, "task", ml_task_name(m->task));
	ml_put_num(&st, "inputs", m->p);
	ml_put_str(&st, "target", s->target);
	ml_put_bool(&st, "standardized", s->mean != NULL);
	ml_put_key(&st, "columns");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < s->ncols; i++)
	{
		MlColumn   *c = &s->cols[i];

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		ml_put_str(&st, "name", c->name);
		ml_put_str(&st, "encoding", c->kind == ML_COL_NUMERIC ? "number" : c->native ? "level" : "one-hot");
		ml_put_num(&st, "input", c->offset);
		if (c->kind == ML_COL_CATEGORICAL)
			ml_put_strings(&st, "levels", c->levels, c->nlevels);
		if (c->has_impute)
		{
			if (isnan(c->impute))
				ml_put_str(&st, "impute", "missing");	/* kept missing (gradient boosting) */
			else if (c->kind == ML_COL_NUMERIC)
				ml_put_num(&st, "impute", c->impute);
			else
				ml_put_str(&st, "impute", c->levels[(int) c->impute]);
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	if (m->task == ML_CLASSIFICATION)
	{
		ml_put_labels(&st, "classes", m, s);
	}
	switch (m->algorithm)
	{
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
		case ML_GRADIENT_BOOSTING:
			{
				int64		nodes = 0;

				for (i = 0; i < m->ntrees; i++)
					nodes += m->trees[i].nnodes;
				ml_put_num(&st, "trees", m->ntrees);
				ml_put_num(&st, "nodes", (double) nodes);
				break;
			}
		case ML_KNN:
			ml_put_num(&st, "training_rows", m->ntrain);
			break;
		case ML_KMEANS:
			ml_put_num(&st, "clusters", m->nclusters);
			break;
		default:
			break;
	}
	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
}
