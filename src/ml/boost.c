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
 * to the loss's gradients and hessians, grown leaf by leaf: the leaf whose
 * best split gains most is split next, up to max_leaf_nodes.  A node's
 * split is found from its histogram (sums of gradient, hessian and count
 * per bin of each feature); a node's larger child gets its histogram by
 * subtracting the smaller child's from the parent's.  Leaves hold
 * -G / (H + l2) times the learning rate, so a prediction is the baseline
 * plus the sum of one leaf of each tree of the output (then the sigmoid or
 * the softmax).  With early stopping, a validation fraction is held out and
 * training stops when its loss has not improved by tol in n_iter_no_change
 * iterations.
 *
 * A text column is one input, its level's number (categorical => 'native',
 * the default): a bin per level, and a node's split is a set of levels,
 * found as LightGBM finds it: the node's levels ordered by their gradient
 * over hessian (smoothed), each prefix of that order tried as the left set.
 *
 * Missing values (NaN: NULLs kept missing, nulls => 'missing', the default
 * for this model) get a bin of their own after a feature's value bins.  Each
 * candidate split is tried with that bin on the left and on the right, and
 * also every value against the missing ones; the node keeps the better side.
 * Where a node's rows had no missing value of its feature, a missing one
 * goes to the child with more rows, as scikit-learn does.
 *
 * The trees are ordinary MlTrees (x <= threshold goes left, a missing value
 * where missing_left says), the baselines the model's intercepts: artifact.c
 * stores them, predict.c walks them.
 *
 * src/ml/boost.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_core.h"

/* the rows used to find the quantiles of a feature with many values */
#define BIN_SAMPLE 200000

/* a node of the tree being grown */
typedef struct Node
{
	int			start,			/* its rows: rows[start .. end) */
				end;
	int			depth;
	double		g,				/* sums of gradient and hessian over its rows */
				h;
	double	   *hist;			/* p * nbins * 3 (g, h, count), or NULL */
	/* its best split, when it has one */
	bool		splittable;
	int			feature;
	int			bin;			/* value bins 0 .. bin go left */
	bool		missing_left;	/* and the missing bin, if this */
	bool		on_levels;		/* a level input: the levels in levels go left, not bins 0 .. bin */
	uint64_t	levels[ML_MAX_LEVEL_SPLIT / 64];
	double		gain;
	int			left,			/* children, -1 for a leaf */
				right;
	double		value;			/* a leaf's output */
} Node;

typedef struct Grower
{
	int			n,				/* training rows */
				p,
				nbins;			/* histogram width: the most bins of any feature */
	const uint8_t *bins;		/* column-major n * p */
	const int  *nbins_of;		/* bins of each feature (its values', then its missing bin's) */
	const int  *missing_bin;	/* each feature's missing bin, or -1 when it had none */
	const int  *levels_of;		/* each feature's levels when it is a level number, else 0 */
	const double *g,
			   *h;
	int		   *rows;			/* a permutation of 0 .. n-1, partitioned by node */
	double	   *og,				/* gradients and hessians in rows' order, for the node being built */
			   *oh;
	const MlParams *params;
	Node	   *nodes;
	int			nnodes;
	/*
	 * Histograms come from a pool of slots kept across trees: a node holds one
	 * only while it may still be split, so max_leaf_nodes + 1 are enough, and
	 * no tree allocates (a fresh large allocation per node costs page faults).
	 */
	double	   *pool;
	int		   *free_slots;
	int			nfree;
} Grower;

/* ---- binning ---------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : x > y;
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
	qsort(s, m, sizeof(double), cmp_double);
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

/* ---- one tree ------------------------------------------------------------------- */

static double *
take_histogram(Grower *G)
{
	if (G->nfree == 0)
		ml_error(ML_ERR_INTERNAL, "gradient boosting ran out of histograms");
	return G->pool + (size_t) G->free_slots[--G->nfree] * G->p * G->nbins * 3;
}

static void
give_back(Grower *G, Node *nd)
{
	if (nd->hist)
		G->free_slots[G->nfree++] = (int) ((nd->hist - G->pool) / ((size_t) G->p * G->nbins * 3));
	nd->hist = NULL;
}

