/*-------------------------------------------------------------------------
 *
 * tree.c
 *		CART decision trees and random forests.
 *
 * Splits are chosen as scikit-learn chooses them (best threshold, midway
 * between consecutive distinct values, by gini, entropy or squared error;
 * min_samples_split, min_samples_leaf, max_depth, max_features), but found
 * differently: every feature is sorted once, and each node keeps, for
 * every feature, its rows in that feature's order as one segment of a
 * per-feature array.  Splitting a node partitions each segment stably in
 * two, so no node ever sorts: a level of the tree costs O(features x rows)
 * instead of O(features x rows x log rows); the values travel with the row
 * numbers, so the split search reads them in sequence.  A forest sorts once for all
 * its trees; a tree's bootstrap sample is a weight per row (how often it
 * was drawn), and the sorted orders are filtered to the drawn rows.
 *
 * Split search keeps the left side's statistics incrementally, so each
 * candidate threshold costs O(1): gini maximises sum_k cL_k^2 / WL + sum_k
 * cR_k^2 / WR, entropy minimises sum_side (W log W - sum_k c_k log c_k),
 * squared error maximises SL^2 / WL + SR^2 / WR.  Ties keep the first
 * candidate in the order features are tried; with max_features below the
 * number of features, the features tried are drawn from the tree's seeded
 * generator, and more are tried while the ones drawn are constant in the
 * node, as scikit-learn does.
 *
 * src/ml/tree.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_core.h"

typedef struct TreeBuilder
{
	const MlData *d;
	MlTask		task;
	MlCriterion criterion;
	int			nclasses;
	int			max_depth;
	int			min_split;
	int			min_leaf;
	int			mtry;			/* features tried per node */
	MlRng	   *rng;
	const double *w;			/* weight per row (bootstrap counts), or NULL: all 1 */
	int			nrows;			/* rows in the tree (weight > 0) */
	int		  **order;			/* per feature: rows sorted by it, node segments */
	double	  **vals;			/* per feature: the values of order's rows, in step with it */
	int		   *tmp;
	double	   *tmpv;
	unsigned char *left_mark;
	int		   *features;		/* scratch: feature order for a node */
	double	   *cl;				/* scratch: class weights, left and right */
	double	   *cr;
	double	   *ctot;
	/* the tree being built */
	int			nnodes,
				capnodes;
	int32_t    *feature;
	double	   *threshold;
	int32_t    *right;
	int			nleaves,
				capleaves;
	double	   *value;
} TreeBuilder;

typedef struct SortItem
{
	double		v;
	int			i;
} SortItem;

static int
sort_item_cmp(const void *a, const void *b)
{
	const SortItem *x = a;
	const SortItem *y = b;

	if (x->v < y->v)
		return -1;
	if (x->v > y->v)
		return 1;
	return x->i - y->i;
}

/* rows 0..n-1 sorted by each feature */
static int **
presort(const MlData *d)
{
	int		  **order = ml_alloc_array(d->p, sizeof(int *));
	SortItem   *items = ml_alloc_array(d->n, sizeof(SortItem));
	int			j,
				i;

	for (j = 0; j < d->p; j++)
	{
		const double *col = d->x + (size_t) j * d->n;

		ml_check_interrupts();
		for (i = 0; i < d->n; i++)
		{
			items[i].v = col[i];
			items[i].i = i;
		}
		qsort(items, d->n, sizeof(SortItem), sort_item_cmp);
		order[j] = ml_alloc_array(d->n, sizeof(int));
		for (i = 0; i < d->n; i++)
			order[j][i] = items[i].i;
	}
	ml_free(items);
	return order;
}

static inline double
weight_of(const TreeBuilder *b, int row)
{
	return b->w ? b->w[row] : 1.0;
}

static inline double
xlogx(double x)
{
	return x > 0 ? x * log(x) : 0;
}

