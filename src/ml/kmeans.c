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
 * runs by inertia.  Distances to the centres of all rows at once are one
 * matrix product, |x|^2 - 2 x.c + |c|^2.
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
	double	   *dots;			/* n * k, column-major: x_i . c_j */
	double	   *cnorm;			/* k */
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

/* nearest centre of every row; returns the inertia */
static double
assign(KmWork *w, const double *centers)
{
	const MlData *d = w->d;
	int			n = d->n;
	int			p = d->p;
	int			k = w->k;
	double		inertia = 0;
	int			i,
				c;

	/* dots = X C' (C is row-major k x p, i.e. column-major p x k) */
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, k, p, 1.0, d->x, n, centers, p, 0.0, w->dots, n);
	for (c = 0; c < k; c++)
		w->cnorm[c] = cblas_ddot(p, centers + (size_t) c * p, 1, centers + (size_t) c * p, 1);
	for (i = 0; i < n; i++)
	{
		double		best = INFINITY;
		int			bc = 0;

		for (c = 0; c < k; c++)
		{
			double		dd = w->xnorm[i] - 2 * w->dots[(size_t) c * n + i] + w->cnorm[c];

			if (dd < best)
			{
				best = dd;
				bc = c;
			}
		}
		w->label[i] = bc;
		w->dist[i] = best > 0 ? best : 0;
		inertia += w->dist[i];
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
		int			ids[64];

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
lloyd(KmWork *w, MlRng *rng, double *centers, int max_iter, double tol)
{
	const MlData *d = w->d;
	int			n = d->n;
	int			p = d->p;
	int			k = w->k;
	double	   *newc = ml_alloc_array((size_t) k * p, sizeof(double));
	double	   *count = ml_alloc_array(k, sizeof(double));
	double		inertia = 0;
	int			iter,
				i,
				j,
				c;

	plusplus(w, rng, centers);
	for (iter = 0; iter < max_iter; iter++)
	{
		double		shift = 0;

		ml_check_interrupts();
		assign(w, centers);
		memset(newc, 0, sizeof(double) * (size_t) k * p);
		memset(count, 0, sizeof(double) * k);
		for (i = 0; i < n; i++)
			count[w->label[i]] += 1;
		for (j = 0; j < p; j++)
		{
			const double *col = d->x + (size_t) j * n;

			for (i = 0; i < n; i++)
				newc[(size_t) w->label[i] * p + j] += col[i];
		}
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
					newc[(size_t) c * p + j] = d->x[(size_t) j * n + far];
				w->dist[far] = 0;
			}
		}
		for (i = 0; i < k * p; i++)
			shift += (newc[i] - centers[i]) * (newc[i] - centers[i]);
		memcpy(centers, newc, sizeof(double) * (size_t) k * p);
		if (shift <= tol)
			break;
	}
	inertia = assign(w, centers);
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
	w.xnorm = ml_alloc_array(n, sizeof(double));
	w.dots = ml_alloc_array((size_t) n * k, sizeof(double));
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
			w.xnorm[i] += col[i] * col[i];
			mean += col[i];
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
		double		inertia = lloyd(&w, &rng, centers, max_iter, tol * var_mean);

		if (inertia < best)
		{
			best = inertia;
			memcpy(m->centers, centers, sizeof(double) * (size_t) k * p);
		}
	}
	ml_free(centers);
	ml_free(w.xnorm);
	ml_free(w.dots);
	ml_free(w.cnorm);
	ml_free(w.dist);
	ml_free(w.label);
}
