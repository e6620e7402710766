/*-------------------------------------------------------------------------
 *
 * knn.c
 *		k nearest neighbours: the training rows are the model.
 *
 * The training rows are kept column-major, as they come.  Exact search by
 * brute force, as scikit-learn does for more than 15 inputs: distances |q|^2 - 2 q.t + |t|^2 with the training rows' norms
 * computed when the model is trained or loaded, each row's k best kept in a
 * small max-heap.  Many rows: the dot products by blocks of dgemm.  One row:
 * a first pass in single precision (sgemv over half the bytes, with
 * |t|^2 / 2 as one more input, so that its result orders the rows by
 * distance), which bounds the k-th distance; then the rows that can still be
 * among the k best, with the first pass's rounding allowed for, measured
 * again in double precision.  The neighbours are those of the exact search.
 * Votes are
 * uniform or 1/distance (an exact match then decides alone); ties between
 * classes go to the first class, as scikit-learn's mode does.
 *
 * src/ml/knn.c
 *
 *-------------------------------------------------------------------------
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "ml/ml_blas.h"
#include "ml/ml_core.h"

#define QBLOCK 256
#define TBLOCK 2048

void
ml_train_knn(MlModel *m, const MlData *d)
{
	int			n = d->n;
	int			p = d->p;

	if (m->params.n_neighbors < 1 || m->params.n_neighbors > n)
		ml_error(ML_ERR_INPUT, "n_neighbors is %d, but there are %d training rows",
				 m->params.n_neighbors, n);
	/*
	 * The training rows are the model: it keeps the data's own arrays (the
	 * model is written out, as an artifact, before the data is freed) rather
	 * than copying 8 n p bytes.
	 */
	m->ntrain = n;
	m->train_x = d->x;
	m->train_y = d->y;
	ml_knn_norms(m);
	(void) p;
}

/* fewer training rows than this: one row is searched in double precision alone */
#define FIRST_PASS_ROWS 4096

/*
 * The squared norm of every training row, for distances as |q|^2 - 2 q.t +
 * |t|^2; and, for many rows, their single-precision copy for one-row searches.
 */
void
ml_knn_norms(MlModel *m)
{
	int			i,
				j;
	size_t		nt = m->ntrain;

	m->train_norm = ml_alloc_array(m->ntrain, sizeof(double));
	for (i = 0; i < m->ntrain; i++)
		m->train_norm[i] = 0;
	for (j = 0; j < m->p; j++)
	{
		const double *col = m->train_x + (size_t) j * m->ntrain;

		for (i = 0; i < m->ntrain; i++)
			m->train_norm[i] += col[i] * col[i];
	}
	m->train_maxnorm = 0;
	for (i = 0; i < m->ntrain; i++)
		m->train_maxnorm = m->train_norm[i] > m->train_maxnorm ? m->train_norm[i] : m->train_maxnorm;
	m->train_f = NULL;
	if (m->ntrain < FIRST_PASS_ROWS || !isfinite(m->train_maxnorm) || m->train_maxnorm > 1e30)
		return;
	m->train_f = ml_alloc_array(nt * (m->p + 1), sizeof(float));
	for (i = 0; i < (int) (nt * m->p); i++)
		m->train_f[i] = (float) m->train_x[i];
	for (i = 0; i < m->ntrain; i++)
		m->train_f[nt * m->p + i] = (float) (m->train_norm[i] / 2);
}

/* a max-heap of the k best (distance, row) so far; heap[0] is the worst kept */
typedef struct KBest
{
	int			k;
	int			n;
	double	   *dist;
	int		   *row;
} KBest;

static inline void
kbest_offer(KBest *h, double dd, int row)
{
	int			i;

	if (h->n < h->k)
	{
		i = h->n++;
		while (i > 0)
		{
			int			parent = (i - 1) / 2;

			if (h->dist[parent] >= dd)
				break;
			h->dist[i] = h->dist[parent];
			h->row[i] = h->row[parent];
			i = parent;
		}
		h->dist[i] = dd;
		h->row[i] = row;
		return;
	}
	if (dd >= h->dist[0])
		return;
	/* replace the worst and sift down */
	i = 0;
	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			big = i;
		double		bd = dd;

		if (l < h->n && h->dist[l] > bd)
		{
			big = l;
			bd = h->dist[l];
		}
		if (r < h->n && h->dist[r] > bd)
			big = r;
		if (big == i)
			break;
		h->dist[i] = h->dist[big];
		h->row[i] = h->row[big];
		i = big;
	}
	h->dist[i] = dd;
	h->row[i] = row;
}

