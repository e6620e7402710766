/*-------------------------------------------------------------------------
 *
 * rec_core.c
 *		The factor models: alternating least squares (explicit and implicit
 *		feedback) and randomized SVD; the rating matrices they read.
 *
 * Each half-sweep solves, for every row (a user, or an item) with n
 * entries, the k × k system (GᵀG + λ n I) x = Gᵀ v, where G gathers the n
 * rows of the other side's factors and v the row's values: dsyrk builds
 * GᵀG, dgemv Gᵀv, dposv (Cholesky) solves.  That is O(n k² + k³) per row,
 * so a sweep costs O(nnz k² + (users + items) k³): for k = 10 and 180,000
 * ratings, a few million multiply-adds.
 *
 * src/recommend/rec_core.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_blas.h"
#include "ml/ml_core.h"
#include "recommend/rec_core.h"

extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
					const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau,
					double *work, const int *lwork, int *info);
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s,
					double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork,
					int *iwork, int *info, size_t jobz_len);

size_t
rec_als_scratch(int k, int maxrow)
{
	/* G (maxrow × k), A (k × k), b (k) */
	return (size_t) maxrow * k + (size_t) k * k + k;
}

int
rec_solve_row(const int *idx, const double *val, int n, const double *F, int k, double lambda,
			  double *out, double *scratch)
{
	double	   *G = scratch;
	double	   *A = G + (size_t) n * k;
	double	   *b = A + (size_t) k * k;
	int			one = 1;
	int			info = 0;
	int			j;

	if (n == 0)
	{
		memset(out, 0, sizeof(double) * k);
		return 0;
	}
	for (j = 0; j < n; j++)
		memcpy(G + (size_t) j * k, F + (size_t) idx[j] * k, sizeof(double) * k);
	/* A = GᵀG, upper triangle in row-major: the lower one for LAPACK's column-major */
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, k, n, 1.0, G, k, 0.0, A, k);
	for (j = 0; j < k; j++)
		A[(size_t) j * k + j] += lambda * n;
	cblas_dgemv(CblasRowMajor, CblasTrans, n, k, 1.0, G, k, val, 1, 0.0, b, 1);
	dposv_("L", &k, &one, A, &k, b, &k, &info, 1);
	if (info != 0)
		return info;
	memcpy(out, b, sizeof(double) * k);
	return 0;
}

static int
solve_side(const RecCsr *m, const double *F, int k, double lambda, double *out, double *scratch)
{
	int			r;

	for (r = 0; r < m->nrows; r++)
	{
		int			start = m->ptr[r];
		int			info = rec_solve_row(m->idx + start, m->val + start, m->ptr[r + 1] - start, F, k,
										 lambda, out + (size_t) r * k, scratch);

		if (info != 0)
			return info;
	}
	return 0;
}

void
rec_build_csr(const RecEntry *t, int nt, int nrows, bool by_user, bool test, RecCsr *m)
{
	int			j;
	int		   *fill;

	m->nrows = nrows;
	m->ptr = ml_alloc_array(nrows + 1, sizeof(int));
	memset(m->ptr, 0, sizeof(int) * (nrows + 1));
	for (j = 0; j < nt; j++)
		if (t[j].test == test)
			m->ptr[(by_user ? t[j].u : t[j].i) + 1]++;
	for (j = 0; j < nrows; j++)
		m->ptr[j + 1] += m->ptr[j];
	m->idx = ml_alloc_array(REC_MAX(m->ptr[nrows], 1), sizeof(int));
	m->val = ml_alloc_array(REC_MAX(m->ptr[nrows], 1), sizeof(double));
	fill = ml_alloc_array(REC_MAX(nrows, 1), sizeof(int));
	memcpy(fill, m->ptr, sizeof(int) * nrows);
	for (j = 0; j < nt; j++)
	{
		int			r;

		if (t[j].test != test)
			continue;
		r = by_user ? t[j].u : t[j].i;
		m->idx[fill[r]] = by_user ? t[j].i : t[j].u;
		m->val[fill[r]] = t[j].v;
		fill[r]++;
	}
	ml_free(fill);
}

