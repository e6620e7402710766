/*-------------------------------------------------------------------------
 *
 * ml_params.c
 *		Hyperparameters from jsonb, checked against what each algorithm
 *		takes, with scikit-learn's names and defaults.
 *
 * src/ml/ml_params.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "ml/ml_pg.h"

/* which hyperparameters each algorithm takes */
typedef struct HpSpec
{
	const char *name;
	unsigned	algorithms;		/* bit (1 << algorithm) */
} HpSpec;

#define A(x) (1u << (x))
#define LINEAR_ALL (A(ML_LINEAR_REGRESSION) | A(ML_RIDGE) | A(ML_LASSO) | A(ML_ELASTIC_NET) | A(ML_LOGISTIC_REGRESSION))
#define TREES (A(ML_DECISION_TREE) | A(ML_RANDOM_FOREST))
#define BOOST A(ML_GRADIENT_BOOSTING)
#define ALL 0xFFFFFFFFu

static const HpSpec specs[] = {
	{"alpha", A(ML_RIDGE) | A(ML_LASSO) | A(ML_ELASTIC_NET)},
	{"l1_ratio", A(ML_ELASTIC_NET)},
	{"C", A(ML_LOGISTIC_REGRESSION)},
	{"fit_intercept", LINEAR_ALL},
	{"max_iter", A(ML_LASSO) | A(ML_ELASTIC_NET) | A(ML_LOGISTIC_REGRESSION) | A(ML_KMEANS) | BOOST},
	{"tol", A(ML_LASSO) | A(ML_ELASTIC_NET) | A(ML_LOGISTIC_REGRESSION) | A(ML_KMEANS) | BOOST},
	{"criterion", TREES},
	{"max_depth", TREES | BOOST},
	{"min_samples_split", TREES},
	{"min_samples_leaf", TREES | BOOST},
	{"learning_rate", BOOST},
	{"max_leaf_nodes", BOOST},
	{"l2_regularization", BOOST},
	{"max_bins", BOOST},
	{"early_stopping", BOOST},
	{"validation_fraction", BOOST},
	{"n_iter_no_change", BOOST},
	{"categorical", BOOST},
	{"max_features", TREES},
	{"n_estimators", A(ML_RANDOM_FOREST)},
	{"bootstrap", A(ML_RANDOM_FOREST)},
	{"var_smoothing", A(ML_NAIVE_BAYES)},
	{"n_neighbors", A(ML_KNN)},
	{"weights", A(ML_KNN)},
	{"n_clusters", A(ML_KMEANS)},
	{"n_init", A(ML_KMEANS)},
	{"random_state", TREES | A(ML_KMEANS) | BOOST},
	{"standardize", ALL},
};

MlTask
DwcMlParseTask(const char *task)
{
	if (strcmp(task, "classification") == 0)
		return ML_CLASSIFICATION;
	if (strcmp(task, "regression") == 0)
		return ML_REGRESSION;
	if (strcmp(task, "clustering") == 0)
		return ML_CLUSTERING;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown ML task \"%s\"", task),
			 errhint("The tasks are classification, regression and clustering.")));
	return ML_CLASSIFICATION;	/* keep the compiler quiet */
}

MlAlgorithm
DwcMlParseAlgorithm(const char *algorithm)
{
	MlAlgorithm a;

	if (!ml_algorithm_from_name(algorithm, &a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown ML algorithm \"%s\"", algorithm),
				 errhint("The algorithms are linear_regression, ridge, lasso, elastic_net, logistic_regression, "
						 "decision_tree, random_forest, gradient_boosting, naive_bayes, knn and kmeans.")));
	return a;
}

static char *
allowed_list(MlAlgorithm a)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < (int) lengthof(specs); i++)
	{
		if (specs[i].algorithms & A(a))
			appendStringInfo(&s, "%s%s", s.len ? ", " : "", specs[i].name);
	}
	return s.data;
}

static void
bad(const char *name, MlAlgorithm a, const char *what, JsonbValue *v)
{
	char	   *given;
	JsonbValue	copy = *v;

	given = JsonbToCString(NULL, &JsonbValueToJsonb(&copy)->root, 0);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("hyperparameter \"%s\" of %s must be %s, not %s", name, ml_algorithm_name(a), what, given)));
}