static void
build_histogram(Grower *G, Node *nd)
{
	int			cnt = nd->end - nd->start;
	const int  *rows = G->rows + nd->start;
	int			i,
				f;

	nd->hist = take_histogram(G);
	memset(nd->hist, 0, sizeof(double) * G->p * G->nbins * 3);
	for (i = 0; i < cnt; i++)
	{
		G->og[i] = G->g[rows[i]];
		G->oh[i] = G->h[rows[i]];
	}
	for (f = 0; f < G->p; f++)
	{
		const uint8_t *col = G->bins + (size_t) f * G->n;
		double	   *hf = nd->hist + (size_t) f * G->nbins * 3;

		for (i = 0; i < cnt; i++)
		{
			double	   *c = hf + 3 * col[rows[i]];

			c[0] += G->og[i];
			c[1] += G->oh[i];
			c[2] += 1;
		}
	}
}

static inline double
score(double g, double h, double l2)
{
	return g * g / (h + l2);
}

/* smoothing of a level's gradient over hessian when ordering levels (LightGBM's cat_smooth) */
#define LEVEL_SMOOTH 10.0

/*
 * The best set of levels of level input f to send left: the node's levels
 * (and its missing bin, as one more) ordered by g / (h + smooth), each prefix
 * of the order tried.  Updates nd when a set gains more than its best.
 */
static void
find_level_split(Grower *G, Node *nd, int f, const double *hf, double parent)
{
	const MlParams *P = G->params;
	int			cnt = nd->end - nd->start;
	double		l2 = P->l2_regularization;
	int			mb = G->missing_bin[f];
	int			order[ML_MAX_LEVEL_SPLIT + 1];
	double		key[ML_MAX_LEVEL_SPLIT + 1];
	int			m = 0,
				b,
				j;
	double		gl = 0,
				hl = 0,
				cl = 0;

	for (b = 0; b < G->nbins_of[f]; b++)
		if (hf[3 * b + 2] > 0)
		{
			double		kb = hf[3 * b] / (hf[3 * b + 1] + LEVEL_SMOOTH);

			/* insertion by key, ties by bin: the same data gives the same order */
			for (j = m; j > 0 && key[j - 1] > kb; j--)
			{
				key[j] = key[j - 1];
				order[j] = order[j - 1];
			}
			key[j] = kb;
			order[j] = b;
			m++;
		}
	for (j = 0; j < m - 1; j++)
	{
		double		gain;

		b = order[j];
		gl += hf[3 * b];
		hl += hf[3 * b + 1];
		cl += hf[3 * b + 2];
		if (cl < P->min_samples_leaf || cnt - cl < P->min_samples_leaf)
			continue;
		if (hl < 1e-3 || nd->h - hl < 1e-3)
			continue;
		gain = score(gl, hl, l2) + score(nd->g - gl, nd->h - hl, l2) - parent;
		if (gain > nd->gain + 1e-12)
		{
			int			k;
			bool		missing_here = mb >= 0 && hf[3 * mb + 2] > 0;

			nd->gain = gain;
			nd->feature = f;
			nd->on_levels = true;
			memset(nd->levels, 0, sizeof(nd->levels));
			nd->missing_left = false;
			for (k = 0; k <= j; k++)
			{
				if (order[k] == mb)
					nd->missing_left = true;
				else
					nd->levels[order[k] >> 6] |= (uint64_t) 1 << (order[k] & 63);
			}
			/* none here: later ones follow the larger child */
			if (!missing_here)
				nd->missing_left = cl >= cnt - cl;
			nd->splittable = true;
		}
	}
}

