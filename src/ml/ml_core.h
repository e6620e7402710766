/*-------------------------------------------------------------------------
 *
 * ml_core.h
 *		dwc's machine learning core: models, their schema, training and
 *		prediction, in plain C.
 *
 * The core knows nothing of PostgreSQL: it works on dense matrices of
 * doubles and reports through three hooks (allocation, errors, interrupt
 * checks) that ml_pg.c binds to palloc, ereport and CHECK_FOR_INTERRUPTS,
 * and that the fuzz target binds to an arena and longjmp.  That keeps the
 * artifact reader and the predictors testable outside a server, and the
 * SQL side (ml_read.c, ml_encode.c, ml_train.c, ml_predict.c) thin.
 *
 * Matrices are column-major (x[j * n + i] is feature j of row i), as
 * LAPACK wants them and as trees and coordinate descent read them.
 *
 * src/ml/ml_core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_ML_CORE_H
#define DWC_ML_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* ---- hooks --------------------------------------------------------------- */

typedef enum MlErrorKind
{
	ML_ERR_INPUT,				/* bad training or prediction input (22023) */
	ML_ERR_ARTIFACT,			/* corrupted or unknown artifact (XX001) */
	ML_ERR_NOT_SUPPORTED,		/* not implemented for this algorithm (0A000) */
	ML_ERR_NUMERIC,				/* the computation failed (2201E) */
	ML_ERR_INTERNAL
} MlErrorKind;

/* zeroed memory; never returns NULL */
extern void *(*ml_alloc_hook) (size_t size);
extern void (*ml_free_hook) (void *p);
/* does not return */
extern void (*ml_error_hook) (MlErrorKind kind, const char *message);
extern void (*ml_interrupt_hook) (void);
/* how far training has come: a phase, done of total (in a backend: the running job's progress) */
extern void (*ml_progress_hook) (const char *phase, long done, long total);

extern void *ml_alloc(size_t size);
extern void *ml_alloc_array(size_t n, size_t size);
extern void ml_free(void *p);
extern char *ml_strdup(const char *s);
extern void ml_error(MlErrorKind kind, const char *fmt,...) __attribute__((format(printf, 2, 3), noreturn));

static inline void
ml_check_interrupts(void)
{
	if (ml_interrupt_hook)
		ml_interrupt_hook();
}

static inline void
ml_progress(const char *phase, long done, long total)
{
	if (ml_progress_hook)
		ml_progress_hook(phase, done, total);
}

/* ---- random numbers: seeded, the same on every platform ------------------- */

typedef struct MlRng
{
	uint64_t	s[4];
} MlRng;

extern void ml_rng_seed(MlRng *rng, uint64_t seed);
extern uint64_t ml_rng_next(MlRng *rng);
extern double ml_rng_double(MlRng *rng);	/* [0, 1) */
extern uint32_t ml_rng_below(MlRng *rng, uint32_t n);	/* [0, n) */
extern void ml_shuffle(MlRng *rng, int *a, int n);

/* ---- what a model is ------------------------------------------------------ */

typedef enum MlTask
{
	ML_CLASSIFICATION = 1,
	ML_REGRESSION = 2,
	ML_CLUSTERING = 3
} MlTask;

typedef enum MlAlgorithm
{
	ML_LINEAR_REGRESSION = 1,
	ML_RIDGE = 2,
	ML_LASSO = 3,
	ML_ELASTIC_NET = 4,
	ML_LOGISTIC_REGRESSION = 5,
	ML_DECISION_TREE = 6,
	ML_RANDOM_FOREST = 7,
	ML_NAIVE_BAYES = 8,
	ML_KNN = 9,
	ML_KMEANS = 10,
	ML_GRADIENT_BOOSTING = 11
} MlAlgorithm;

#define ML_ALGORITHM_MAX 11

extern const char *ml_algorithm_name(MlAlgorithm a);
extern bool ml_algorithm_from_name(const char *name, MlAlgorithm *a);
extern const char *ml_task_name(MlTask t);
extern bool ml_algorithm_supports(MlAlgorithm a, MlTask t);

typedef enum MlCriterion
{
	ML_GINI = 1,
	ML_ENTROPY = 2,
	ML_SQUARED_ERROR = 3
} MlCriterion;

