/*-------------------------------------------------------------------------
 *
 * predict.c
 *		Predictions of a trained model for encoded, standardised rows.
 *
 * A single row costs what the model's arithmetic costs: a dot product, a
 * walk down each tree, a distance per class or centre; no allocation
 * except for k nearest neighbours.  A prediction is a class index
 * (classification), a value (regression) or a cluster index.  Class ties
 * go to the first class, as with scikit-learn's argmax.
 *
 * src/ml/predict.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "ml/ml_core.h"

const double *
ml_tree_leaf(const MlTree *t, const double *x)
{
	int			node = 0;

	/* children come after their parent (checked when a model is read): this ends */
	while (t->feature[node] >= 0)
	{
		double		v = x[t->feature[node]];
		int			fl = t->flags ? t->flags[node] : 0;
		bool		left;

		if (isnan(v))			/* missing (gradient boosting only): where training sent them */
			left = (fl & ML_SPLIT_MISSING_LEFT) != 0;
		else if (fl & ML_SPLIT_LEVELS)
		{
			/* a level's number: in the node's set goes left (a level out of range, right) */
			const uint64_t *set = t->levels_left + (size_t) node * (ML_MAX_LEVEL_SPLIT / 64);

			left = v >= 0 && v < ML_MAX_LEVEL_SPLIT && v == floor(v) &&
				((set[(int) v >> 6] >> ((int) v & 63)) & 1);
		}
		else
			left = v <= t->threshold[node];
		node = left ? node + 1 : t->right[node];
	}
	return t->value + (size_t) t->right[node] * t->nvalues;
}

