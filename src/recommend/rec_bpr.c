/*-------------------------------------------------------------------------
 *
 * rec_bpr.c
 *		Bayesian personalised ranking: stochastic gradient steps over sampled
 *		(user, liked item, other item) triples, and folding in a new user.
 *
 * src/recommend/rec_bpr.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_blas.h"
#include "ml/ml_core.h"
#include "recommend/rec_core.h"

static int
cmp_int(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

static bool
sorted_has(const int *sorted, int n, int key)
{
	return n > 0 && bsearch(&key, sorted, n, sizeof(int), cmp_int) != NULL;
}

/*
 * One ascent step on ln σ(x·(y_i − y_j)) − λ(|x|² + |y_i|² + |y_j|²); the
 * item factors move too unless yi_out is NULL.  Only x's first kx components
 * learn: past them x holds constants (the 1 that multiplies the item bias).
 */
static void
bpr_step(double *x, const double *yi, const double *yj, double *yi_out, double *yj_out, int k, int kx,
		 double lr, double lambda)
{
	double		d = 0,
				g;
	int			f;

	for (f = 0; f < k; f++)
		d += x[f] * (yi[f] - yj[f]);
	g = 1.0 / (1.0 + exp(d));	/* σ(−d), the gradient's weight */
	for (f = 0; f < k; f++)
	{
		double		xf = x[f];

		if (f < kx)
			x[f] += lr * (g * (yi[f] - yj[f]) - lambda * xf);
		if (yi_out)
		{
			yi_out[f] += lr * (g * xf - lambda * yi_out[f]);
			yj_out[f] += lr * (-g * xf - lambda * yj_out[f]);
		}
	}
}

/* a uniform item not among the row's sorted positives, or -1 after a few tries */
static int
sample_negative(const int *pos, int npos, int nitems, uint64_t *state)
{
	int			tries;

	if (npos >= nitems)
		return -1;
	for (tries = 0; tries < 16; tries++)
	{
		int			j = (int) (rec_random_uniform(state) * nitems);

		if (j < nitems && !sorted_has(pos, npos, j))
			return j;
	}
	return -1;
}

int
rec_bpr_fit(const RecCsr *by_user, int nitems, int k, double lr, double lambda, int epochs, uint64_t seed,
			double *X, double *Y)
{
	int			nusers = by_user->nrows;
	int		   *ptr = ml_alloc_array(nusers + 1, sizeof(int));
	int		   *items = ml_alloc_array(REC_MAX(by_user->ptr[nusers], 1), sizeof(int));
	int		   *owner = ml_alloc_array(REC_MAX(by_user->ptr[nusers], 1), sizeof(int));
	uint64_t	state = seed ^ 0x5bd1e995ULL;
	int			u,
				e,
				npos = 0,
				epoch;
	long		step;

	/* each user's positives, sorted for the membership test of sampled negatives */
	ptr[0] = 0;
	for (u = 0; u < nusers; u++)
	{
		for (e = by_user->ptr[u]; e < by_user->ptr[u + 1]; e++)
			if (by_user->val[e] > 0)
			{
				items[npos] = by_user->idx[e];
				owner[npos] = u;
				npos++;
			}
		ptr[u + 1] = npos;
		qsort(items + ptr[u], ptr[u + 1] - ptr[u], sizeof(int), cmp_int);
	}
	if (npos == 0)
	{
		ml_free(ptr);
		ml_free(items);
		ml_free(owner);
		return -1;
	}
	rec_init_factors(Y, nitems, k, seed);
	rec_init_factors(X, nusers, k, seed + 1);
	/* the last column: every item's bias, from 0, times a user's constant 1 */
	for (e = 0; e < nitems; e++)
		Y[(size_t) e * k + k - 1] = 0;
	for (u = 0; u < nusers; u++)
		X[(size_t) u * k + k - 1] = 1;
	for (epoch = 0; epoch < epochs; epoch++)
	{
		ml_progress("BPR epochs", epoch, epochs);
		for (step = 0; step < npos; step++)
		{
			int			p = (int) (rec_random_uniform(&state) * npos);
			int			j;

			if ((step & 4095) == 0)
				ml_check_interrupts();
			p = REC_MIN(p, npos - 1);
			u = owner[p];
			j = sample_negative(items + ptr[u], ptr[u + 1] - ptr[u], nitems, &state);
			if (j < 0)
				continue;
			bpr_step(X + (size_t) u * k, Y + (size_t) items[p] * k, Y + (size_t) j * k,
					 Y + (size_t) items[p] * k, Y + (size_t) j * k, k, k - 1, lr, lambda);
		}
	}
	ml_free(ptr);
	ml_free(items);
	ml_free(owner);
	return 0;
}

void
rec_bpr_fold(const int *idx, const double *val, int n, const double *Y, int nitems, int k, bool item_bias,
			 double lr, double lambda, int epochs, uint64_t seed, double *x)
{
	int			kx = item_bias ? k - 1 : k;

	int		   *pos = ml_alloc_array(REC_MAX(n, 1), sizeof(int));
	uint64_t	state = seed ^ 0x5bd1e995ULL;
	int			npos = 0,
				e,
				epoch;

	for (e = 0; e < n; e++)
		if (val[e] > 0)
			pos[npos++] = idx[e];
	qsort(pos, npos, sizeof(int), cmp_int);
	memset(x, 0, sizeof(double) * k);
	if (item_bias)
		x[k - 1] = 1;
	for (epoch = 0; epoch < epochs && npos > 0; epoch++)
	{
		for (e = 0; e < npos; e++)
		{
			int			p = REC_MIN((int) (rec_random_uniform(&state) * npos), npos - 1);
			int			j = sample_negative(pos, npos, nitems, &state);

			if (j >= 0)
				bpr_step(x, Y + (size_t) pos[p] * k, Y + (size_t) j * k, NULL, NULL, k, kx, lr, lambda);
		}
	}
	ml_free(pos);
}

/* ---- ranking --------------------------------------------------------------- */
