/*-------------------------------------------------------------------------
 *
 * kmeans.c
 *		k-means: k-means++ initialisation and Lloyd iterations.
 *
 * As scikit-learn: greedy k-means++ (2 + ln k candidates per new centre,
 * the one that lowers the potential most is kept), Lloyd's iterations
 * until the centres move less than tol times the mean variance of the
 * inputs (squared, summed over centres) or max_iter (300), empty clusters
 * moved to the rows farthest from their centres, and the best of n_init
 * runs by inertia.  An iteration is one pass over the rows, a chunk at a
 * time: each row's nearest centre (dot products by BLAS), and the sums for
 * the next centres.
 *
 * src/ml/kmeans.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "ml/ml_blas.h"
#include "ml/ml_core.h"

typedef struct KmWork
{
	const MlData *d;
	int			k;
	double	   *xnorm;			/* n: |x_i|^2 */
	double	   *cnorm;			/* k: |c|^2 */
	double	   *chunk;			/* CHUNK * k dot products */
	double	   *best;			/* CHUNK: the best |c|^2 - 2 x.c so far, and its centre */
	int		   *bestc;
	double	   *xr;				/* the rows, row-major: each iteration adds whole rows to centre sums */
	double	   *dist;			/* n: squared distance to the assigned centre */
	int		   *label;			/* n */
} KmWork;

/* squared distances of every row to the point c, column by column (x is column-major) */
static void
dist_to_point(const MlData *d, const double *c, double *out)
{
	int			n = d->n;
	int			i,
				j;

	for (i = 0; i < n; i++)
		out[i] = 0;
	for (j = 0; j < d->p; j++)
	{
		const double *col = d->x + (size_t) j * n;
		double		cj = c[j];

		for (i = 0; i < n; i++)
		{
			double		v = col[i] - cj;

			out[i] += v * v;
		}
	}
}

#define CHUNK 256

/*
 * Nearest centre of every row, in one pass over the data a chunk of rows at
 * a time, as scikit-learn's Lloyd does: the chunk's dot products with every
 * centre by BLAS dgemm (on a row-major copy of the data made once),
 * distances as |x|^2 - 2 x.c + |c|^2, and, with sums given, the rows' sum
 * and count per centre for the next centres while the chunk is in cache.
 * Returns the inertia.
 */
static double
assign(KmWork *w, const double *centers, double *sums, double *count)
{
	const MlData *d = w->d;
	int			n = d->n;
	int			p = d->p;
	int			k = w->k;
	double	   *dots = w->chunk;	/* CHUNK * k, column-major */
	double		inertia = 0;
	int			i0,
				c;

	for (c = 0; c < k; c++)
		w->cnorm[c] = cblas_ddot(p, centers + (size_t) c * p, 1, centers + (size_t) c * p, 1);
	if (sums)
	{
		memset(sums, 0, sizeof(double) * (size_t) k * p);
		memset(count, 0, sizeof(double) * k);
	}
	for (i0 = 0; i0 < n; i0 += CHUNK)
	{
		int			nc = n - i0 < CHUNK ? n - i0 : CHUNK;
		int			i,
					j;

		/* dots = X[i0 .. i0 + nc) C', both row-major (column-major p x nc and p x k) */
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, nc, k, p, 1.0, w->xr + (size_t) i0 * p, p, centers, p,
					0.0, dots, CHUNK);
		/*
		 * the nearest centre minimises |c|^2 - 2 x.c (|x|^2 is the same for
		 * every centre); centre by centre, so the loop over rows vectorises
		 */
		for (i = 0; i < nc; i++)
		{
			w->best[i] = w->cnorm[0] - 2 * dots[i];
			w->bestc[i] = 0;
		}
		for (c = 1; c < k; c++)
		{
			const double *dc = dots + (size_t) c * CHUNK;
			double		cn = w->cnorm[c];

			for (i = 0; i < nc; i++)
			{
				double		v = cn - 2 * dc[i];

				w->bestc[i] = v < w->best[i] ? c : w->bestc[i];
				w->best[i] = v < w->best[i] ? v : w->best[i];
			}
		}
		for (i = 0; i < nc; i++)
		{
			double		dd = w->xnorm[i0 + i] + w->best[i];

			w->label[i0 + i] = w->bestc[i];
			w->dist[i0 + i] = dd > 0 ? dd : 0;
			inertia += w->dist[i0 + i];
			if (sums)
				count[w->bestc[i]] += 1;
		}
		if (sums)
			for (i = 0; i < nc; i++)
			{
				double	   *sc = sums + (size_t) w->label[i0 + i] * p;
				const double *r = w->xr + (size_t) (i0 + i) * p;

				for (j = 0; j < p; j++)
					sc[j] += r[j];
			}
	}
	return inertia;
}

