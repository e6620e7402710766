/*-------------------------------------------------------------------------
 *
 * boost_tree.h
 *		One regression tree of gradient boosting, grown leaf by leaf on the
 *		histograms of binned rows (boost_tree.c), for the boosting loop
 *		(boost.c).
 *
 * src/ml/boost_tree.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ML_BOOST_TREE_H
#define DWC_ML_BOOST_TREE_H

#include "ml/ml_core.h"

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
	bool		unit_hessian;	/* every h is 1 (squared error): histograms count instead of summing h */
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

/* grow one tree to gradients G->g and hessians G->h; leaf values scaled by the learning rate */
extern void ml_boost_grow_tree(Grower *G);

/* the grown tree as an MlTree in preorder, thresholds from the bins (thr, nthr_of per feature) */
extern void ml_boost_to_tree(const Grower *G, double *const *thr, const int *nthr_of, MlTree *t);

#endif							/* DWC_ML_BOOST_TREE_H */