/* hyperparameters, with scikit-learn's defaults (ml_params_defaults) */
typedef struct MlParams
{
	/* linear models */
	double		alpha;			/* ridge, lasso, elastic net */
	double		l1_ratio;		/* elastic net */
	double		C;				/* logistic regression: inverse of L2 strength */
	bool		fit_intercept;
	int			max_iter;
	double		tol;
	/* trees */
	MlCriterion criterion;		/* 0: gini (classification) or squared error */
	int			max_depth;		/* 0: unlimited */
	int			min_samples_split;
	int			min_samples_leaf;
	double		max_features;	/* fraction of features tried per split; 0: default */
	int			n_estimators;
	bool		bootstrap;
	/* gradient boosting (min_samples_leaf, max_depth, max_iter and tol too) */
	double		learning_rate;
	int			max_leaf_nodes;
	double		l2_regularization;
	int			max_bins;
	int			early_stopping;	/* 1 on, 0 off, -1 auto: on above 10,000 rows */
	double		validation_fraction;
	int			n_iter_no_change;
	bool		native_categorical;	/* text columns as their level number, split by sets of levels */
	bool		min_samples_leaf_set;	/* given, else the algorithm's default */
	/* naive Bayes */
	double		var_smoothing;
	/* nearest neighbours, k-means */
	int			n_neighbors;
	bool		distance_weights;
	int			n_clusters;
	int			n_init;
	/* all */
	uint64_t	seed;
	bool		standardize;	/* scale inputs to mean 0, variance 1 (stored with the model) */
	bool		standardize_set;	/* given explicitly, else the algorithm's default */
} MlParams;

extern void ml_params_defaults(MlParams *p);

/* one input column of a model, before encoding */
typedef enum MlColumnKind
{
	ML_COL_NUMERIC = 1,			/* numbers (and booleans as 0/1) */
	ML_COL_CATEGORICAL = 2		/* text, one-hot encoded by level */
} MlColumnKind;

typedef struct MlColumn
{
	char	   *name;
	MlColumnKind kind;
	int			nlevels;		/* categorical: levels, sorted bytewise */
	char	  **levels;
	int			offset;			/* first encoded input of this column */
	bool		has_impute;		/* NULLs were imputed in training: use impute for them */
	double		impute;			/* numeric: the mean; categorical: the level index; NaN: kept missing */
	bool		native;			/* categorical given as one input, its level number (gradient boosting) */
} MlColumn;

/* the label kind of a classification target */
typedef enum MlLabelKind
{
	ML_LABEL_TEXT = 1,
	ML_LABEL_NUMBER = 2,
	ML_LABEL_BOOL = 3
} MlLabelKind;

/* what goes in and what comes out: the SQL side encodes rows with it */
typedef struct MlSchema
{
	int			ncols;
	MlColumn   *cols;
	int			p;				/* encoded inputs */
	char	   *target;			/* NULL for clustering */
	MlLabelKind label_kind;
	int			nclasses;
	char	  **classes;		/* labels as text, sorted as the target's type sorts */
	double	   *mean;			/* standardisation, or NULL */
	double	   *scale;
} MlSchema;

/*
 * A decision tree, nodes in preorder: a node's left child is the next node.
 * For a split node, feature and threshold say where a row goes (left when
 * x[feature] <= threshold) and right is its right child; for a leaf,
 * feature is -1 and right is the index of its row in value.
 */
typedef struct MlTree
{
	int			nnodes;
	int32_t    *feature;
	double	   *threshold;
	int32_t    *right;
	int			nleaves;
	int			nvalues;		/* per leaf: nclasses probabilities, or 1 mean */
	double	   *value;			/* nleaves * nvalues */
	uint8_t    *flags;			/* per node: ML_SPLIT_*; NULL: none (every missing input goes right) */
	uint64_t   *levels_left;	/* 4 words a node: at an ML_SPLIT_LEVELS node, the levels that go left */
} MlTree;

#define ML_SPLIT_MISSING_LEFT 1	/* a missing input (NaN) goes left */
#define ML_SPLIT_LEVELS 2		/* the input is a level number: its set in levels_left goes left */
#define ML_MAX_LEVEL_SPLIT 256	/* levels a level split can hold */

typedef struct MlModel
{
	MlAlgorithm algorithm;
	MlTask		task;
	int			p;				/* inputs (after encoding) */
	int			nclasses;		/* classification */
	MlParams	params;
	int			n_iter;			/* iterations the solver ran (not stored) */
	/* linear, ridge, lasso, elastic net, logistic: ncoef sets of p weights */
	int			ncoef;
	double	   *coef;			/* ncoef * p, set k at coef + k * p */
	double	   *intercept;		/* ncoef */
	/* trees, forests and boosting (whose ncoef intercepts are its baselines, one per output) */
	int			ntrees;
	MlTree	   *trees;
	/* naive Bayes: per class mean and variance of each input, log prior */
	double	   *theta;			/* nclasses * p */
	double	   *var;
	double	   *log_prior;
	/* nearest neighbours: the training rows, column-major ntrain * p */
	int			ntrain;
	double	   *train_x;		/* ntrain * p */
	double	   *train_y;
	double	   *train_norm;		/* |row|^2 of each, computed on load (not stored) */
	float	   *train_f;		/* single precision, ntrain * (p + 1): the rows, then |row|^2 / 2 (not stored) */
	double		train_maxnorm;	/* the largest |row|^2 */
	/* k-means: centres, row-major */
	int			nclusters;
	double	   *centers;		/* nclusters * p */
} MlModel;

