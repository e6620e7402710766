/*-------------------------------------------------------------------------
 *
 * knn.c
 *		k nearest neighbours: the training rows are the model.
 *
 * The training rows are kept column-major, as they come.  Exact search by
 * brute force, as scikit-learn does for more than 15 inputs: distances |q|^2 - 2 q.t + |t|^2 with the training rows' norms
 * computed when the model is trained or loaded, the dot products of one
 * row by BLAS dgemv and of many rows by blocks of dgemm, each row's k best
 * kept in a small max-heap.  Votes are
 * uniform or 1/distance (an exact match then decides alone); ties between
 * classes go to the first class, as scikit-learn's mode does.
 *
 * src/ml/knn.c
 *
 *-------------------------------------------------------------------------
 */
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

/* the squared norm of every training row, for distances as |q|^2 - 2 q.t + |t|^2 */
void
ml_knn_norms(MlModel *m)
{
	int			i,
				j;

	m->train_norm = ml_alloc_array(m->ntrain, sizeof(double));
	for (j = 0; j < m->p; j++)
	{
		const double *col = m->train_x + (size_t) j * m->ntrain;

		for (i = 0; i < m->ntrain; i++)
			m->train_norm[i] += col[i] * col[i];
	}
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
		/* one query at a time: its dot products with every training row in one dgemv */
		double	   *dots = ml_alloc_array(nt, sizeof(double));
		int			q;

		for (q = 0; q < n; q++)
		{
			const double *xq = x + (size_t) q * p;
			double		qn = 0;
			int			t,
						j;

			for (j = 0; j < p; j++)
				qn += xq[j] * xq[j];
			cblas_dgemv(CblasColMajor, CblasNoTrans, nt, p, 1.0, m->train_x, nt, xq, 1, 0.0, dots, 1);
			h.n = 0;
			for (t = 0; t < nt; t++)
			{
				double		dd = qn - 2 * dots[t] + m->train_norm[t];

				kbest_offer(&h, dd > 0 ? dd : 0, t);
			}
			out[q] = vote(m, &h, proba ? proba + (size_t) q * K : NULL, scratch);
		}
		ml_free(dots);
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