static double
num(const char *name, MlAlgorithm a, JsonbValue *v, const char *what)
{
	if (v->type != jbvNumeric)
		bad(name, a, what, v);
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static int
integer(const char *name, MlAlgorithm a, JsonbValue *v, int lo, int hi, const char *what)
{
	double		d;

	if (v->type != jbvNumeric)
		bad(name, a, what, v);
	d = num(name, a, v, what);
	if (d != floor(d) || d < lo || d > hi)
		bad(name, a, what, v);
	return (int) d;
}

static bool
boolean(const char *name, MlAlgorithm a, JsonbValue *v)
{
	if (v->type != jbvBool)
		bad(name, a, "true or false", v);
	return v->val.boolean;
}

static char *
string(const char *name, MlAlgorithm a, JsonbValue *v, const char *what)
{
	if (v->type != jbvString)
		bad(name, a, what, v);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void
set_param(MlParams *p, MlAlgorithm a, MlTask task, const char *name, JsonbValue *v)
{
	if (strcmp(name, "alpha") == 0)
	{
		p->alpha = num(name, a, v, "a number >= 0");
		if (!(p->alpha >= 0) || isinf(p->alpha))
			bad(name, a, "a number >= 0", v);
	}
	else if (strcmp(name, "l1_ratio") == 0)
	{
		p->l1_ratio = num(name, a, v, "a number from 0 to 1");
		if (!(p->l1_ratio >= 0 && p->l1_ratio <= 1))
			bad(name, a, "a number from 0 to 1", v);
	}
	else if (strcmp(name, "C") == 0)
	{
		p->C = num(name, a, v, "a number > 0");
		if (!(p->C > 0) || isinf(p->C))
			bad(name, a, "a number > 0", v);
	}
	else if (strcmp(name, "fit_intercept") == 0)
		p->fit_intercept = boolean(name, a, v);
	else if (strcmp(name, "max_iter") == 0)
		p->max_iter = integer(name, a, v, 1, 1000000, "an integer from 1 to 1000000");
	else if (strcmp(name, "tol") == 0)
	{
		p->tol = num(name, a, v, "a number >= 0");
		if (!(p->tol >= 0) || isinf(p->tol))
			bad(name, a, "a number >= 0", v);
	}
	else if (strcmp(name, "criterion") == 0)
	{
		char	   *c = string(name, a, v, task == ML_CLASSIFICATION ? "\"gini\" or \"entropy\"" : "\"squared_error\"");

		if (task == ML_CLASSIFICATION && strcmp(c, "gini") == 0)
			p->criterion = ML_GINI;
		else if (task == ML_CLASSIFICATION && (strcmp(c, "entropy") == 0 || strcmp(c, "log_loss") == 0))
			p->criterion = ML_ENTROPY;
		else if (task == ML_REGRESSION && strcmp(c, "squared_error") == 0)
			p->criterion = ML_SQUARED_ERROR;
		else
			bad(name, a, task == ML_CLASSIFICATION ? "\"gini\" or \"entropy\"" : "\"squared_error\"", v);
	}
	else if (strcmp(name, "max_depth") == 0)
		p->max_depth = v->type == jbvNull ? 0 : integer(name, a, v, 1, 100000, "null or an integer >= 1");
	else if (strcmp(name, "min_samples_split") == 0)
		p->min_samples_split = integer(name, a, v, 2, INT_MAX, "an integer >= 2");
	else if (strcmp(name, "min_samples_leaf") == 0)
	{
		p->min_samples_leaf = integer(name, a, v, 1, INT_MAX, "an integer >= 1");
		p->min_samples_leaf_set = true;
	}
	else if (strcmp(name, "learning_rate") == 0)
	{
		p->learning_rate = num(name, a, v, "a number > 0");
		if (!(p->learning_rate > 0) || isinf(p->learning_rate))
			bad(name, a, "a number > 0", v);
	}
	else if (strcmp(name, "max_leaf_nodes") == 0)
		p->max_leaf_nodes = integer(name, a, v, 2, 100000, "an integer from 2 to 100000");
	else if (strcmp(name, "l2_regularization") == 0)
	{
		p->l2_regularization = num(name, a, v, "a number >= 0");
		if (!(p->l2_regularization >= 0) || isinf(p->l2_regularization))
			bad(name, a, "a number >= 0", v);
	}
	else if (strcmp(name, "categorical") == 0)
	{
		const char *what = "\"native\" or \"one_hot\"";
		char	   *c = string(name, a, v, what);

		if (strcmp(c, "native") == 0)
			p->native_categorical = true;
		else if (strcmp(c, "one_hot") == 0)
			p->native_categorical = false;
		else
			bad(name, a, what, v);
	}
	else if (strcmp(name, "max_bins") == 0)
		p->max_bins = integer(name, a, v, 2, 255, "an integer from 2 to 255");
	else if (strcmp(name, "early_stopping") == 0)
	{
		const char *what = "\"auto\", true or false";

		if (v->type == jbvBool)
			p->early_stopping = v->val.boolean ? 1 : 0;
		else if (v->type == jbvString && strcmp(string(name, a, v, what), "auto") == 0)
			p->early_stopping = -1;
		else
			bad(name, a, what, v);
	}
	else if (strcmp(name, "validation_fraction") == 0)
	{
		p->validation_fraction = num(name, a, v, "a number between 0 and 1");
		if (!(p->validation_fraction > 0 && p->validation_fraction < 1))
			bad(name, a, "a number between 0 and 1", v);
	}
	else if (strcmp(name, "n_iter_no_change") == 0)
		p->n_iter_no_change = integer(name, a, v, 1, 100000, "an integer from 1 to 100000");
	else if (strcmp(name, "max_features") == 0)
	{
		const char *what = "null, \"sqrt\", \"log2\", a fraction in (0, 1] or a count >= 1";

		if (v->type == jbvNull)
			p->max_features = 1.0;
		else if (v->type == jbvString)
		{
			char	   *s = string(name, a, v, what);

			if (strcmp(s, "sqrt") == 0)
				p->max_features = -1;
			else if (strcmp(s, "log2") == 0)
				p->max_features = -2;
			else
				bad(name, a, what, v);
		}
		else
		{
			p->max_features = num(name, a, v, what);
			if (!(p->max_features > 0) || (p->max_features > 1 && p->max_features != floor(p->max_features)) ||
				isinf(p->max_features))
				bad(name, a, what, v);
		}
	}
	else if (strcmp(name, "n_estimators") == 0)
		p->n_estimators = integer(name, a, v, 1, 10000, "an integer from 1 to 10000");
	else if (strcmp(name, "bootstrap") == 0)
		p->bootstrap = boolean(name, a, v);
	else if (strcmp(name, "var_smoothing") == 0)
	{
		p->var_smoothing = num(name, a, v, "a number >= 0");
		if (!(p->var_smoothing >= 0) || isinf(p->var_smoothing))
			bad(name, a, "a number >= 0", v);
	}
	else if (strcmp(name, "n_neighbors") == 0)
		p->n_neighbors = integer(name, a, v, 1, 100000, "an integer from 1 to 100000");
	else if (strcmp(name, "weights") == 0)
	{
		char	   *w = string(name, a, v, "\"uniform\" or \"distance\"");

		if (strcmp(w, "uniform") == 0)
			p->distance_weights = false;
		else if (strcmp(w, "distance") == 0)
			p->distance_weights = true;
		else
			bad(name, a, "\"uniform\" or \"distance\"", v);
	}
	else if (strcmp(name, "n_clusters") == 0)
		p->n_clusters = integer(name, a, v, 1, 100000, "an integer from 1 to 100000");
	else if (strcmp(name, "n_init") == 0)
		p->n_init = integer(name, a, v, 1, 1000, "an integer from 1 to 1000");
	else if (strcmp(name, "random_state") == 0)
		p->seed = (uint64) integer(name, a, v, 0, INT_MAX, "an integer >= 0");
	else if (strcmp(name, "standardize") == 0)
	{
		p->standardize = boolean(name, a, v);
		p->standardize_set = true;
	}
}

/*
 * The hyperparameters of an algorithm from a jsonb object (NULL: all
 * defaults).  Unknown names and values out of range are errors that name
 * them; without "standardize", logistic regression, k nearest neighbours
 * and k-means standardise their inputs and the others do not.
 */
void
DwcMlParseHyperparameters(MlAlgorithm a, MlTask task, Jsonb *hp, MlParams *out)
{
	ml_params_defaults(out);
	if (hp != NULL)
	{
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		if (!JB_ROOT_IS_OBJECT(hp) || JB_ROOT_IS_SCALAR(hp))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hyperparameters must be a JSON object")));
		it = JsonbIteratorInit(&hp->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				int			i;
				bool		known = false;

				key = pnstrdup(v.val.string.val, v.val.string.len);
				for (i = 0; i < (int) lengthof(specs); i++)
				{
					if (strcmp(specs[i].name, key) == 0 && (specs[i].algorithms & A(a)))
						known = true;
				}
				if (!known)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("%s has no hyperparameter \"%s\"", ml_algorithm_name(a), key),
							 errhint("Its hyperparameters are: %s.", allowed_list(a))));
			}
			else if (tok == WJB_VALUE)
				set_param(out, a, task, key, &v);
		}
	}
	if (!out->standardize_set)
		out->standardize = (a == ML_LOGISTIC_REGRESSION || a == ML_KNN || a == ML_KMEANS);
	/* HistGradientBoosting's leaves hold at least 20 rows by default, a tree's one */
	if (a == ML_GRADIENT_BOOSTING && !out->min_samples_leaf_set)
		out->min_samples_leaf = 20;
}