/* the node's best split from its histogram; splittable false when none gains */
static void
find_split(Grower *G, Node *nd)
{
	const MlParams *P = G->params;
	int			cnt = nd->end - nd->start;
	double		l2 = P->l2_regularization;
	double		parent = score(nd->g, nd->h, l2);
	int			f,
				b;

	nd->splittable = false;
	nd->gain = 0;
	if (cnt < 2 * P->min_samples_leaf || (P->max_depth > 0 && nd->depth >= P->max_depth))
		return;
	for (f = 0; f < G->p; f++)
	{
		const double *hf = nd->hist + (size_t) f * G->nbins * 3;
		int			mb = G->missing_bin[f];
		int			nvals = mb >= 0 ? mb : G->nbins_of[f];
		double		gm = mb >= 0 ? hf[3 * mb] : 0,
					hm = mb >= 0 ? hf[3 * mb + 1] : 0,
					cm = mb >= 0 ? hf[3 * mb + 2] : 0;
		double		gl = 0,
					hl = 0,
					cl = 0;

		if (G->levels_of[f] > 0)
		{
			find_level_split(G, nd, f, hf, parent);
			continue;
		}
		if (cm == 0)
		{
			/* no missing value here: value bins 0 .. b on the left; a later missing one follows the larger side */
			for (b = 0; b < nvals - 1; b++)
			{
				double		gain;

				gl += hf[3 * b];
				hl += hf[3 * b + 1];
				cl += hf[3 * b + 2];
				if (cl < P->min_samples_leaf)
					continue;
				if (cnt - cl < P->min_samples_leaf)
					break;
				if (hl < 1e-3 || nd->h - hl < 1e-3)
					continue;
				gain = score(gl, hl, l2) + score(nd->g - gl, nd->h - hl, l2) - parent;
				if (gain > nd->gain + 1e-12)
				{
					nd->gain = gain;
					nd->feature = f;
					nd->bin = b;
					nd->on_levels = false;
					nd->missing_left = cl >= cnt - cl;
					nd->splittable = true;
				}
			}
			continue;
		}
		/* value bins 0 .. b on the left, the missing bin on either side; or every value against the missing */
		for (b = 0; b < nvals; b++)
		{
			int			side;

			gl += hf[3 * b];
			hl += hf[3 * b + 1];
			cl += hf[3 * b + 2];
			for (side = 0; side < (b < nvals - 1 ? 2 : 1); side++)
			{
				double		GL = gl + (side ? gm : 0),
							HL = hl + (side ? hm : 0),
							CL = cl + (side ? cm : 0),
							gain;

				if (CL < P->min_samples_leaf || cnt - CL < P->min_samples_leaf)
					continue;
				if (HL < 1e-3 || nd->h - HL < 1e-3)
					continue;
				gain = score(GL, HL, l2) + score(nd->g - GL, nd->h - HL, l2) - parent;
				if (gain > nd->gain + 1e-12)
				{
					nd->gain = gain;
					nd->feature = f;
					nd->bin = b;
					nd->on_levels = false;
					nd->missing_left = side == 1;
					nd->splittable = true;
				}
			}
		}
	}
}

static int
new_node(Grower *G, int start, int end, int depth, double g, double h)
{
	Node	   *nd = &G->nodes[G->nnodes];

	memset(nd, 0, sizeof(*nd));
	nd->start = start;
	nd->end = end;
	nd->depth = depth;
	nd->g = g;
	nd->h = h;
	nd->left = nd->right = -1;
	return G->nnodes++;
}

static void
split_node(Grower *G, int id)
{
	Node	   *nd = &G->nodes[id];
	const uint8_t *col = G->bins + (size_t) nd->feature * G->n;
	const double *hf = nd->hist + (size_t) nd->feature * G->nbins * 3;
	int			i = nd->start,
				j = nd->end - 1,
				b,
				small,
				large;
	double		gl = 0,
				hl = 0;
	Node	   *L,
			   *R,
			   *S,
			   *B;

	int			mb = G->missing_bin[nd->feature];
	bool		ml = nd->missing_left && mb >= 0;

	for (b = 0; b < G->nbins_of[nd->feature]; b++)
		if (nd->on_levels ? b != mb && ((nd->levels[b >> 6] >> (b & 63)) & 1) : b <= nd->bin)
		{
			gl += hf[3 * b];
			hl += hf[3 * b + 1];
		}
	if (ml)
	{
		gl += hf[3 * mb];
		hl += hf[3 * mb + 1];
	}
	/* partition the rows: those in value bins 0 .. bin (and missing ones, when they go left) first */
	while (i <= j)
	{
		int			bin = col[G->rows[i]];

		if (bin == mb ? ml : nd->on_levels ? (nd->levels[bin >> 6] >> (bin & 63)) & 1 : bin <= nd->bin)
			i++;
		else
		{
			int			t = G->rows[i];

			G->rows[i] = G->rows[j];
			G->rows[j--] = t;
		}
	}
	nd->left = new_node(G, nd->start, i, nd->depth + 1, gl, hl);
	nd = &G->nodes[id];
	nd->right = new_node(G, i, nd->end, nd->depth + 1, nd->g - gl, nd->h - hl);
	nd = &G->nodes[id];
	L = &G->nodes[nd->left];
	R = &G->nodes[nd->right];
	small = (L->end - L->start) <= (R->end - R->start) ? nd->left : nd->right;
	large = small == nd->left ? nd->right : nd->left;
	S = &G->nodes[small];
	B = &G->nodes[large];
	/* the smaller child's histogram from its rows, the larger's by subtraction */
	build_histogram(G, S);
	B->hist = nd->hist;
	nd->hist = NULL;
	{
		size_t		k,
					len = (size_t) G->p * G->nbins * 3;

		for (k = 0; k < len; k++)
			B->hist[k] -= S->hist[k];
	}
	find_split(G, S);
	find_split(G, B);
	/* a node that will not be split needs its histogram no more */
	if (!S->splittable)
		give_back(G, S);
	if (!B->splittable)
		give_back(G, B);
}