/* splitmix64: a small, good, seedable generator (initial factors, the held-out split) */
static uint64_t
next_random(uint64_t *state)
{
	uint64_t	z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

double
rec_random_uniform(uint64_t *state)
{
	return (double) (next_random(state) >> 11) / 9007199254740992.0;
}

/* small random item factors, of the scale 1/√k */
void
rec_init_factors(double *Y, int n, int k, uint64_t seed)
{
	uint64_t	state = seed;
	size_t		i;

	for (i = 0; i < (size_t) n * k; i++)
		Y[i] = (rec_random_uniform(&state) - 0.5) / sqrt((double) k);
}

int
rec_als_fit(const RecCsr *by_user, const RecCsr *by_item, int k, double lambda, int iters,
			uint64_t seed, double *X, double *Y, double *scratch)
{
	int			it;

	rec_init_factors(Y, by_item->nrows, k, seed);
	for (it = 0; it < iters; it++)
	{
		int			info;

		ml_progress("alternating least squares", it, iters);
		info = solve_side(by_user, Y, k, lambda, X, scratch);

		if (info == 0)
			info = solve_side(by_item, X, k, lambda, Y, scratch);
		if (info != 0)
			return info;
	}
	return 0;
}

size_t
rec_ials_scratch(int k, int maxrow)
{
	/* G (maxrow × k), A (k × k), b (k), FᵀF (k × k) */
	return (size_t) maxrow * k + 2 * (size_t) k * k + k;
}

void
rec_gram(const double *F, int n, int k, double *out)
{
	int			a,
				b;

	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, k, n, 1.0, F, k, 0.0, out, k);
	for (a = 0; a < k; a++)
		for (b = 0; b < a; b++)
			out[(size_t) a * k + b] = out[(size_t) b * k + a];
}

int
rec_solve_row_implicit(const int *idx, const double *val, int n, const double *F, const double *FtF, int k,
					   double lambda, double alpha, double *out, double *scratch)
{
	double	   *G = scratch;
	double	   *A = G + (size_t) n * k;
	double	   *b = A + (size_t) k * k;
	int			one = 1;
	int			info = 0;
	int			j,
				a;

	memset(b, 0, sizeof(double) * k);
	/* rows scaled by √(c − 1) = √(alpha v): their Gram matrix is Fᵤᵀ(Cᵤ − I)Fᵤ */
	for (j = 0; j < n; j++)
	{
		double		w = alpha * (val[j] > 0 ? val[j] : 0);
		double		s = sqrt(w);
		const double *f = F + (size_t) idx[j] * k;

		for (a = 0; a < k; a++)
		{
			G[(size_t) j * k + a] = s * f[a];
			b[a] += (1 + w) * f[a] * (val[j] > 0);
		}
	}
	memcpy(A, FtF, sizeof(double) * k * k);
	if (n > 0)
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, k, n, 1.0, G, k, 1.0, A, k);
	for (j = 0; j < k; j++)
		A[(size_t) j * k + j] += lambda;
	dposv_("L", &k, &one, A, &k, b, &k, &info, 1);
	if (info != 0)
		return info;
	memcpy(out, b, sizeof(double) * k);
	return 0;
}

static int
solve_side_implicit(const RecCsr *m, const double *F, int nother, int k, double lambda, double alpha,
					double *out, double *scratch)
{
	double	   *FtF = scratch;
	int			r;

	rec_gram(F, nother, k, FtF);
	for (r = 0; r < m->nrows; r++)
	{
		int			start = m->ptr[r];
		int			info = rec_solve_row_implicit(m->idx + start, m->val + start, m->ptr[r + 1] - start, F, FtF,
												  k, lambda, alpha, out + (size_t) r * k, scratch + (size_t) k * k);

		if (info != 0)
			return info;
	}
	return 0;
}

int
rec_ials_fit(const RecCsr *by_user, const RecCsr *by_item, int k, double lambda, double alpha, int iters,
			 uint64_t seed, double *X, double *Y, double *scratch)
{
	int			it;

	rec_init_factors(Y, by_item->nrows, k, seed);
	for (it = 0; it < iters; it++)
	{
		int			info;

		ml_progress("alternating least squares (implicit)", it, iters);
		info = solve_side_implicit(by_user, Y, by_item->nrows, k, lambda, alpha, X, scratch);

		if (info == 0)
			info = solve_side_implicit(by_item, X, by_user->nrows, k, lambda, alpha, Y, scratch);
		if (info != 0)
			return info;
	}
	return 0;
}

