/*-------------------------------------------------------------------------
 *
 * rec_core.h
 *		The recommender's numerical core: sparse interaction matrices,
 *		alternating least squares, scoring and top-n (rec_core.c).
 *
 * Plain C over BLAS and LAPACK, with no PostgreSQL types: memory comes from
 * the caller (palloc in the backend), so the same code runs in the bench's
 * and the tests' harnesses.
 *
 * src/recommend/rec_core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_REC_CORE_H
#define DWC_REC_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* rows of a sparse matrix, compressed (CSR): row r's entries are ptr[r] .. ptr[r+1]-1 */
typedef struct RecCsr
{
	int			nrows;
	int		   *ptr;			/* nrows + 1 */
	int		   *idx;			/* column of each entry */
	double	   *val;			/* value of each entry */
} RecCsr;

/* one entry of a matrix being read: row u, column i, value v, and whether it is held out */
typedef struct RecEntry
{
	int			u;
	int			i;
	double		v;
	bool		test;
} RecEntry;

/*
 * The CSR of the entries whose test flag is test: rows by u (by_user) or by
 * i, nrows of them; memory from ml_alloc.
 */
extern void rec_build_csr(const RecEntry *t, int nt, int nrows, bool by_user, bool test, RecCsr *m);

#define REC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define REC_MIN(a, b) ((a) < (b) ? (a) : (b))

/* a uniform deviate in [0, 1) from a splitmix64 state (seedable, the same everywhere) */
extern double rec_random_uniform(uint64_t *state);

/* n rows of k starting factors, small and seeded (ALS, iALS, BPR) */
extern void rec_init_factors(double *Y, int n, int k, uint64_t seed);

/*
 * Explicit-feedback ALS (weighted-λ regularisation): minimise
 *   Σ (r_ui − x_u·y_i)² + λ (Σ n_u |x_u|² + Σ n_i |y_i|²)
 * over user factors X (nusers × k) and item factors Y (nitems × k), row-major,
 * by alternating exact least-squares solves (dposv) per user and per item.
 * Y is initialised from seed; scratch must hold rec_als_scratch(k, maxrow)
 * doubles, maxrow the longest row of either matrix.
 */
extern size_t rec_als_scratch(int k, int maxrow);
extern int	rec_als_fit(const RecCsr *by_user, const RecCsr *by_item, int k, double lambda, int iters,
						uint64_t seed, double *X, double *Y, double *scratch);

/*
 * One row's least-squares solve against the other side's factors F: the
 * fold-in of a user (or item) with n entries (idx into F, values val).
 * Returns 0, or a LAPACK info code when the system is singular.
 */
extern int	rec_solve_row(const int *idx, const double *val, int n, const double *F, int k, double lambda,
						  double *out, double *scratch);

/*
 * Implicit-feedback ALS (Hu, Koren and Volinsky 2008): every (user, item) has
 * preference p = 1 if the user interacted (value > 0) and 0 otherwise, with
 * confidence c = 1 + alpha * value; minimise Σ c (p − x·y)² + λ(|X|² + |Y|²)
 * over all pairs.  Per row: (FᵀF + Fᵤᵀ(Cᵤ − I)Fᵤ + λI) x = Fᵤᵀ Cᵤ pᵤ, with FᵀF
 * computed once per half-sweep, so the cost stays O(nnz k² + rows k³).
 * scratch must hold rec_ials_scratch(k, maxrow) doubles.
 */
extern size_t rec_ials_scratch(int k, int maxrow);
extern int	rec_ials_fit(const RecCsr *by_user, const RecCsr *by_item, int k, double lambda, double alpha,
						 int iters, uint64_t seed, double *X, double *Y, double *scratch);

/* FᵀF (k × k, both triangles) of n rows of factors */
extern void rec_gram(const double *F, int n, int k, double *out);

/* one row's implicit solve against F with its Gram matrix FtF: the fold-in */
extern int	rec_solve_row_implicit(const int *idx, const double *val, int n, const double *F, const double *FtF,
								   int k, double lambda, double alpha, double *out, double *scratch);

/*
 * PureSVD (Cremonesi, Koren and Turrin 2010): the rank-k truncated SVD of the
 * zero-filled user × item matrix R ≈ U Σ Vᵀ, by randomized range finding
 * (Halko, Martinsson and Tropp) with power iterations, touching R only
 * through sparse products.  Item factors Y = V (items × k); user factors
 * X = R V (users × k), so scores X Yᵀ = R V Vᵀ.  Memory from ml_alloc.
 * Returns 0, or a LAPACK info code.
 */
extern int	rec_svd_fit(const RecCsr *by_user, int nitems, int k, int power_iters, uint64_t seed,
						double *X, double *Y);

/*
 * Item-based kNN: for each item its K most similar items, by the cosine of
 * their columns of values (the caller centres them first for the adjusted
 * cosine), shrunk by c/(c + shrink) for c common users, counting only pairs
 * with at least min_support of them and a similarity of at least min_sim
 * (NaN: any).  Neighbours go to nb_idx/nb_sim
 * (nitems × K, best first, -1 and 0 past the last).  Work arrays: dot
 * (nitems doubles), cnt and touched (nitems ints each).
 */