static int
new_node(TreeBuilder *b)
{
	if (b->nnodes == b->capnodes)
	{
		int			cap = b->capnodes ? b->capnodes * 2 : 64;
		int32_t    *f = ml_alloc_array(cap, sizeof(int32_t));
		double	   *t = ml_alloc_array(cap, sizeof(double));
		int32_t    *r = ml_alloc_array(cap, sizeof(int32_t));

		if (b->nnodes)
		{
			memcpy(f, b->feature, sizeof(int32_t) * b->nnodes);
			memcpy(t, b->threshold, sizeof(double) * b->nnodes);
			memcpy(r, b->right, sizeof(int32_t) * b->nnodes);
			ml_free(b->feature);
			ml_free(b->threshold);
			ml_free(b->right);
		}
		b->feature = f;
		b->threshold = t;
		b->right = r;
		b->capnodes = cap;
	}
	return b->nnodes++;
}

static void
make_leaf(TreeBuilder *b, int node, int start, int end)
{
	int			nv = b->task == ML_CLASSIFICATION ? b->nclasses : 1;
	double	   *v;
	double		total = 0;
	int		   *rows = b->order[0];
	int			i,
				k;

	if (b->nleaves == b->capleaves)
	{
		int			cap = b->capleaves ? b->capleaves * 2 : 32;
		double	   *nvv = ml_alloc_array((size_t) cap * nv, sizeof(double));

		if (b->nleaves)
		{
			memcpy(nvv, b->value, sizeof(double) * (size_t) b->nleaves * nv);
			ml_free(b->value);
		}
		b->value = nvv;
		b->capleaves = cap;
	}
	v = b->value + (size_t) b->nleaves * nv;
	for (k = 0; k < nv; k++)
		v[k] = 0;
	for (i = start; i < end; i++)
	{
		int			r = rows[i];
		double		w = weight_of(b, r);

		if (b->task == ML_CLASSIFICATION)
			v[(int) b->d->y[r]] += w;
		else
			v[0] += w * b->d->y[r];
		total += w;
	}
	for (k = 0; k < nv; k++)
		v[k] /= total;
	b->feature[node] = -1;
	b->threshold[node] = 0;
	b->right[node] = b->nleaves++;
}

/*
 * The best split of segment [start, end) on feature f, which the caller has
 * seen is not constant there: returns false when min_samples_leaf cannot
 * hold.
 */
static bool
best_split_on(TreeBuilder *b, int f, int start, int end, double wtot, double ytot,
			  double *best_score, double *best_threshold, int *best_pos)
{
	const double *vals = b->vals[f];
	const double *y = b->d->y;
	int		   *rows = b->order[f];
	int			K = b->nclasses;
	int			nseg = end - start;
	double		wl = 0;
	double		sl = 0;			/* regression: weighted sum of y on the left */
	double		sql = 0,		/* gini: sum of squared class weights, left and right */
				sqr = 0;
	double		xl = 0,			/* entropy: sum of c log c, left and right */
				xr = 0;
	bool		found = false;
	int			i,
				k;

	if (b->task == ML_CLASSIFICATION)
	{
		for (k = 0; k < K; k++)
		{
			b->cl[k] = 0;
			b->cr[k] = b->ctot[k];
			sqr += b->cr[k] * b->cr[k];
			xr += xlogx(b->cr[k]);
		}
	}
	for (i = start; i < end - 1; i++)
	{
		int			r = rows[i];
		double		w = weight_of(b, r);
		double		v = vals[i];
		double		vnext = vals[i + 1];
		double		wr;
		double		score;
		int			nleft = i - start + 1;

		wl += w;
		if (b->task == ML_CLASSIFICATION)
		{
			int			c = (int) y[r];

			if (b->criterion == ML_ENTROPY)
			{
				xl += xlogx(b->cl[c] + w) - xlogx(b->cl[c]);
				xr += xlogx(b->cr[c] - w) - xlogx(b->cr[c]);
			}
			else
			{
				sql += 2 * w * b->cl[c] + w * w;
				sqr += -2 * w * b->cr[c] + w * w;
			}
			b->cl[c] += w;
			b->cr[c] -= w;
		}
		else
			sl += w * y[r];
		if (vnext <= v)
			continue;			/* no threshold between equal values */
		if (nleft < b->min_leaf || nseg - nleft < b->min_leaf)
			continue;
		wr = wtot - wl;
		if (b->task == ML_CLASSIFICATION)
		{
			if (b->criterion == ML_ENTROPY)
				score = -((xlogx(wl) - xl) + (xlogx(wr) - xr));
			else
				score = sql / wl + sqr / wr;
		}
		else
		{
			double		sr = ytot - sl;

			score = sl * sl / wl + sr * sr / wr;
		}
		if (!found || score > *best_score)
		{
			double		t = v / 2.0 + vnext / 2.0;

			if (t == vnext || isinf(t) || isnan(t))
				t = v;
			*best_score = score;
			*best_threshold = t;
			*best_pos = nleft;
			found = true;
		}
	}
	return found;
}

