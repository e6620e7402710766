/*-------------------------------------------------------------------------
 *
 * bayes.c
 *		Gaussian naive Bayes.
 *
 * Per class, the mean and variance of every input and the class's prior
 * (its share of the rows); the variances get var_smoothing times the
 * largest variance of any input added, as scikit-learn does, so that a
 * constant input in one class does not divide by zero.
 *
 * src/ml/bayes.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "ml/ml_core.h"

void
ml_train_naive_bayes(MlModel *m, const MlData *d)
{
	int			n = d->n;
	int			p = d->p;
	int			K = m->nclasses;
	double	   *count = ml_alloc_array(K, sizeof(double));
	double		epsilon = 0;
	int			i,
				j,
				k;

	m->theta = ml_alloc_array((size_t) K * p, sizeof(double));
	m->var = ml_alloc_array((size_t) K * p, sizeof(double));
	m->log_prior = ml_alloc_array(K, sizeof(double));
	for (i = 0; i < n; i++)
		count[(int) d->y[i]] += 1;
	for (j = 0; j < p; j++)
	{
		const double *col = d->x + (size_t) j * n;
		double		mean = 0,
					ss = 0;

		ml_check_interrupts();
		/* per class: means, then squared deviations (two passes: stable) */
		for (i = 0; i < n; i++)
			m->theta[(size_t) (int) d->y[i] * p + j] += col[i];
		for (k = 0; k < K; k++)
			if (count[k] > 0)
				m->theta[(size_t) k * p + j] /= count[k];
		for (i = 0; i < n; i++)
		{
			double		dv = col[i] - m->theta[(size_t) (int) d->y[i] * p + j];

			m->var[(size_t) (int) d->y[i] * p + j] += dv * dv;
		}
		for (k = 0; k < K; k++)
			if (count[k] > 0)
				m->var[(size_t) k * p + j] /= count[k];
		/* the variance of the input over all rows, for epsilon */
		for (i = 0; i < n; i++)
			mean += col[i];
		mean /= n;
		for (i = 0; i < n; i++)
			ss += (col[i] - mean) * (col[i] - mean);
		epsilon = fmax(epsilon, ss / n);
	}
	epsilon *= m->params.var_smoothing;
	if (epsilon <= 0)
		epsilon = 1e-300;		/* every input constant: keep the variances positive */
	for (k = 0; k < K; k++)
	{
		for (j = 0; j < p; j++)
			m->var[(size_t) k * p + j] += epsilon;
		m->log_prior[k] = count[k] > 0 ? log(count[k] / n) : -INFINITY;
	}
	ml_free(count);
}