/* the least of c[0 .. n), n >= 1: eight running minima, so that the loads overlap */
static inline float
least(const float *c, int n)
{
	float		m0,
				m1,
				m2,
				m3,
				m4,
				m5,
				m6,
				m7;
	int			i;

	if (n < 8)
	{
		m0 = c[0];
		for (i = 1; i < n; i++)
			m0 = c[i] < m0 ? c[i] : m0;
		return m0;
	}
	m0 = c[0], m1 = c[1], m2 = c[2], m3 = c[3], m4 = c[4], m5 = c[5], m6 = c[6], m7 = c[7];
	for (i = 8; i + 8 <= n; i += 8)
	{
		m0 = c[i] < m0 ? c[i] : m0;
		m1 = c[i + 1] < m1 ? c[i + 1] : m1;
		m2 = c[i + 2] < m2 ? c[i + 2] : m2;
		m3 = c[i + 3] < m3 ? c[i + 3] : m3;
		m4 = c[i + 4] < m4 ? c[i + 4] : m4;
		m5 = c[i + 5] < m5 ? c[i + 5] : m5;
		m6 = c[i + 6] < m6 ? c[i + 6] : m6;
		m7 = c[i + 7] < m7 ? c[i + 7] : m7;
	}
	for (; i < n; i++)
		m0 = c[i] < m0 ? c[i] : m0;
	m0 = m1 < m0 ? m1 : m0;
	m2 = m3 < m2 ? m3 : m2;
	m4 = m5 < m4 ? m5 : m4;
	m6 = m7 < m6 ? m7 : m6;
	m0 = m2 < m0 ? m2 : m0;
	m4 = m6 < m4 ? m6 : m4;
	return m4 < m0 ? m4 : m0;
}

#define CHUNK 256

/*
 * One query's k nearest rows into h (h->n == 0): a single-precision pass for
 * a bound, then exact distances of the rows within it.  s[nt] and qf[p + 1]
 * and cmin[nt / CHUNK + 1] are scratch.  False (h untouched) when the query is not finite: the
 * caller searches in double precision alone.
 */
static bool
search_one(const MlModel *m, const double *xq, double qn, KBest *h, float *s, float *cmin, float *qf)
{
	int			p = m->p;
	int			nt = m->ntrain;
	KBest		hf;
	double		bound,
				tol;
	float		cutoff;
	double		hd[64];
	int			hr[64];
	int			b,
				t,
				j;

	if (!isfinite(qn) || h->k > 64)
		return false;
	/* s[t] = |t|^2 / 2 - q.t: half the squared distance, less |q|^2 / 2 */
	for (j = 0; j < p; j++)
		qf[j] = (float) -xq[j];
	qf[p] = 1;
	cblas_sgemv(CblasColMajor, CblasNoTrans, nt, p + 1, 1.0f, m->train_f, nt, qf, 1, 0.0f, s, 1);

	/* the k-th least s, skipping chunks that cannot improve on it */
	hf.k = h->k;
	hf.n = 0;
	hf.dist = hd;
	hf.row = hr;
	for (b = 0; b < nt; b += CHUNK)
	{
		int			nb = nt - b < CHUNK ? nt - b : CHUNK;

		cmin[b / CHUNK] = least(s + b, nb);
		if (hf.n == hf.k && cmin[b / CHUNK] >= hf.dist[0])
			continue;
		for (t = 0; t < nb; t++)
			kbest_offer(&hf, s[b + t], b + t);
	}

	/*
	 * Rounding: inputs and the sum of p + 1 products in single precision,
	 * each |s_f - s| <= (p + 4) 2^-24 (|q||t| + |t|^2 / 2); twice that, for
	 * what BLAS kernels may do.  A row among the k nearest has s within tol
	 * of the k-th least exact s, which is within tol of the k-th least s_f.
	 */
	tol = 2.0 * (p + 4) * (FLT_EPSILON / 2) * (sqrt(qn * m->train_maxnorm) + m->train_maxnorm / 2);
	bound = hf.dist[0] + 2 * tol;
	cutoff = (float) bound;
	if ((double) cutoff < bound)
		cutoff = nextafterf(cutoff, INFINITY);

	/* the exact distances of the rows within the bound, in row order as before */
	for (b = 0; b < nt; b += CHUNK)
	{
		int			nb = nt - b < CHUNK ? nt - b : CHUNK;

		if (cmin[b / CHUNK] > cutoff)
			continue;
		for (t = b; t < b + nb; t++)
		{
			double		dot = 0,
						dd;

			if (s[t] > cutoff)
				continue;
			for (j = 0; j < p; j++)
				dot += m->train_x[(size_t) j * nt + t] * xq[j];
			dd = qn - 2 * dot + m->train_norm[t];
			kbest_offer(h, dd > 0 ? dd : 0, t);
		}
	}
	return true;
}