/*
 * Reorder every feature's segment: rows going left first, each side in
 * order.  Without branches on the side a row goes (they would be
 * mispredicted half the time): each row is written to both places and only
 * the side it belongs to advances.
 */
static void
partition(TreeBuilder *b, int f, double threshold, int start, int end)
{
	int			j,
				i;

	for (i = start; i < end; i++)
		b->left_mark[b->order[f][i]] = b->vals[f][i] <= threshold;
	for (j = 0; j < b->d->p; j++)
	{
		int		   *rows = b->order[j];
		double	   *vals = b->vals[j];
		int			nl = 0,
					nr = 0;

		for (i = start; i < end; i++)
		{
			int			r = rows[i];
			double		v = vals[i];
			int			left = b->left_mark[r];

			rows[start + nl] = r;
			vals[start + nl] = v;
			b->tmp[nr] = r;
			b->tmpv[nr] = v;
			nl += left;
			nr += !left;
		}
		memcpy(rows + start + nl, b->tmp, sizeof(int) * nr);
		memcpy(vals + start + nl, b->tmpv, sizeof(double) * nr);
	}
}

typedef struct Pending
{
	int			start,
				end,
				depth;
	int			parent;			/* for a right child: its parent, to link */
} Pending;

static void
grow(TreeBuilder *b)
{
	int			cap = 64;
	Pending    *stack = ml_alloc_array(cap, sizeof(Pending));
	int			top = 0;
	int			K = b->nclasses;
	int			p = b->d->p;

	stack[top++] = (Pending) {0, b->nrows, 0, -1};
	while (top > 0)
	{
		Pending		t = stack[--top];
		int			node = new_node(b);
		int		   *rows = b->order[0];
		double		wtot = 0,
					ytot = 0,
					y2tot = 0;
		int			nseg = t.end - t.start;
		bool		pure = true;
		double		best_score = 0,
					best_threshold = 0;
		int			best_feature = -1,
					best_pos = 0;
		int			tried = 0;
		int			i,
					k;

		if (t.parent >= 0)
			b->right[t.parent] = node;
		ml_check_interrupts();
		if (b->task == ML_CLASSIFICATION)
			for (k = 0; k < K; k++)
				b->ctot[k] = 0;
		for (i = t.start; i < t.end; i++)
		{
			int			r = rows[i];
			double		w = weight_of(b, r);

			wtot += w;
			if (b->task == ML_CLASSIFICATION)
				b->ctot[(int) b->d->y[r]] += w;
			else
			{
				ytot += w * b->d->y[r];
				y2tot += w * b->d->y[r] * b->d->y[r];
			}
		}
		if (b->task == ML_CLASSIFICATION)
		{
			int			nonzero = 0;

			for (k = 0; k < K; k++)
				nonzero += b->ctot[k] > 0;
			pure = nonzero <= 1;
		}
		else
			pure = y2tot - ytot * ytot / wtot <= 1e-12 * fmax(1.0, y2tot);

		if (pure || nseg < b->min_split || nseg < 2 * b->min_leaf ||
			(b->max_depth > 0 && t.depth >= b->max_depth))
		{
			make_leaf(b, node, t.start, t.end);
			continue;
		}

		/* the features to try, in a random order when only some are tried */
		for (i = 0; i < p; i++)
			b->features[i] = i;
		if (b->mtry < p)
			ml_shuffle(b->rng, b->features, p);
		for (i = 0; i < p; i++)
		{
			int			f = b->features[i];
			double		score = 0,
						thr = 0;
			int			pos = 0;
			double		first = b->vals[f][t.start];
			double		last = b->vals[f][t.end - 1];

			if (tried >= b->mtry)
				break;
			if (first >= last)
				continue;		/* constant here: does not count as tried */
			tried++;
			if (best_split_on(b, f, t.start, t.end, wtot, ytot, &score, &thr, &pos) &&
				(best_feature < 0 || score > best_score))
			{
				best_score = score;
				best_threshold = thr;
				best_feature = f;
				best_pos = pos;
			}
		}
		if (best_feature < 0)
		{
			make_leaf(b, node, t.start, t.end);
			continue;
		}
		b->feature[node] = best_feature;
		b->threshold[node] = best_threshold;
		partition(b, best_feature, best_threshold, t.start, t.end);
		/* left child next in preorder: push the right one first */
		if (top + 2 > cap)
		{
			Pending    *ns = ml_alloc_array(cap * 2, sizeof(Pending));

			memcpy(ns, stack, sizeof(Pending) * top);
			ml_free(stack);
			stack = ns;
			cap *= 2;
		}
		stack[top++] = (Pending) {t.start + best_pos, t.end, t.depth + 1, node};
		stack[top++] = (Pending) {t.start, t.start + best_pos, t.depth + 1, -1};
	}
	ml_free(stack);
}

