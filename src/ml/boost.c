/*-------------------------------------------------------------------------
 *
 * boost.c
 *		Gradient-boosted trees on histograms, as LightGBM and scikit-learn's
 *		HistGradientBoosting build them.
 *
 * Each feature is cut into at most max_bins bins (every distinct value its
 * own bin when there are few, else quantiles of a sample), and the rows are
 * kept as one byte per feature.  Each iteration fits, per output (one for
 * regression and two classes, one per class otherwise), a regression tree
 * to the loss's gradients and hessians (boost_tree.c grows it), so a
 * prediction is the baseline plus the sum of one leaf of each tree of the
 * output (then the sigmoid or the softmax).  With early stopping, a validation fraction is held out and
 * training stops when its loss has not improved by tol in n_iter_no_change
 * iterations.
 *
 * A text column is one input, its level's number (categorical => 'native',
 * the default), a bin per level.  Missing values (NaN: NULLs kept missing,
 * nulls => 'missing', the default for this model) get a bin of their own
 * after a feature's value bins.
 *
 * The trees are ordinary MlTrees (x <= threshold goes left, or a level in
 * the node's set; a missing value where the node's flags say), the baselines the model's intercepts: artifact.c
 * stores them, predict.c walks them.
 *
 * src/ml/boost.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/boost_tree.h"

/* the rows used to find the quantiles of a feature with many values */
#define BIN_SAMPLE 200000

/* ---- binning ---------------------------------------------------------------- */

/*
 * Sort m values (no NaN) in place: a radix sort of their bits, made to order
 * as the numbers do (sign bit flipped; all bits of a negative one), eleven
 * bits a pass.  qsort with a comparison callback was a sixth of a fit.
 */