/* ---- training data -------------------------------------------------------- */

typedef struct MlData
{
	int			n;
	int			p;
	double	   *x;				/* column-major n * p */
	double	   *y;				/* n: value, or class index for classification; NULL for clustering */
	const int  *levels_of;		/* per input: the levels of a text column given as its level number, else 0; NULL: none */
} MlData;

/* ---- training (linear.c, logistic.c, tree.c, boost.c, bayes.c, knn.c, kmeans.c) ---- */

/*
 * The model may refer to d's arrays (k nearest neighbours keep their training
 * rows): it must not outlive them.
 */
extern MlModel *ml_train(const MlData *d, MlAlgorithm algorithm, MlTask task, int nclasses,
						 const MlParams *params);
extern void ml_train_linear(MlModel *m, const MlData *d);
extern void ml_train_logistic(MlModel *m, const MlData *d);
extern void ml_train_tree(MlModel *m, const MlData *d);
extern void ml_train_forest(MlModel *m, const MlData *d);
extern void ml_train_naive_bayes(MlModel *m, const MlData *d);
extern void ml_train_knn(MlModel *m, const MlData *d);
extern void ml_train_kmeans(MlModel *m, const MlData *d);
extern void ml_train_boosting(MlModel *m, const MlData *d);

/* the values of the leaf of tree t that row x (p inputs) falls in */
extern const double *ml_tree_leaf(const MlTree *t, const double *x);

/* a boosted model's raw outputs (baseline plus its trees, before the link) for row x: ncoef of them */
extern void ml_boosting_raw(const MlModel *m, const double *x, double *out);

/* ---- prediction (predict.c, knn.c): x is one encoded, standardised row ---- */

/* class index, value, or cluster */
extern double ml_predict_one(MlModel *m, const double *x);
/* class probabilities into proba[nclasses]; false if the algorithm has none */
extern bool ml_predict_proba(MlModel *m, const double *x, double *proba);
extern bool ml_has_proba(const MlModel *m);
/* many rows, column-major n * p; out[n] (and proba[n * nclasses] when not NULL) */
extern void ml_predict_many(MlModel *m, const double *x, int n, double *out, double *proba);
extern void ml_knn_predict(MlModel *m, const double *x, int n, bool row_major, double *out, double *proba);
extern void ml_knn_norms(MlModel *m);

/* ---- metrics (metrics.c) --------------------------------------------------- */

typedef struct MlClassMetrics
{
	int			nclasses;
	double		accuracy;
	double		precision_macro,
				recall_macro,
				f1_macro;
	double		precision_weighted,
				recall_weighted,
				f1_weighted;
	bool		has_auc;
	double		roc_auc;		/* binary */
	bool		has_log_loss;
	double		log_loss;
	int64_t    *confusion;		/* nclasses * nclasses, row: true class */
} MlClassMetrics;

typedef struct MlRegMetrics
{
	double		rmse;
	double		mae;
	double		r2;
} MlRegMetrics;

typedef struct MlClusterMetrics
{
	double		inertia;
	bool		has_silhouette;
	double		silhouette;
} MlClusterMetrics;

extern void ml_class_metrics(const double *truth, const double *pred, const double *proba, int n,
							 int nclasses, MlClassMetrics *out);
extern void ml_reg_metrics(const double *truth, const double *pred, int n, MlRegMetrics *out);
extern void ml_cluster_metrics(const MlModel *m, const double *x, const double *label, int n,
							   int max_silhouette_rows, MlClusterMetrics *out);

/* ---- artifacts (artifact.c) ----------------------------------------------- */

#define ML_ARTIFACT_MAGIC "DWCML"
#define ML_ARTIFACT_FORMAT 2
/* the oldest format read: 1 had no missing-value directions in trees */
#define ML_ARTIFACT_FORMAT_OLDEST 1

typedef struct MlBuffer
{
	unsigned char *data;
	size_t		len;
	size_t		cap;
} MlBuffer;

extern void ml_artifact_write(const MlModel *m, const MlSchema *s, MlBuffer *out);
/* validates everything a predictor relies on; raises ML_ERR_ARTIFACT otherwise */
extern void ml_artifact_read(const unsigned char *data, size_t len, MlModel **m, MlSchema **s);
extern uint32_t ml_crc32c(const unsigned char *data, size_t len);

#endif							/* DWC_ML_CORE_H */