/*
 * Features tried per node: max_features as a fraction of them (0 < f <= 1),
 * a count (f > 1), sqrt (-1) or log2 (-2) of their number; by default all
 * for a tree and a regression forest, sqrt for a classification forest
 * (scikit-learn's defaults).
 */
static int
default_mtry(const MlModel *m, int p, bool forest)
{
	double		f = m->params.max_features;
	int			k;

	if (f == 0)
		f = forest && m->task == ML_CLASSIFICATION ? -1 : 1.0;
	if (f == -1)
		k = (int) sqrt((double) p);
	else if (f == -2)
		k = (int) log2((double) p);
	else if (f > 1)
		k = (int) f;
	else
		k = (int) (f * p);
	return k < 1 ? 1 : (k > p ? p : k);
}

/* build one tree on the rows with weight > 0 (all when w is NULL) */
static void
build_tree(MlModel *m, const MlData *d, int *const *sorted, const double *w, MlRng *rng,
		   bool forest, MlTree *out)
{
	TreeBuilder b;
	int			j,
				i;

	memset(&b, 0, sizeof(b));
	b.d = d;
	b.task = m->task;
	b.criterion = m->params.criterion ? m->params.criterion :
		(m->task == ML_CLASSIFICATION ? ML_GINI : ML_SQUARED_ERROR);
	b.nclasses = m->nclasses;
	b.max_depth = m->params.max_depth;
	b.min_split = m->params.min_samples_split < 2 ? 2 : m->params.min_samples_split;
	b.min_leaf = m->params.min_samples_leaf < 1 ? 1 : m->params.min_samples_leaf;
	b.mtry = default_mtry(m, d->p, forest);
	b.rng = rng;
	b.w = w;
	b.order = ml_alloc_array(d->p, sizeof(int *));
	b.vals = ml_alloc_array(d->p, sizeof(double *));
	b.nrows = 0;
	for (i = 0; i < d->n; i++)
		b.nrows += (w == NULL || w[i] > 0);
	for (j = 0; j < d->p; j++)
	{
		int			k = 0;
		const double *col = d->x + (size_t) j * d->n;

		b.order[j] = ml_alloc_array(b.nrows > 0 ? b.nrows : 1, sizeof(int));
		b.vals[j] = ml_alloc_array(b.nrows > 0 ? b.nrows : 1, sizeof(double));
		for (i = 0; i < d->n; i++)
		{
			int			r = sorted[j][i];

			if (w == NULL || w[r] > 0)
			{
				b.vals[j][k] = col[r];
				b.order[j][k++] = r;
			}
		}
	}
	b.tmp = ml_alloc_array(b.nrows > 0 ? b.nrows : 1, sizeof(int));
	b.tmpv = ml_alloc_array(b.nrows > 0 ? b.nrows : 1, sizeof(double));
	b.left_mark = ml_alloc(d->n);
	b.features = ml_alloc_array(d->p, sizeof(int));
	b.cl = ml_alloc_array(b.nclasses + 1, sizeof(double));
	b.cr = ml_alloc_array(b.nclasses + 1, sizeof(double));
	b.ctot = ml_alloc_array(b.nclasses + 1, sizeof(double));

	grow(&b);

	out->nnodes = b.nnodes;
	out->feature = b.feature;
	out->threshold = b.threshold;
	out->right = b.right;
	out->nleaves = b.nleaves;
	out->nvalues = m->task == ML_CLASSIFICATION ? m->nclasses : 1;
	out->value = b.value;
	for (j = 0; j < d->p; j++)
	{
		ml_free(b.order[j]);
		ml_free(b.vals[j]);
	}
	ml_free(b.order);
	ml_free(b.vals);
	ml_free(b.tmp);
	ml_free(b.tmpv);
	ml_free(b.left_mark);
	ml_free(b.features);
	ml_free(b.cl);
	ml_free(b.cr);
	ml_free(b.ctot);
}