/*
 * The neighbours' squared distances again, as sums of squared differences:
 * |q|^2 - 2 q.t + |t|^2 cancels to rounding noise near 0, and an exact match
 * (which decides a distance-weighted vote alone) must be 0 whichever way the
 * neighbours were found.
 */
static void
exact_distances(const MlModel *m, const double *xq, KBest *h)
{
	int			i,
				j;

	for (i = 0; i < h->n; i++)
	{
		double		dd = 0;

		for (j = 0; j < m->p; j++)
		{
			double		d = xq[j] - m->train_x[(size_t) j * m->ntrain + h->row[i]];

			dd += d * d;
		}
		h->dist[i] = dd;
	}
}

/* the prediction from a row's neighbours */
static double
vote(const MlModel *m, const KBest *h, double *proba, double *scratch)
{
	int			K = m->nclasses;
	bool		exact = false;
	double		total = 0;
	double		best = -1;
	int			bc = 0;
	int			i,
				c;

	if (m->params.distance_weights)
		for (i = 0; i < h->n; i++)
			if (h->dist[i] <= 0)
				exact = true;
	if (m->task == ML_REGRESSION)
	{
		double		s = 0;

		for (i = 0; i < h->n; i++)
		{
			double		w = 1.0;

			if (m->params.distance_weights)
				w = exact ? (h->dist[i] <= 0 ? 1.0 : 0.0) : 1.0 / sqrt(h->dist[i]);
			s += w * m->train_y[h->row[i]];
			total += w;
		}
		return s / total;
	}
	for (c = 0; c < K; c++)
		scratch[c] = 0;
	for (i = 0; i < h->n; i++)
	{
		double		w = 1.0;

		if (m->params.distance_weights)
			w = exact ? (h->dist[i] <= 0 ? 1.0 : 0.0) : 1.0 / sqrt(h->dist[i]);
		scratch[(int) m->train_y[h->row[i]]] += w;
		total += w;
	}
	for (c = 0; c < K; c++)
	{
		if (scratch[c] > best)
		{
			best = scratch[c];
			bc = c;
		}
		if (proba)
			proba[c] = scratch[c] / total;
	}
	return bc;
}

/*
 * Predict n rows: x row-major (one row, or rows laid out one after another)
 * or column-major n * p.  out[n]; proba[n * nclasses] (row by row) if asked.
 */