static void
plusplus(KmWork *w, MlRng *rng, double *centers)
{
	const MlData *d = w->d;
	int			n = d->n;
	int			p = d->p;
	int			k = w->k;
	int			trials = 2 + (int) log((double) k);
	double	   *closest = ml_alloc_array(n, sizeof(double));
	double	   *cand = ml_alloc_array((size_t) trials * n, sizeof(double));
	double	   *cum = ml_alloc_array(n, sizeof(double));
	int			i,
				j,
				c,
				t;
	int			first = (int) ml_rng_below(rng, (uint32_t) n);

	for (j = 0; j < p; j++)
		centers[j] = d->x[(size_t) j * n + first];
	dist_to_point(d, centers, closest);
	for (c = 1; c < k; c++)
	{
		double		best_pot = INFINITY;
		int			best_t = 0;
		int			ids[64] = {0};

		ml_check_interrupts();
		cum[0] = closest[0];
		for (i = 1; i < n; i++)
			cum[i] = cum[i - 1] + closest[i];
		for (t = 0; t < trials && t < 64; t++)
		{
			double		r = ml_rng_double(rng) * cum[n - 1];
			int			lo = 0,
						hi = n - 1;
			double		tp = 0;
			double		pt[1024];
			double	   *pc = p <= 1024 ? pt : ml_alloc_array(p, sizeof(double));

			/* the first row whose cumulative weight reaches r */
			while (lo < hi)
			{
				int			mid = lo + (hi - lo) / 2;

				if (cum[mid] < r)
					lo = mid + 1;
				else
					hi = mid;
			}
			ids[t] = lo;
			for (j = 0; j < p; j++)
				pc[j] = d->x[(size_t) j * n + lo];
			dist_to_point(d, pc, cand + (size_t) t * n);
			for (i = 0; i < n; i++)
			{
				double	   *dd = cand + (size_t) t * n + i;

				if (closest[i] < *dd)
					*dd = closest[i];
				tp += *dd;
			}
			if (pc != pt)
				ml_free(pc);
			if (tp < best_pot)
			{
				best_pot = tp;
				best_t = t;
			}
		}
		memcpy(closest, cand + (size_t) best_t * n, sizeof(double) * n);
		for (j = 0; j < p; j++)
			centers[(size_t) c * p + j] = d->x[(size_t) j * n + ids[best_t]];
	}
	ml_free(closest);
	ml_free(cand);
	ml_free(cum);
}

