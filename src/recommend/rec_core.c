/*-------------------------------------------------------------------------
 *
 * rec_core.c
 *		Alternating least squares, top-n and ranking metrics.
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

#define REC_MAX(a, b) ((a) > (b) ? (a) : (b))
#define REC_MIN(a, b) ((a) < (b) ? (a) : (b))

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
static void
init_factors(double *Y, int n, int k, uint64_t seed)
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

	init_factors(Y, by_item->nrows, k, seed);
	for (it = 0; it < iters; it++)
	{
		int			info = solve_side(by_user, Y, k, lambda, X, scratch);

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

	init_factors(Y, by_item->nrows, k, seed);
	for (it = 0; it < iters; it++)
	{
		int			info = solve_side_implicit(by_user, Y, by_item->nrows, k, lambda, alpha, X, scratch);

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

void
rec_item_knn(const RecCsr *by_user, const RecCsr *by_item, int K, double shrink, int min_support,
			 int *nb_idx, double *nb_sim, double *dot, int *cnt, int *touched)
{
	int			nitems = by_item->nrows;
	double	   *norm = ml_alloc_array(REC_MAX(nitems, 1), sizeof(double));
	int			i,
				e,
				f;

	for (i = 0; i < nitems; i++)
	{
		double		ss = 0;

		for (e = by_item->ptr[i]; e < by_item->ptr[i + 1]; e++)
			ss += by_item->val[e] * by_item->val[e];
		norm[i] = sqrt(ss);
		dot[i] = 0;
		cnt[i] = 0;
	}
	for (i = 0; i < nitems; i++)
	{
		int			ntouched = 0,
					kept,
					t;

		ml_check_interrupts();
		/* co-occurrences of item i: through each of its users, every other item of theirs */
		for (e = by_item->ptr[i]; e < by_item->ptr[i + 1]; e++)
		{
			int			u = by_item->idx[e];
			double		v = by_item->val[e];

			for (f = by_user->ptr[u]; f < by_user->ptr[u + 1]; f++)
			{
				int			j = by_user->idx[f];

				if (j == i)
					continue;
				if (cnt[j] == 0)
					touched[ntouched++] = j;
				cnt[j]++;
				dot[j] += v * by_user->val[f];
			}
		}
		/* similarities of the touched items, the K best kept */
		for (t = 0; t < ntouched; t++)
		{
			int			j = touched[t];

			if (cnt[j] >= min_support && norm[i] > 0 && norm[j] > 0)
				dot[j] = dot[j] / (norm[i] * norm[j]) * ((double) cnt[j] / (cnt[j] + shrink));
			else
				dot[j] = NAN;
		}
		{
			int		   *best = nb_idx + (size_t) i * K;
			double	   *sim = nb_sim + (size_t) i * K;
			double	   *vals = ml_alloc_array(REC_MAX(ntouched, 1), sizeof(double));

			for (t = 0; t < ntouched; t++)
				vals[t] = dot[touched[t]];
			kept = rec_top_n(vals, ntouched, NULL, K, best);
			for (t = 0; t < kept; t++)
			{
				sim[t] = vals[best[t]];
				best[t] = touched[best[t]];
			}
			for (; t < K; t++)
			{
				best[t] = -1;
				sim[t] = 0;
			}
			ml_free(vals);
		}
		for (t = 0; t < ntouched; t++)
		{
			dot[touched[t]] = 0;
			cnt[touched[t]] = 0;
		}
	}
	ml_free(norm);
}

void
rec_knn_scores(const int *idx, const double *val, int n, const int *nb_idx, const double *nb_sim, int K,
			   int nitems, bool average, double *scores, double *weight)
{
	int			e,
				t,
				j;

	memset(scores, 0, sizeof(double) * nitems);
	memset(weight, 0, sizeof(double) * nitems);
	for (e = 0; e < n; e++)
	{
		const int  *nb = nb_idx + (size_t) idx[e] * K;
		const double *sim = nb_sim + (size_t) idx[e] * K;

		for (t = 0; t < K && nb[t] >= 0; t++)
		{
			scores[nb[t]] += sim[t] * val[e];
			weight[nb[t]] += fabs(sim[t]);
		}
	}
	for (j = 0; j < nitems; j++)
		scores[j] = weight[j] > 0 ? (average ? scores[j] / weight[j] : scores[j]) : NAN;
}

void
rec_user_knn_scores(const int *nb, const double *sim, int n, const RecCsr *R, int nitems, double *scores,
					double *weight)
{
	int			t,
				e,
				j;

	memset(scores, 0, sizeof(double) * nitems);
	memset(weight, 0, sizeof(double) * nitems);
	for (t = 0; t < n && nb[t] >= 0; t++)
	{
		for (e = R->ptr[nb[t]]; e < R->ptr[nb[t] + 1]; e++)
		{
			scores[R->idx[e]] += sim[t] * R->val[e];
			weight[R->idx[e]] += fabs(sim[t]);
		}
	}
	for (j = 0; j < nitems; j++)
		scores[j] = weight[j] > 0 ? scores[j] / weight[j] : NAN;
}

/* ---- BPR ------------------------------------------------------------------ */

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
 * item factors move too unless yi_out is NULL.
 */
