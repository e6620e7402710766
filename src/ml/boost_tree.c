/*-------------------------------------------------------------------------
 *
 * boost_tree.c
 *		One regression tree of gradient boosting, grown leaf by leaf: the leaf
 *		whose best split gains most is split next, up to max_leaf_nodes.
 *
 * A node's split is found from its histogram (sums of gradient, hessian and
 * count per bin of each feature); a node's larger child gets its histogram
 * by subtracting the smaller child's from the parent's.  Leaves hold
 * -G / (H + l2) times the learning rate.
 *
 * A level input (a text column as its level's number) is split by a set of
 * levels, found as LightGBM finds it: the node's levels ordered by their
 * gradient over hessian (smoothed), each prefix of that order tried as the
 * left set.  Missing values have a bin of their own after a feature's
 * value bins: each candidate split is tried with that bin on the left and
 * on the right, and also every value against the missing ones; where a
 * node's rows had no missing value of its feature, a missing one goes to
 * the child with more rows, as scikit-learn does.
 *
 * src/ml/boost_tree.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/boost_tree.h"

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
		int			b;

		if (G->unit_hessian)
		{
			/* squared error: every hessian is 1, so a bin's is its count */
			for (i = 0; i < cnt; i++)
			{
				double	   *c = hf + 3 * col[rows[i]];

				c[0] += G->og[i];
				c[2] += 1;
			}
			for (b = 0; b < G->nbins; b++)
				hf[3 * b + 1] = hf[3 * b + 2];
			continue;
		}
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

/*
 * A threshold split of feature f sending value bins 0 .. b (gl, hl, cl: their
 * sums, with the missing bin's when missing_left) left: kept when it gains
 * more than the node's best so far.
 */
static inline void
consider(Node *nd, const MlParams *P, int cnt, double parent, int f, int b, double gl, double hl, double cl,
		 bool missing_left)
{
	double		l2 = P->l2_regularization;
	double		gain;

	if (cl < P->min_samples_leaf || cnt - cl < P->min_samples_leaf)
		return;
	if (hl < 1e-3 || nd->h - hl < 1e-3)
		return;
	gain = score(gl, hl, l2) + score(nd->g - gl, nd->h - hl, l2) - parent;
	if (gain > nd->gain + 1e-12)
	{
		nd->gain = gain;
		nd->feature = f;
		nd->bin = b;
		nd->on_levels = false;
		nd->missing_left = missing_left;
		nd->splittable = true;
	}
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
				gl += hf[3 * b];
				hl += hf[3 * b + 1];
				cl += hf[3 * b + 2];
				if (cnt - cl < P->min_samples_leaf)
					break;
				consider(nd, P, cnt, parent, f, b, gl, hl, cl, cl >= cnt - cl);
			}
			continue;
		}
		/* value bins 0 .. b on the left, the missing bin on either side; or every value against the missing */
		for (b = 0; b < nvals; b++)
		{
			gl += hf[3 * b];
			hl += hf[3 * b + 1];
			cl += hf[3 * b + 2];
			consider(nd, P, cnt, parent, f, b, gl, hl, cl, false);
			if (b < nvals - 1)
				consider(nd, P, cnt, parent, f, b, gl + gm, hl + hm, cl + cm, true);
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

void
ml_boost_grow_tree(Grower *G)
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

void
ml_boost_to_tree(const Grower *G, double *const *thr, const int *nthr_of, MlTree *t)
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