static int
argmax(const double *v, int n)
{
	int			best = 0;
	int			i;

	for (i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

static double
dot(const double *a, const double *b, int n)
{
	double		s = 0;
	int			i;

	for (i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* naive Bayes: the joint log likelihood of each class */
static void
nb_jll(const MlModel *m, const double *x, double *jll)
{
	int			p = m->p;
	int			k,
				j;

	for (k = 0; k < m->nclasses; k++)
	{
		const double *th = m->theta + (size_t) k * p;
		const double *va = m->var + (size_t) k * p;
		double		s = m->log_prior[k];

		for (j = 0; j < p; j++)
		{
			double		dv = x[j] - th[j];

			s -= 0.5 * log(2.0 * M_PI * va[j]) + 0.5 * dv * dv / va[j];
		}
		jll[k] = s;
	}
}

/* in place: log-likelihoods or scores to probabilities */
static void
softmax(double *v, int n)
{
	double		mx = v[argmax(v, n)];
	double		s = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		v[i] = exp(v[i] - mx);
		s += v[i];
	}
	for (i = 0; i < n; i++)
		v[i] /= s;
}

/* the raw outputs (before the sigmoid or softmax) of a boosted model for row x */
void
ml_boosting_raw(const MlModel *m, const double *x, double *out)
{
	int			K = m->ncoef,
				k,
				t;

	for (k = 0; k < K; k++)
		out[k] = m->intercept[k];
	for (t = 0; t < m->ntrees; t++)
		out[t % K] += ml_tree_leaf(&m->trees[t], x)[0];
}

bool
ml_has_proba(const MlModel *m)
{
	if (m->task != ML_CLASSIFICATION)
		return false;
	switch (m->algorithm)
	{
		case ML_LOGISTIC_REGRESSION:
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
		case ML_GRADIENT_BOOSTING:
		case ML_NAIVE_BAYES:
		case ML_KNN:
			return true;
		default:
			return false;
	}
}

bool
ml_predict_proba(MlModel *m, const double *x, double *proba)
{
	int			K = m->nclasses;
	int			k,
				t;

	if (!ml_has_proba(m))
		return false;
	switch (m->algorithm)
	{
		case ML_LOGISTIC_REGRESSION:
			if (m->ncoef == 1)
			{
				double		z = m->intercept[0] + dot(m->coef, x, m->p);

				proba[1] = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
				proba[0] = 1.0 - proba[1];
			}
			else
			{
				for (k = 0; k < K; k++)
					proba[k] = m->intercept[k] + dot(m->coef + (size_t) k * m->p, x, m->p);
				softmax(proba, K);
			}
			return true;
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
			for (k = 0; k < K; k++)
				proba[k] = 0;
			for (t = 0; t < m->ntrees; t++)
			{
				const double *v = ml_tree_leaf(&m->trees[t], x);

				for (k = 0; k < K; k++)
					proba[k] += v[k];
			}
			for (k = 0; k < K; k++)
				proba[k] /= m->ntrees;
			return true;
		case ML_GRADIENT_BOOSTING:
			ml_boosting_raw(m, x, proba);
			if (m->ncoef == 1)
			{
				double		z = proba[0];

				proba[1] = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
				proba[0] = 1.0 - proba[1];
			}
			else
				softmax(proba, K);
			return true;
		case ML_NAIVE_BAYES:
			nb_jll(m, x, proba);
			softmax(proba, K);
			return true;
		case ML_KNN:
			{
				double		out;

				ml_knn_predict(m, x, 1, true, &out, proba);
				return true;
			}
		default:
			return false;
	}
}

double
ml_predict_one(MlModel *m, const double *x)
{
	double		buf[64];
	double	   *v = buf;
	double		result = 0;
	int			K = m->nclasses;
	int			t;

	switch (m->algorithm)
	{
		case ML_LINEAR_REGRESSION:
		case ML_RIDGE:
		case ML_LASSO:
		case ML_ELASTIC_NET:
			return m->intercept[0] + dot(m->coef, x, m->p);
		case ML_LOGISTIC_REGRESSION:
			if (m->ncoef == 1)
				return m->intercept[0] + dot(m->coef, x, m->p) > 0 ? 1 : 0;
			break;
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
			if (m->task == ML_REGRESSION)
			{
				double		s = 0;

				for (t = 0; t < m->ntrees; t++)
					s += ml_tree_leaf(&m->trees[t], x)[0];
				return s / m->ntrees;
			}
			break;
		case ML_GRADIENT_BOOSTING:
			if (m->task == ML_REGRESSION)
			{
				ml_boosting_raw(m, x, &result);
				return result;
			}
			break;
		case ML_KNN:
			ml_knn_predict(m, x, 1, true, &result, NULL);
			return result;
		case ML_KMEANS:
			{
				double		best = INFINITY;
				int			c,
							j,
							bc = 0;

				for (c = 0; c < m->nclusters; c++)
				{
					const double *ce = m->centers + (size_t) c * m->p;
					double		dd = 0;

					for (j = 0; j < m->p; j++)
						dd += (x[j] - ce[j]) * (x[j] - ce[j]);
					if (dd < best)
					{
						best = dd;
						bc = c;
					}
				}
				return bc;
			}
		default:
			break;
	}
	/* the classifiers that score every class */
	if (K > (int) (sizeof(buf) / sizeof(buf[0])))
		v = ml_alloc_array(K, sizeof(double));
	if (m->algorithm == ML_LOGISTIC_REGRESSION)
	{
		int			k;

		for (k = 0; k < K; k++)
			v[k] = m->intercept[k] + dot(m->coef + (size_t) k * m->p, x, m->p);
	}
	else if (m->algorithm == ML_NAIVE_BAYES)
		nb_jll(m, x, v);
	else
		ml_predict_proba(m, x, v);
	result = argmax(v, K);
	if (v != buf)
		ml_free(v);
	return result;
}

/* many rows, column-major n * p */
void
ml_predict_many(MlModel *m, const double *x, int n, double *out, double *proba)
{
	double	   *row;
	int			K = m->nclasses > 0 ? m->nclasses : 1;
	int			i,
				j;

	if (m->algorithm == ML_KNN && n > 1)
	{
		ml_knn_predict(m, x, n, false, out, proba);
		return;
	}
	row = ml_alloc_array(m->p, sizeof(double));
	for (i = 0; i < n; i++)
	{
		if ((i & 1023) == 0)
			ml_check_interrupts();
		for (j = 0; j < m->p; j++)
			row[j] = x[(size_t) j * n + i];
		if (proba && ml_predict_proba(m, row, proba + (size_t) i * K))
			out[i] = m->algorithm == ML_LOGISTIC_REGRESSION && m->ncoef == 1
				? ml_predict_one(m, row)
				: argmax(proba + (size_t) i * K, K);
		else
			out[i] = ml_predict_one(m, row);
	}
	ml_free(row);
}