/* grow one tree to gradients g and hessians h; leaf values scaled by the learning rate */
static void
grow_tree(Grower *G)
{
	const MlParams *P = G->params;
	int			leaves = 1,
				i;
	double		g = 0,
				h = 0;

	for (i = 0; i < G->n; i++)
	{
		G->rows[i] = i;
		g += G->g[i];
		h += G->h[i];
	}
	G->nnodes = 0;
	(void) new_node(G, 0, G->n, 0, g, h);
	build_histogram(G, &G->nodes[0]);
	find_split(G, &G->nodes[0]);
	if (!G->nodes[0].splittable)
		give_back(G, &G->nodes[0]);
	while (leaves < P->max_leaf_nodes)
	{
		int			best = -1;

		for (i = 0; i < G->nnodes; i++)
			if (G->nodes[i].left < 0 && G->nodes[i].splittable &&
				(best < 0 || G->nodes[i].gain > G->nodes[best].gain))
				best = i;
		if (best < 0)
			break;
		split_node(G, best);
		leaves++;
	}
	for (i = 0; i < G->nnodes; i++)
	{
		Node	   *nd = &G->nodes[i];

		give_back(G, nd);
		if (nd->left < 0)
			nd->value = -nd->g / (nd->h + P->l2_regularization) * P->learning_rate;
	}
}

/* the grown tree as an MlTree in preorder, thresholds from the bins */
static int
emit(const Grower *G, int id, double *const *thr, const int *nthr_of, MlTree *t, int *node, int *leaf)
{
	const Node *nd = &G->nodes[id];
	int			me = (*node)++;

	if (nd->left < 0)
	{
		t->feature[me] = -1;
		t->threshold[me] = 0;
		t->right[me] = *leaf;
		t->value[(*leaf)++] = nd->value;
		return me;
	}
	t->feature[me] = nd->feature;
	t->flags[me] = (nd->missing_left ? ML_SPLIT_MISSING_LEFT : 0) | (nd->on_levels ? ML_SPLIT_LEVELS : 0);
	if (nd->on_levels)
	{
		t->threshold[me] = 0;
		memcpy(t->levels_left + (size_t) me * (ML_MAX_LEVEL_SPLIT / 64), nd->levels, sizeof(nd->levels));
	}
	else
		/* every value left (the split is values against missing ones) past the last threshold */
		t->threshold[me] = nd->bin < nthr_of[nd->feature] ? thr[nd->feature][nd->bin] : INFINITY;
	(void) emit(G, nd->left, thr, nthr_of, t, node, leaf);
	t->right[me] = emit(G, nd->right, thr, nthr_of, t, node, leaf);
	return me;
}

static void
to_mltree(const Grower *G, double *const *thr, const int *nthr_of, MlTree *t)
{
	int			nleaves = (G->nnodes + 1) / 2,
				node = 0,
				leaf = 0;

	t->nnodes = G->nnodes;
	t->feature = ml_alloc_array(G->nnodes, sizeof(int32_t));
	t->threshold = ml_alloc_array(G->nnodes, sizeof(double));
	t->right = ml_alloc_array(G->nnodes, sizeof(int32_t));
	t->nleaves = nleaves;
	t->nvalues = 1;
	t->value = ml_alloc_array(nleaves, sizeof(double));
	t->flags = ml_alloc_array(G->nnodes, sizeof(uint8_t));
	t->levels_left = NULL;
	for (node = 0; node < G->nnodes; node++)
		if (G->nodes[node].left >= 0 && G->nodes[node].on_levels)
		{
			t->levels_left = ml_alloc_array((size_t) G->nnodes * (ML_MAX_LEVEL_SPLIT / 64), sizeof(uint64_t));
			break;
		}
	node = 0;
	(void) emit(G, 0, thr, nthr_of, t, &node, &leaf);
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
			grow_tree(&G);
			to_mltree(&G, thr, nthr_of, t);
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