void
ml_train_tree(MlModel *m, const MlData *d)
{
	int		  **sorted = presort(d);
	MlRng		rng;
	int			j;

	ml_rng_seed(&rng, m->params.seed);
	m->ntrees = 1;
	m->trees = ml_alloc_array(1, sizeof(MlTree));
	build_tree(m, d, sorted, NULL, &rng, false, &m->trees[0]);
	for (j = 0; j < d->p; j++)
		ml_free(sorted[j]);
	ml_free(sorted);
}

void
ml_train_forest(MlModel *m, const MlData *d)
{
	int		  **sorted = presort(d);
	double	   *w = ml_alloc_array(d->n, sizeof(double));
	MlRng		master;
	int			t,
				i,
				j;

	if (m->params.n_estimators < 1)
		ml_error(ML_ERR_INPUT, "n_estimators must be at least 1, not %d", m->params.n_estimators);
	ml_rng_seed(&master, m->params.seed);
	m->ntrees = m->params.n_estimators;
	m->trees = ml_alloc_array(m->ntrees, sizeof(MlTree));
	for (t = 0; t < m->ntrees; t++)
	{
		MlRng		rng;

		ml_progress("training trees", t, m->ntrees);

		/* each tree its own stream, so a tree does not depend on how others drew */
		ml_rng_seed(&rng, ml_rng_next(&master));
		if (m->params.bootstrap)
		{
			for (i = 0; i < d->n; i++)
				w[i] = 0;
			for (i = 0; i < d->n; i++)
				w[ml_rng_below(&rng, (uint32_t) d->n)] += 1;
		}
		build_tree(m, d, sorted, m->params.bootstrap ? w : NULL, &rng, true, &m->trees[t]);
	}
	for (j = 0; j < d->p; j++)
		ml_free(sorted[j]);
	ml_free(sorted);
	ml_free(w);
}