static void
bpr_step(double *x, const double *yi, const double *yj, double *yi_out, double *yj_out, int k, double lr,
		 double lambda)
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
	init_factors(Y, nitems, k, seed);
	init_factors(X, nusers, k, seed + 1);
	for (epoch = 0; epoch < epochs; epoch++)
	{
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
					 Y + (size_t) items[p] * k, Y + (size_t) j * k, k, lr, lambda);
		}
	}
	ml_free(ptr);
	ml_free(items);
	ml_free(owner);
	return 0;
}

void
rec_bpr_fold(const int *idx, const double *val, int n, const double *Y, int nitems, int k, double lr,
			 double lambda, int epochs, uint64_t seed, double *x)
{
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
	for (epoch = 0; epoch < epochs && npos > 0; epoch++)
	{
		for (e = 0; e < npos; e++)
		{
			int			p = REC_MIN((int) (rec_random_uniform(&state) * npos), npos - 1);
			int			j = sample_negative(pos, npos, nitems, &state);

			if (j >= 0)
				bpr_step(x, Y + (size_t) pos[p] * k, Y + (size_t) j * k, NULL, NULL, k, lr, lambda);
		}
	}
	ml_free(pos);
}

/* ---- ranking --------------------------------------------------------------- */

/* a double's bits as an unsigned key in the doubles' order */
static uint64_t
ordered_bits(double d)
{
	uint64_t	b;

	memcpy(&b, &d, sizeof(b));
	return (b & 0x8000000000000000ULL) ? ~b : b | 0x8000000000000000ULL;
}

int
rec_rank(const double *scores, int nscores, int *out)
{
	uint64_t   *key = ml_alloc_array(REC_MAX(nscores, 1), sizeof(uint64_t));
	uint64_t   *key2 = ml_alloc_array(REC_MAX(nscores, 1), sizeof(uint64_t));
	int		   *tmp = ml_alloc_array(REC_MAX(nscores, 1), sizeof(int));
	int			n = 0,
				i,
				pass;

	/* descending: the complement of the ascending key; NaN is not placed */
	for (i = 0; i < nscores; i++)
		if (!isnan(scores[i]))
		{
			key[n] = ~ordered_bits(scores[i]);
			out[n] = i;
			n++;
		}
	/* LSD radix sort, 8 bits a pass: stable, so ties stay in position order */
	for (pass = 0; pass < 8 && n > 1; pass++)
	{
		int			count[257] = {0};
		int			shift = pass * 8;
		uint64_t   *kswap;

		for (i = 0; i < n; i++)
			count[((key[i] >> shift) & 0xff) + 1]++;
		if (count[((key[0] >> shift) & 0xff) + 1] == n)
			continue;			/* every key has this digit */
		for (i = 0; i < 256; i++)
			count[i + 1] += count[i];
		for (i = 0; i < n; i++)
		{
			int			d = (key[i] >> shift) & 0xff;

			key2[count[d]] = key[i];
			tmp[count[d]] = out[i];
			count[d]++;
		}
		kswap = key;
		key = key2;
		key2 = kswap;
		memcpy(out, tmp, sizeof(int) * n);
	}
	ml_free(key);
	ml_free(key2);
	ml_free(tmp);
	return n;
}

/* a min-heap of the n best (score, index) so far: heap[0] is the worst kept */
static int
worse(const double *scores, int a, int b)
{
	return scores[a] < scores[b] || (scores[a] == scores[b] && a > b);
}

static void
sift_down(int *heap, int n, const double *scores, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			m = i;
		int			t;

		if (l < n && worse(scores, heap[l], heap[m]))
			m = l;
		if (r < n && worse(scores, heap[r], heap[m]))
			m = r;
		if (m == i)
			return;
		t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
}

int
rec_top_n(const double *scores, int nscores, const unsigned char *excluded, int n, int *out)
{
	int			kept = 0;
	int			i;

	for (i = 0; i < nscores; i++)
	{
		if ((excluded && excluded[i]) || isnan(scores[i]))
			continue;
		if (kept < n)
		{
			int			j = kept++;

			out[j] = i;
			/* sift up */
			while (j > 0 && worse(scores, out[j], out[(j - 1) / 2]))
			{
				int			p = (j - 1) / 2;
				int			t = out[p];

				out[p] = out[j];
				out[j] = t;
				j = p;
			}
		}
		else if (worse(scores, out[0], i))
		{
			out[0] = i;
			sift_down(out, kept, scores, 0);
		}
	}
	/* best first: pop the worst to the end */
	for (i = kept - 1; i > 0; i--)
	{
		int			t = out[0];

		out[0] = out[i];
		out[i] = t;
		sift_down(out, i, scores, 0);
	}
	return kept;
}

void
rec_rank_metrics(const int *top, int ntop, const unsigned char *relevant, int nrelevant, int k,
				 RecRankMetrics *m)
{
	double		dcg = 0,
				idcg = 0,
				ap = 0;
	int			hits = 0;
	int			i;

	memset(m, 0, sizeof(*m));
	if (nrelevant == 0 || k <= 0)
		return;
	for (i = 0; i < ntop && i < k; i++)
	{
		if (relevant[top[i]])
		{
			hits++;
			dcg += 1.0 / log2(i + 2.0);
			ap += (double) hits / (i + 1);
		}
	}
	for (i = 0; i < nrelevant && i < k; i++)
		idcg += 1.0 / log2(i + 2.0);
	m->precision = (double) hits / k;
	m->recall = (double) hits / nrelevant;
	m->ndcg = idcg > 0 ? dcg / idcg : 0;
	m->ap = ap / (nrelevant < k ? nrelevant : k);
}