extern void rec_item_knn(const RecCsr *by_user, const RecCsr *by_item, int K, double shrink, int min_support,
						 double min_sim,
						 int *nb_idx, double *nb_sim, double *dot, int *cnt, int *touched);

/*
 * A user's kNN scores of every item from their n values (idx, val):
 * Σ sim · v over the user's items that have the item as a neighbour, divided
 * by Σ |sim| when average; NaN where none has (the content model's scores).
 * weight: nitems doubles of work.
 */
extern void rec_knn_scores(const int *idx, const double *val, int n, const int *nb_idx, const double *nb_sim,
						   int K, int nitems, bool average, double *scores, double *weight);

/*
 * Baselines of the neighbourhood models (Koren 2010): a rating is
 * mu + b_u + b_i, the biases shrunk towards 0 by these pseudo-counts, so that
 * an item or user with few ratings keeps a bias near 0.
 */
#define REC_ITEM_BIAS_SHRINK 25.0
#define REC_USER_BIAS_SHRINK 10.0

/* each item's bias b_i = Σ (r − mu) / (shrink + n_i) over its column of by_item */
extern void rec_item_biases(const RecCsr *by_item, double mu, double *bitem);

/* a user's bias b_u = Σ (r − mu − b_i) / (shrink + n_u) over their n values */
extern double rec_user_bias(const int *idx, const double *val, int n, double mu, const double *bitem);

/*
 * Item-kNN ranking (Deshpande and Karypis 2004): a user's score of item j is
 * Σ sim(i, j) over the user's items i that have j among their neighbours,
 * NaN where none has.  The sum, not an average: an item close to many of
 * what the user chose outranks one close to a single item, and one
 * neighbour's value cannot put an item on top.
 */
extern void rec_knn_rank(const int *idx, int n, const int *nb_idx, const double *nb_sim, int K, int nitems,
						 double *scores);

/*
 * Item-kNN rating predictions: the baseline mu + b_u + b_j plus the
 * similarity-weighted average of the deviations r_ui − (mu + b_u + b_i) of
 * the user's items i that have j as a neighbour; the baseline alone where
 * none has, so that every item gets a prediction.  weight: nitems doubles.
 */
extern void rec_knn_predict(const int *idx, const double *val, int n, const int *nb_idx, const double *nb_sim,
							int K, int nitems, double mu, const double *bitem, double *pred, double *weight);

/* User-kNN ranking: Σ sim(u, v) over the user's neighbours v (positions nb, n of them) that have j in R */
extern void rec_user_knn_rank(const int *nb, const double *sim, int n, const RecCsr *R, int nitems,
							  double *scores);

/*
 * User-kNN rating predictions: mu + b_u + b_j plus the similarity-weighted
 * average of the neighbours' deviations r_vj − (mu + b_v + b_j), b_v from
 * their rows of R; the baseline alone where no neighbour has j.
 */
extern void rec_user_knn_predict(const int *nb, const double *sim, int n, const RecCsr *R, int nitems, double mu,
								 const double *bitem, double bu, double *pred, double *weight);

/*
 * BPR (Rendle, Freudenthaler, Gantner and Schmidt-Thieme 2009): user and item
 * factors that rank each user's positive items (value > 0) above the others,
 * by stochastic gradient ascent on Σ ln σ(x_u·(y_i − y_j)) − λ(|X|² + |Y|²)
 * over sampled triples (u, i positive, j not), epochs × positives steps.
 * The last of the k columns is an item bias: Y's learns it, X's holds 1, so
 * a score is still one row product (on skewed feedback the bias carries the
 * popularity the factors would otherwise spend themselves on).
 * Returns 0, or -1 when there are no positives.
 */
extern int	rec_bpr_fit(const RecCsr *by_user, int nitems, int k, double lr, double lambda, int epochs,
						uint64_t seed, double *X, double *Y);

/*
 * One user's BPR factors against fixed item factors Y (nitems × k), from
 * their n values (positives: value > 0), by the same steps on x alone,
 * starting from zero: the fold-in.  item_bias: Y's last column is the item
 * bias (versions trained since 0.2.0), so x's last component stays 1.
 */
extern void rec_bpr_fold(const int *idx, const double *val, int n, const double *Y, int nitems, int k,
						 bool item_bias, double lr, double lambda, int epochs, uint64_t seed, double *x);

/* every position whose score is not NaN, best first (ties by lower index); returns how many */
extern int	rec_rank(const double *scores, int nscores, int *out);

/* the n best of scores (higher first; ties by lower index), skipping excluded[i] */
extern int	rec_top_n(const double *scores, int nscores, const unsigned char *excluded, int n, int *out);

/* ranking metrics of one user's top list against their relevant items */
typedef struct RecRankMetrics
{
	double		precision;
	double		recall;
	double		ndcg;
	double		ap;
} RecRankMetrics;

extern void rec_rank_metrics(const int *top, int ntop, const unsigned char *relevant, int nrelevant,
							 int k, RecRankMetrics *m);

#endif							/* DWC_REC_CORE_H */