/* standard normal deviates, by Box-Muller over splitmix64 */
static double
next_normal(uint64_t *state)
{
	double		u1 = ((double) (next_random(state) >> 11) + 1.0) / 9007199254740993.0;
	double		u2 = rec_random_uniform(state);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* out (nusers × l) = R M, M being nitems × l, all row-major */
static void
r_times(const RecCsr *R, const double *M, int l, double *out)
{
	int			u,
				e;

	memset(out, 0, sizeof(double) * (size_t) R->nrows * l);
	for (u = 0; u < R->nrows; u++)
	{
		ml_check_interrupts();
		for (e = R->ptr[u]; e < R->ptr[u + 1]; e++)
			cblas_daxpy(l, R->val[e], M + (size_t) R->idx[e] * l, 1, out + (size_t) u * l, 1);
	}
}

/* out (nitems × l) = Rᵀ M, M being nusers × l */
static void
rt_times(const RecCsr *R, const double *M, int nitems, int l, double *out)
{
	int			u,
				e;

	memset(out, 0, sizeof(double) * (size_t) nitems * l);
	for (u = 0; u < R->nrows; u++)
	{
		ml_check_interrupts();
		for (e = R->ptr[u]; e < R->ptr[u + 1]; e++)
			cblas_daxpy(l, R->val[e], M + (size_t) u * l, 1, out + (size_t) R->idx[e] * l, 1);
	}
}

/* A (n × l, row-major) := an orthonormal basis of its columns (Householder QR) */
static int
orthonormalise(double *A, int n, int l, double *cm)
{
	double	   *tau = ml_alloc_array(l, sizeof(double));
	double		wq1 = 0,
				wq2 = 0;
	double	   *work;
	int			query = -1,
				lwork,
				info = 0,
				i,
				j;

	for (i = 0; i < n; i++)
		for (j = 0; j < l; j++)
			cm[(size_t) j * n + i] = A[(size_t) i * l + j];
	dgeqrf_(&n, &l, cm, &n, tau, &wq1, &query, &info);
	if (info == 0)
		dorgqr_(&n, &l, &l, cm, &n, tau, &wq2, &query, &info);
	lwork = REC_MAX(1, (int) REC_MAX(wq1, wq2));
	work = ml_alloc_array(lwork, sizeof(double));
	if (info == 0)
		dgeqrf_(&n, &l, cm, &n, tau, work, &lwork, &info);
	if (info == 0)
		dorgqr_(&n, &l, &l, cm, &n, tau, work, &lwork, &info);
	for (i = 0; i < n && info == 0; i++)
		for (j = 0; j < l; j++)
			A[(size_t) i * l + j] = cm[(size_t) j * n + i];
	ml_free(work);
	ml_free(tau);
	return info;
}

int
rec_svd_fit(const RecCsr *by_user, int nitems, int k, int power_iters, uint64_t seed, double *X, double *Y)
{
	int			nusers = by_user->nrows;
	int			l = REC_MIN(k + 10, REC_MIN(nusers, nitems));
	uint64_t	state = seed;
	double	   *Z = ml_alloc_array((size_t) nitems * l, sizeof(double));
	double	   *Q = ml_alloc_array((size_t) nusers * l, sizeof(double));
	double	   *cm = ml_alloc_array((size_t) REC_MAX(nusers, nitems) * l, sizeof(double));
	double	   *sv = ml_alloc_array(l, sizeof(double));
	double	   *ub = ml_alloc_array((size_t) l * l, sizeof(double));
	double	   *vt = ml_alloc_array((size_t) l * nitems, sizeof(double));
	int		   *iwork = ml_alloc_array(8 * (size_t) l, sizeof(int));
	double		wq;
	double	   *work;
	int			lwork = -1,
				info = 0,
				it,
				i,
				c;
	size_t		j;

	if (k > l)
		k = l;
	for (j = 0; j < (size_t) nitems * l; j++)
		Z[j] = next_normal(&state);
	r_times(by_user, Z, l, Q);
	info = orthonormalise(Q, nusers, l, cm);
	for (it = 0; it < power_iters && info == 0; it++)
	{
		rt_times(by_user, Q, nitems, l, Z);
		info = orthonormalise(Z, nitems, l, cm);
		if (info == 0)
		{
			r_times(by_user, Z, l, Q);
			info = orthonormalise(Q, nusers, l, cm);
		}
	}
	if (info == 0)
	{
		/* B = Qᵀ R, l × items: column-major it is Z = Rᵀ Q laid out row-major */
		rt_times(by_user, Q, nitems, l, Z);
		dgesdd_("S", &l, &nitems, Z, &l, sv, ub, &l, vt, &l, &wq, &lwork, iwork, &info, 1);
		lwork = (int) wq;
		work = ml_alloc_array(REC_MAX(lwork, 1), sizeof(double));
		if (info == 0)
			dgesdd_("S", &l, &nitems, Z, &l, sv, ub, &l, vt, &l, work, &lwork, iwork, &info, 1);
		ml_free(work);
	}
	if (info == 0)
	{
		/* Y = the first k right singular vectors; X = R Y */
		for (i = 0; i < nitems; i++)
			for (c = 0; c < k; c++)
				Y[(size_t) i * k + c] = vt[(size_t) i * l + c];
		r_times(by_user, Y, k, X);
	}
	ml_free(iwork);
	ml_free(vt);
	ml_free(ub);
	ml_free(sv);
	ml_free(cm);
	ml_free(Q);
	ml_free(Z);
	return info;
}