static void
sort_values(double *s, int m)
{
	uint64_t   *a = ml_alloc_array(m, sizeof(uint64_t));
	uint64_t   *b = ml_alloc_array(m, sizeof(uint64_t));
	int		   *count = ml_alloc_array(2048, sizeof(int));
	int			i,
				shift;

	for (i = 0; i < m; i++)
	{
		uint64_t	u;

		memcpy(&u, &s[i], sizeof(u));
		a[i] = u >> 63 ? ~u : u | ((uint64_t) 1 << 63);
	}
	for (shift = 0; shift < 64; shift += 11)
	{
		uint64_t   *t;
		int			sum = 0;

		memset(count, 0, sizeof(int) * 2048);
		for (i = 0; i < m; i++)
			count[(a[i] >> shift) & 2047]++;
		if (count[a[0] >> shift & 2047] == m)
			continue;			/* every value has this digit: nothing moves */
		for (i = 0; i < 2048; i++)
		{
			int			c = count[i];

			count[i] = sum;
			sum += c;
		}
		for (i = 0; i < m; i++)
			b[count[(a[i] >> shift) & 2047]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	for (i = 0; i < m; i++)
	{
		uint64_t	u = a[i] >> 63 ? a[i] & ~((uint64_t) 1 << 63) : ~a[i];

		memcpy(&s[i], &u, sizeof(u));
	}
	ml_free(a);
	ml_free(b);
	ml_free(count);
}

/*
 * The thresholds of feature column x (n values): bin b holds the values in
 * (thr[b - 1], thr[b]]; returns the number of thresholds (bins - 1).
 */
static int
find_thresholds(const double *x, int n, int max_bins, MlRng *rng, double *thr)
{
	int			m = n <= BIN_SAMPLE ? n : BIN_SAMPLE;
	double	   *s = ml_alloc_array(m, sizeof(double));
	int			i,
				distinct = 1,
				nthr = 0;

	int			known = 0;

	if (m == n)
		memcpy(s, x, sizeof(double) * n);
	else
		for (i = 0; i < m; i++)
			s[i] = x[ml_rng_below(rng, (uint32_t) n)];
	/* the values only: missing ones have their own bin */
	for (i = 0; i < m; i++)
		if (!isnan(s[i]))
			s[known++] = s[i];
	m = known;
	if (m == 0)
	{
		ml_free(s);
		return 0;
	}
	sort_values(s, m);
	for (i = 1; i < m; i++)
		distinct += s[i] > s[i - 1];
	if (distinct <= max_bins)
	{
		/* a bin per value: cut half way between neighbours */
		for (i = 1; i < m; i++)
			if (s[i] > s[i - 1])
				thr[nthr++] = s[i - 1] + (s[i] - s[i - 1]) / 2;
	}
	else
	{
		/* quantiles, each cut half way between the values it falls between */
		for (i = 1; i < max_bins; i++)
		{
			int			c = (int) ((double) i * m / max_bins);
			double		t;

			if (c < 1 || c >= m || s[c] <= s[c - 1])
				continue;
			t = s[c - 1] + (s[c] - s[c - 1]) / 2;
			if (nthr == 0 || t > thr[nthr - 1])
				thr[nthr++] = t;
		}
	}
	ml_free(s);
	return nthr;
}

static inline uint8_t
bin_of(double v, const double *thr, int nthr)
{
	int			lo = 0,
				hi = nthr;

	/* the first threshold >= v */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (thr[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint8_t) lo;
}

/* ---- the loss ----------------------------------------------------------------- */

static void
softmax_row(const double *F, int K, double *p)
{
	double		mx = F[0],
				s = 0;
	int			k;

	for (k = 1; k < K; k++)
		mx = F[k] > mx ? F[k] : mx;
	for (k = 0; k < K; k++)
		s += (p[k] = exp(F[k] - mx));
	for (k = 0; k < K; k++)
		p[k] /= s;
}

static inline double
sigmoid(double z)
{
	return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

/* the mean loss of raw predictions F (n * K, row-major) against y */
static double
mean_loss(const MlModel *m, const double *F, const double *y, int n, int K)
{
	double		s = 0,
				p[256];
	int			i;

	for (i = 0; i < n; i++)
	{
		if (m->task == ML_REGRESSION)
			s += 0.5 * (F[i] - y[i]) * (F[i] - y[i]);
		else if (K == 1)
		{
			double		z = F[i];

			/* log(1 + e^z) - y z, computed without overflow */
			s += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - y[i] * z;
		}
		else
		{
			softmax_row(F + (size_t) i * K, K, p);
			s -= log(fmax(p[(int) y[i]], 1e-300));
		}
	}
	return n > 0 ? s / n : 0;
}

/* ---- training ---------------------------------------------------------------- */

void
ml_train_boosting(MlModel *m, const MlData *d)
{
	const MlParams *P = &m->params;
	int			K = m->task == ML_CLASSIFICATION && m->nclasses > 2 ? m->nclasses : 1;
	int			p = d->p;
	int			max_iter = P->max_iter > 0 ? P->max_iter : 100;
	bool		early = P->early_stopping > 0 || (P->early_stopping < 0 && d->n > 10000);
	MlRng		rng;
	int		   *order = ml_alloc_array(d->n, sizeof(int));
	int			n = d->n,
				nval = 0,
				i,
				f,
				k,
				it,
				trees = 0;
	double	   *x,
			   *y,
			   *vx = NULL,
			   *vy = NULL;
	double	  **thr = ml_alloc_array(p, sizeof(double *));
	int		   *nthr_of = ml_alloc_array(p, sizeof(int));
	int		   *nbins_of = ml_alloc_array(p, sizeof(int));
	int		   *missing_bin = ml_alloc_array(p, sizeof(int));
	int		   *levels_of = ml_alloc_array(p, sizeof(int));
	uint8_t    *bins;
	double	   *F,
			   *Fv = NULL,
			   *g,
			   *h,
			   *losses;
	Grower		G;

	if (K > 256)
		ml_error(ML_ERR_INPUT, "gradient boosting takes at most 256 classes, not %d", m->nclasses);
	ml_rng_seed(&rng, P->seed);
	for (i = 0; i < d->n; i++)
		order[i] = i;
	/* the validation rows: a random fraction, the rest trains */
	if (early)
	{
		ml_shuffle(&rng, order, d->n);
		nval = (int) ceil(P->validation_fraction * d->n);
		if (nval < 1 || nval >= d->n)
			early = false, nval = 0;
		else
			n = d->n - nval;
	}
	x = ml_alloc_array((size_t) n * p, sizeof(double));
	y = ml_alloc_array(n, sizeof(double));
	for (f = 0; f < p; f++)
		for (i = 0; i < n; i++)
			x[(size_t) f * n + i] = d->x[(size_t) f * d->n + order[i]];
	for (i = 0; i < n; i++)
		y[i] = d->y[order[i]];
	if (nval > 0)
	{
		/* row-major: a validation row is walked down each new tree (ml_tree_leaf) */
		vx = ml_alloc_array((size_t) nval * p, sizeof(double));
		vy = ml_alloc_array(nval, sizeof(double));
		for (f = 0; f < p; f++)
			for (i = 0; i < nval; i++)
				vx[(size_t) i * p + f] = d->x[(size_t) f * d->n + order[n + i]];
		for (i = 0; i < nval; i++)
			vy[i] = d->y[order[n + i]];
	}

	/* bins of the training rows */
	bins = ml_alloc_array((size_t) n * p, sizeof(uint8_t));
	G.nbins = 1;
	for (f = 0; f < p; f++)
	{
		int			nthr;

		ml_check_interrupts();
		thr[f] = ml_alloc_array(P->max_bins, sizeof(double));
		if (d->levels_of && d->levels_of[f] > 0)
		{
			/* a level's number is its bin */
			levels_of[f] = d->levels_of[f];
			nthr = 0;
			nbins_of[f] = levels_of[f];
		}
		else
		{
			levels_of[f] = 0;
			nthr = find_thresholds(x + (size_t) f * n, n, P->max_bins, &rng, thr[f]);
			nbins_of[f] = nthr + 1;
		}
		nthr_of[f] = nthr;
		missing_bin[f] = -1;
		for (i = 0; i < n && missing_bin[f] < 0; i++)
			if (isnan(x[(size_t) f * n + i]))
				missing_bin[f] = nbins_of[f]++;	/* at most max_bins + 1 <= 256 bins */
		G.nbins = nbins_of[f] > G.nbins ? nbins_of[f] : G.nbins;
		for (i = 0; i < n; i++)
		{
			double		v = x[(size_t) f * n + i];

			bins[(size_t) f * n + i] = isnan(v) ? (uint8_t) missing_bin[f]
				: levels_of[f] > 0 ? (uint8_t) v : bin_of(v, thr[f], nthr);
		}
	}

	/* baselines: the mean, the log-odds, the log of each class's share */
	m->ncoef = K;
	m->intercept = ml_alloc_array(K, sizeof(double));
	if (m->task == ML_REGRESSION)
	{
		for (i = 0; i < n; i++)
			m->intercept[0] += y[i] / n;
	}
	else
	{
		double	   *share = ml_alloc_array(m->nclasses, sizeof(double));

		for (i = 0; i < n; i++)
			share[(int) y[i]] += 1.0 / n;
		for (k = 0; k < m->nclasses; k++)
			share[k] = fmin(fmax(share[k], 1e-12), 1 - 1e-12);
		if (K == 1)
			m->intercept[0] = log(share[1] / share[0]);
		else
			for (k = 0; k < K; k++)
				m->intercept[k] = log(share[k]);
		ml_free(share);
	}
	F = ml_alloc_array((size_t) n * K, sizeof(double));
	for (i = 0; i < n; i++)
		for (k = 0; k < K; k++)
			F[(size_t) i * K + k] = m->intercept[k];
	if (nval > 0)
	{
		Fv = ml_alloc_array((size_t) nval * K, sizeof(double));
		for (i = 0; i < nval; i++)
			for (k = 0; k < K; k++)
				Fv[(size_t) i * K + k] = m->intercept[k];
	}

	g = ml_alloc_array((size_t) n * K, sizeof(double));
	h = ml_alloc_array((size_t) n * K, sizeof(double));
	losses = ml_alloc_array(max_iter + 1, sizeof(double));
	m->trees = ml_alloc_array((size_t) max_iter * K, sizeof(MlTree));
	G.n = n;
	G.p = p;
	G.bins = bins;
	G.nbins_of = nbins_of;
	G.missing_bin = missing_bin;
	G.levels_of = levels_of;
	G.unit_hessian = m->task == ML_REGRESSION;
	G.params = P;
	G.rows = ml_alloc_array(n, sizeof(int));
	G.og = ml_alloc_array(n, sizeof(double));
	G.oh = ml_alloc_array(n, sizeof(double));
	G.nodes = ml_alloc_array(2 * (size_t) P->max_leaf_nodes, sizeof(Node));
	{
		/*
		 * Live histograms: one per leaf that may still be split, plus the one
		 * being built; such leaves hold 2 * min_samples_leaf rows each.
		 */
		int			splittable = n / (2 * P->min_samples_leaf) + 1;
		int			slots = (P->max_leaf_nodes < splittable ? P->max_leaf_nodes : splittable) + 1;

		G.pool = ml_alloc_array((size_t) slots * p * G.nbins * 3, sizeof(double));
		G.free_slots = ml_alloc_array(slots, sizeof(int));
		for (G.nfree = 0; G.nfree < slots; G.nfree++)
			G.free_slots[G.nfree] = G.nfree;
	}
	if (early)
		losses[0] = mean_loss(m, Fv, vy, nval, K);

	for (it = 0; it < max_iter; it++)
	{
		ml_check_interrupts();
		ml_progress("boosting rounds", it, max_iter);
		/* gradients and hessians of every output, from the predictions before this iteration */
		for (i = 0; i < n; i++)
		{
			if (m->task == ML_REGRESSION)
			{
				g[i] = F[i] - y[i];
				h[i] = 1;
			}
			else if (K == 1)
			{
				double		q = sigmoid(F[i]);

				g[i] = q - y[i];
				h[i] = q * (1 - q);
			}
			else
			{
				double		q[256];

				softmax_row(F + (size_t) i * K, K, q);
				for (k = 0; k < K; k++)
				{
					g[(size_t) k * n + i] = q[k] - ((int) y[i] == k);
					h[(size_t) k * n + i] = q[k] * (1 - q[k]);
				}
			}
		}
		for (k = 0; k < K; k++)
		{
			MlTree	   *t = &m->trees[trees++];
			int			id;

			G.g = g + (size_t) k * n;
			G.h = h + (size_t) k * n;
			ml_boost_grow_tree(&G);
			ml_boost_to_tree(&G, thr, nthr_of, t);
			for (id = 0; id < G.nnodes; id++)
			{
				const Node *nd = &G.nodes[id];
				int			r;

				if (nd->left >= 0)
					continue;
				for (r = nd->start; r < nd->end; r++)
					F[(size_t) G.rows[r] * K + k] += nd->value;
			}
			for (i = 0; i < nval; i++)
				Fv[(size_t) i * K + k] += ml_tree_leaf(t, vx + (size_t) i * p)[0];
		}
		m->n_iter = it + 1;
		if (early)
		{
			int			j;
			bool		improved = false;

			losses[it + 1] = mean_loss(m, Fv, vy, nval, K);
			/* stop when none of the last n_iter_no_change beat the loss before them by tol */
			if (it + 1 > P->n_iter_no_change)
			{
				double		ref = losses[it + 1 - P->n_iter_no_change];

				for (j = it + 2 - P->n_iter_no_change; j <= it + 1; j++)
					improved |= losses[j] < ref - (P->tol >= 0 ? P->tol : 1e-7);
				if (!improved)
					break;
			}
		}
	}
	m->ntrees = trees;

	for (f = 0; f < p; f++)
		ml_free(thr[f]);
	ml_free(thr);
	ml_free(nthr_of);
	ml_free(nbins_of);
	ml_free(missing_bin);
	ml_free(levels_of);
	ml_free(bins);
	ml_free(order);
	ml_free(x);
	ml_free(y);
	if (vx)
	{
		ml_free(vx);
		ml_free(vy);
		ml_free(Fv);
	}
	ml_free(F);
	ml_free(g);
	ml_free(h);
	ml_free(losses);
	ml_free(G.rows);
	ml_free(G.og);
	ml_free(G.oh);
	ml_free(G.nodes);
	ml_free(G.pool);
	ml_free(G.free_slots);
}