/* one run of Lloyd's algorithm from k-means++ centres; returns the inertia */
static double
lloyd(KmWork *w, MlRng *rng, double *centers, int max_iter, double tol, int *iters)
{
	const MlData *d = w->d;
	int			n = d->n;
	int			p = d->p;
	int			k = w->k;
	double	   *newc = ml_alloc_array((size_t) k * p, sizeof(double));
	double	   *count = ml_alloc_array(k, sizeof(double));
	double		inertia;
	int			iter,
				i,
				j,
				c;

	plusplus(w, rng, centers);
	for (iter = 0; iter < max_iter; iter++)
	{
		double		shift = 0;

		ml_check_interrupts();
		assign(w, centers, newc, count);
		for (c = 0; c < k; c++)
		{
			if (count[c] > 0)
			{
				for (j = 0; j < p; j++)
					newc[(size_t) c * p + j] /= count[c];
			}
			else
			{
				/* an empty cluster takes the row farthest from its centre */
				int			far = 0;

				for (i = 1; i < n; i++)
					if (w->dist[i] > w->dist[far])
						far = i;
				for (j = 0; j < p; j++)
					newc[(size_t) c * p + j] = w->xr[(size_t) far * p + j];
				w->dist[far] = 0;
			}
		}
		for (i = 0; i < k * p; i++)
			shift += (newc[i] - centers[i]) * (newc[i] - centers[i]);
		memcpy(centers, newc, sizeof(double) * (size_t) k * p);
		if (shift <= tol)
		{
			iter++;
			break;
		}
	}
	*iters = iter;
	inertia = assign(w, centers, NULL, NULL);
	ml_free(newc);
	ml_free(count);
	return inertia;
}

void
ml_train_kmeans(MlModel *m, const MlData *d)
{
	KmWork		w;
	int			n = d->n;
	int			p = d->p;
	int			k = m->params.n_clusters;
	int			n_init = m->params.n_init > 0 ? m->params.n_init : 1;
	int			max_iter = m->params.max_iter > 0 ? m->params.max_iter : 300;
	double		tol = m->params.tol >= 0 ? m->params.tol : 1e-4;
	double	   *centers = ml_alloc_array((size_t) k * p, sizeof(double));
	double		best = INFINITY;
	double		var_mean = 0;
	MlRng		rng;
	int			i,
				j,
				r;

	if (k < 1 || k > n)
		ml_error(ML_ERR_INPUT, "n_clusters is %d, but there are %d training rows", k, n);
	memset(&w, 0, sizeof(w));
	w.d = d;
	w.k = k;
	w.chunk = ml_alloc_array((size_t) CHUNK * k, sizeof(double));
	w.xr = ml_alloc_array((size_t) n * p, sizeof(double));
	w.best = ml_alloc_array(CHUNK, sizeof(double));
	w.bestc = ml_alloc_array(CHUNK, sizeof(int));
	w.xnorm = ml_alloc_array(n, sizeof(double));
	w.cnorm = ml_alloc_array(k, sizeof(double));
	w.dist = ml_alloc_array(n, sizeof(double));
	w.label = ml_alloc_array(n, sizeof(int));
	for (j = 0; j < p; j++)
	{
		const double *col = d->x + (size_t) j * n;
		double		mean = 0,
					ss = 0;

		for (i = 0; i < n; i++)
		{
			mean += col[i];
			w.xnorm[i] += col[i] * col[i];
			w.xr[(size_t) i * p + j] = col[i];
		}
		mean /= n;
		for (i = 0; i < n; i++)
			ss += (col[i] - mean) * (col[i] - mean);
		var_mean += ss / n;
	}
	var_mean /= p;
	ml_rng_seed(&rng, m->params.seed);
	m->nclusters = k;
	m->centers = ml_alloc_array((size_t) k * p, sizeof(double));
	for (r = 0; r < n_init; r++)
	{
		int			iters = 0;
		double		inertia = lloyd(&w, &rng, centers, max_iter, tol * var_mean, &iters);

		if (inertia < best)
		{
			best = inertia;
			m->n_iter = iters;
			memcpy(m->centers, centers, sizeof(double) * (size_t) k * p);
		}
	}
	ml_free(centers);
	ml_free(w.chunk);
	ml_free(w.xr);
	ml_free(w.best);
	ml_free(w.bestc);
	ml_free(w.xnorm);
	ml_free(w.cnorm);
	ml_free(w.dist);
	ml_free(w.label);
}