void
ml_knn_predict(MlModel *m, const double *x, int n, bool row_major, double *out, double *proba)
{
	int			p = m->p;
	int			nt = m->ntrain;
	int			k = m->params.n_neighbors;
	int			K = m->nclasses > 0 ? m->nclasses : 1;
	double	   *scratch = ml_alloc_array(K, sizeof(double));
	KBest		h;

	h.k = k;
	h.dist = ml_alloc_array(k, sizeof(double));
	h.row = ml_alloc_array(k, sizeof(int));
	if (n == 1 || row_major)
	{
		/* one query at a time */
		double	   *dots = NULL;
		float	   *s = m->train_f ? ml_alloc_array(nt, sizeof(float)) : NULL;
		float	   *cmin = m->train_f ? ml_alloc_array(nt / CHUNK + 1, sizeof(float)) : NULL;
		float	   *qf = ml_alloc_array(p + 1, sizeof(float));
		int			q;

		for (q = 0; q < n; q++)
		{
			const double *xq = x + (size_t) q * p;
			double		qn = 0;
			int			t,
						j;

			for (j = 0; j < p; j++)
				qn += xq[j] * xq[j];
			h.n = 0;
			if (m->train_f == NULL || !search_one(m, xq, qn, &h, s, cmin, qf))
			{
				/* its dot products with every training row in one dgemv */
				if (dots == NULL)
					dots = ml_alloc_array(nt, sizeof(double));
				cblas_dgemv(CblasColMajor, CblasNoTrans, nt, p, 1.0, m->train_x, nt, xq, 1, 0.0, dots, 1);
				for (t = 0; t < nt; t++)
				{
					double		dd = qn - 2 * dots[t] + m->train_norm[t];

					kbest_offer(&h, dd > 0 ? dd : 0, t);
				}
			}
			exact_distances(m, xq, &h);
			out[q] = vote(m, &h, proba ? proba + (size_t) q * K : NULL, scratch);
		}
		ml_free(dots);
		ml_free(s);
		ml_free(cmin);
		ml_free(qf);
	}
	else
	{
		/* blocks of queries against blocks of training rows, distances by dgemm */
		double	   *qrows = ml_alloc_array((size_t) QBLOCK * p, sizeof(double));
		double	   *qnorm = ml_alloc_array(QBLOCK, sizeof(double));
		const double *tnorm = m->train_norm;
		double	   *dots = ml_alloc_array((size_t) QBLOCK * TBLOCK, sizeof(double));
		double	   *hd = ml_alloc_array((size_t) QBLOCK * k, sizeof(double));
		int		   *hr = ml_alloc_array((size_t) QBLOCK * k, sizeof(int));
		int		   *hn = ml_alloc_array(QBLOCK, sizeof(int));
		int			q0,
					t0,
					i,
					j;

		for (q0 = 0; q0 < n; q0 += QBLOCK)
		{
			int			nq = n - q0 < QBLOCK ? n - q0 : QBLOCK;

			ml_check_interrupts();
			for (i = 0; i < nq; i++)
			{
				qnorm[i] = 0;
				for (j = 0; j < p; j++)
				{
					double		v = x[(size_t) j * n + q0 + i];

					qrows[(size_t) i * p + j] = v;
					qnorm[i] += v * v;
				}
				hn[i] = 0;
			}
			for (t0 = 0; t0 < nt; t0 += TBLOCK)
			{
				int			ntb = nt - t0 < TBLOCK ? nt - t0 : TBLOCK;

				/* dots (nq x ntb, column-major) = Q T' with Q row-major, T a block of the column-major rows */
				cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, nq, ntb, p, 1.0, qrows, p,
							m->train_x + t0, nt, 0.0, dots, nq);
				for (i = 0; i < nq; i++)
				{
					KBest		hq;
					int			t;

					hq.k = k;
					hq.n = hn[i];
					hq.dist = hd + (size_t) i * k;
					hq.row = hr + (size_t) i * k;
					for (t = 0; t < ntb; t++)
					{
						double		dd = qnorm[i] - 2 * dots[(size_t) t * nq + i] + tnorm[t0 + t];

						kbest_offer(&hq, dd > 0 ? dd : 0, t0 + t);
					}
					hn[i] = hq.n;
				}
			}
			for (i = 0; i < nq; i++)
			{
				KBest		hq;

				hq.k = k;
				hq.n = hn[i];
				hq.dist = hd + (size_t) i * k;
				hq.row = hr + (size_t) i * k;
				exact_distances(m, qrows + (size_t) i * p, &hq);
				out[q0 + i] = vote(m, &hq, proba ? proba + (size_t) (q0 + i) * K : NULL, scratch);
			}
		}
		ml_free(qrows);
		ml_free(qnorm);
		ml_free(dots);
		ml_free(hd);
		ml_free(hr);
		ml_free(hn);
	}
	ml_free(scratch);
	ml_free(h.dist);
	ml_free(h.row);
}
