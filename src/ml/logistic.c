/*-------------------------------------------------------------------------
 *
 * logistic.c
 *		Logistic regression with an L2 penalty, binary and multinomial.
 *
 * Minimises, as scikit-learn's lbfgs solver does,
 *
 *   f(W, b) = C * sum_i loss_i + |W|^2 / 2     (the intercepts b unpenalised)
 *
 * with loss_i = log(1 + exp(-s_i z_i)) for two classes (one weight vector)
 * and -log softmax(z_i)[y_i] for more (one weight vector per class).  The
 * scores Z = XW + b and the gradient C X'(P - Y) + W are two matrix-vector
 * products per class and evaluation (BLAS dgemv); the minimiser is L-BFGS with ten
 * pairs of history and a backtracking (Armijo) line search, stopped when
 * the largest gradient component is under tol (1e-4) or after max_iter
 * (100) iterations, scikit-learn's defaults.
 *
 * src/ml/logistic.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "ml/ml_blas.h"
#include "ml/ml_core.h"

#define LBFGS_M 10
#define LBFGS_MAXLS 50

typedef struct LogitProblem
{
	const MlData *d;
	int			k;				/* weight vectors: 1 (binary) or nclasses */
	double		C;
	bool		intercept;
	double	   *z;				/* a block's scores, then residuals */
} LogitProblem;

#define LOGIT_BLOCK 2048

/*
 * f and its gradient at theta = [W (p * k, column-major), b (k)], a block of
 * rows at a time: the block's scores (dgemv on the block of the
 * column-major data), its losses and residuals, and its share of the
 * gradient, while the block is still in cache: one pass over the data from
 * memory instead of two.
 */
static double
logit_eval(LogitProblem *lp, const double *theta, double *grad)
{
	const MlData *d = lp->d;
	int			n = d->n;
	int			p = d->p;
	int			k = lp->k;
	const double *w = theta;
	const double *b = theta + (size_t) p * k;
	double	   *z = lp->z;		/* LOGIT_BLOCK * k */
	double		loss = 0;
	double		reg = 0;
	int			i0,
				i,
				c;

	memcpy(grad, w, sizeof(double) * (size_t) p * k);
	for (c = 0; c < k; c++)
		grad[(size_t) p * k + c] = 0;
	for (i0 = 0; i0 < n; i0 += LOGIT_BLOCK)
	{
		int			nb = n - i0 < LOGIT_BLOCK ? n - i0 : LOGIT_BLOCK;
		const double *xb = d->x + i0;
		const double *yb = d->y + i0;

		for (c = 0; c < k; c++)
			cblas_dgemv(CblasColMajor, CblasNoTrans, nb, p, 1.0, xb, n, w + (size_t) c * p, 1, 0.0,
						z + (size_t) c * LOGIT_BLOCK, 1);
		if (k == 1)
		{
			for (i = 0; i < nb; i++)
			{
				double		zi = z[i] + (lp->intercept ? b[0] : 0);
				double		yi = yb[i] > 0.5 ? 1.0 : 0.0;
				/* one exp and one log per row: e = e^-|z|, log(1 + e^-|z|), sigma(z) from e */
				double		e = exp(-fabs(zi));
				double		lg = log(1.0 + e);	/* log1p is twice the cost; e <= 1, so the absolute error stays ~1e-16 */
				double		sig = zi >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);

				if (yi > 0)
					loss += zi >= 0 ? lg : lg - zi;
				else
					loss += zi >= 0 ? lg + zi : lg;
				z[i] = lp->C * (sig - yi);
			}
		}
		else
		{
			for (i = 0; i < nb; i++)
			{
				double		mx = -INFINITY;
				double		sum = 0;
				int			yi = (int) yb[i];

				/* k >= 3 here, and the largest score's exp is 1: sum >= 1 below */

				for (c = 0; c < k; c++)
				{
					double		zc = z[(size_t) c * LOGIT_BLOCK + i] + (lp->intercept ? b[c] : 0);

					z[(size_t) c * LOGIT_BLOCK + i] = zc;
					if (zc > mx)
						mx = zc;
				}
				for (c = 0; c < k; c++)
				{
					double		ec = exp(z[(size_t) c * LOGIT_BLOCK + i] - mx);

					sum += ec;
					if (c == yi)
						loss += mx - z[(size_t) c * LOGIT_BLOCK + i];
					z[(size_t) c * LOGIT_BLOCK + i] = ec;
				}
				loss += log(fmax(sum, 1.0));
				for (c = 0; c < k; c++)
					z[(size_t) c * LOGIT_BLOCK + i] = lp->C * (z[(size_t) c * LOGIT_BLOCK + i] / sum - (c == yi ? 1.0 : 0.0));
			}
		}
		/* grad W += Xb' Rb, grad b += sum of Rb (R = C (P - Y), now in z) */
		for (c = 0; c < k; c++)
		{
			double		s = 0;

			cblas_dgemv(CblasColMajor, CblasTrans, nb, p, 1.0, xb, n, z + (size_t) c * LOGIT_BLOCK, 1, 1.0,
						grad + (size_t) c * p, 1);
			if (lp->intercept)
				for (i = 0; i < nb; i++)
					s += z[(size_t) c * LOGIT_BLOCK + i];
			grad[(size_t) p * k + c] += s;
		}
	}
	for (i = 0; i < p * k; i++)
		reg += w[i] * w[i];
	return lp->C * loss + 0.5 * reg;
}

static double
max_abs(const double *v, int n)
{
	double		m = 0;
	int			i;

	for (i = 0; i < n; i++)
		m = fmax(m, fabs(v[i]));
	return m;
}

/* a point on the search line: step, f, slope, and where it is */
typedef struct LinePoint
{
	double		a;
	double		f;
	double		df;
} LinePoint;

typedef struct LineSearch
{
	LogitProblem *lp;
	int			dim;
	const double *x;			/* start */
	const double *dir;
	double	   *xn;				/* the last point evaluated, and its gradient */
	double	   *gn;
	double		f0;
	double		df0;
	int			evals;
} LineSearch;

static LinePoint
line_eval(LineSearch *ls, double a)
{
	LinePoint	pt;
	int			c;

	for (c = 0; c < ls->dim; c++)
		ls->xn[c] = ls->x[c] + a * ls->dir[c];
	pt.a = a;
	pt.f = logit_eval(ls->lp, ls->xn, ls->gn);
	pt.df = cblas_ddot(ls->dim, ls->gn, 1, ls->dir, 1);
	ls->evals++;
	return pt;
}

/* the minimiser of the cubic through two points with their slopes, kept inside the bracket */
static double
cubic_step(LinePoint lo, LinePoint hi)
{
	double		d1 = lo.df + hi.df - 3 * (lo.f - hi.f) / (lo.a - hi.a);
	double		disc = d1 * d1 - lo.df * hi.df;
	double		a;
	double		left = fmin(lo.a, hi.a),
				right = fmax(lo.a, hi.a),
				margin = 0.1 * (right - left);

	if (disc >= 0 && isfinite(disc))
	{
		double		d2 = (hi.a > lo.a ? 1 : -1) * sqrt(disc);

		a = hi.a - (hi.a - lo.a) * (hi.df + d2 - d1) / (hi.df - lo.df + 2 * d2);
	}
	else
		a = (lo.a + hi.a) / 2;
	if (!isfinite(a) || a < left + margin || a > right - margin)
		a = (lo.a + hi.a) / 2;
	return a;
}

/*
 * A step satisfying the strong Wolfe conditions (Nocedal and Wright,
 * algorithms 3.5 and 3.6, with cubic interpolation): sufficient decrease
 * (c1 = 1e-4) and a flattened slope (c2 = 0.9).  Leaves the accepted point
 * in xn and gn; returns false if none was found in LBFGS_MAXLS evaluations.
 */
static bool
wolfe_search(LineSearch *ls, double a1, double *fout)
{
	const double c1 = 1e-4,
				c2 = 0.9;
	LinePoint	prev = {0, ls->f0, ls->df0};
	LinePoint	cur;
	LinePoint	lo,
				hi;
	int			i;

	for (i = 0;; i++)
	{
		if (ls->evals >= LBFGS_MAXLS)
			return false;
		cur = line_eval(ls, a1);
		if (!isfinite(cur.f) || cur.f > ls->f0 + c1 * cur.a * ls->df0 || (i > 0 && cur.f >= prev.f))
		{
			lo = prev;
			hi = cur;
			break;
		}
		if (fabs(cur.df) <= -c2 * ls->df0)
		{
			*fout = cur.f;
			return true;
		}
		if (cur.df >= 0)
		{
			lo = cur;
			hi = prev;
			break;
		}
		prev = cur;
		a1 *= 2;
	}
	/* zoom into [lo, hi]: lo satisfies sufficient decrease and is the better end */
	for (;;)
	{
		double		a;

		if (ls->evals >= LBFGS_MAXLS || fabs(hi.a - lo.a) < 1e-16)
		{
			/* settle for lo if it improves on the start */
			if (lo.a > 0 && lo.f < ls->f0)
			{
				line_eval(ls, lo.a);
				*fout = lo.f;
				return true;
			}
			return false;
		}
		a = isfinite(hi.f) ? cubic_step(lo, hi) : (lo.a + hi.a) / 2;
		cur = line_eval(ls, a);
		if (!isfinite(cur.f) || cur.f > ls->f0 + c1 * cur.a * ls->df0 || cur.f >= lo.f)
			hi = cur;
		else
		{
			if (fabs(cur.df) <= -c2 * ls->df0)
			{
				*fout = cur.f;
				return true;
			}
			if (cur.df * (hi.a - lo.a) >= 0)
				hi = lo;
			lo = cur;
		}
	}
}

void
ml_train_logistic(MlModel *m, const MlData *d)
{
	LogitProblem lp;
	int			p = d->p;
	int			k = m->nclasses == 2 ? 1 : m->nclasses;
	int			dim = (p + 1) * k;
	int			max_iter = m->params.max_iter > 0 ? m->params.max_iter : 100;
	double		gtol = m->params.tol >= 0 ? m->params.tol : 1e-4;
	double	   *x = ml_alloc_array(dim, sizeof(double));
	double	   *g = ml_alloc_array(dim, sizeof(double));
	double	   *xn = ml_alloc_array(dim, sizeof(double));
	double	   *gn = ml_alloc_array(dim, sizeof(double));
	double	   *dir = ml_alloc_array(dim, sizeof(double));
	double	   *s = ml_alloc_array((size_t) LBFGS_M * dim, sizeof(double));
	double	   *y = ml_alloc_array((size_t) LBFGS_M * dim, sizeof(double));
	double		rho[LBFGS_M];
	double		alpha[LBFGS_M];
	int			hist = 0;
	int			head = 0;
	double		f;
	int			iter;
	int			c;

	lp.d = d;
	lp.k = k;
	lp.C = m->params.C;
	lp.intercept = m->params.fit_intercept;
	lp.z = ml_alloc_array((size_t) LOGIT_BLOCK * k, sizeof(double));

	f = logit_eval(&lp, x, g);
	for (iter = 0; iter < max_iter; iter++)
	{
		double		step;
		double		slope;
		double		fn = 0;
		int			h;

		ml_check_interrupts();
		if (max_abs(g, dim) <= gtol)
			break;
		/* two-loop recursion: dir = -H g */
		for (c = 0; c < dim; c++)
			dir[c] = -g[c];
		for (h = 0; h < hist; h++)
		{
			int			j = (head - 1 - h + LBFGS_M) % LBFGS_M;

			alpha[j] = rho[j] * cblas_ddot(dim, s + (size_t) j * dim, 1, dir, 1);
			cblas_daxpy(dim, -alpha[j], y + (size_t) j * dim, 1, dir, 1);
		}
		if (hist > 0)
		{
			int			j = (head - 1 + LBFGS_M) % LBFGS_M;
			double		gamma = cblas_ddot(dim, s + (size_t) j * dim, 1, y + (size_t) j * dim, 1) /
				cblas_ddot(dim, y + (size_t) j * dim, 1, y + (size_t) j * dim, 1);

			cblas_dscal(dim, gamma, dir, 1);
		}
		for (h = hist - 1; h >= 0; h--)
		{
			int			j = (head - 1 - h + LBFGS_M) % LBFGS_M;
			double		beta = rho[j] * cblas_ddot(dim, y + (size_t) j * dim, 1, dir, 1);

			cblas_daxpy(dim, alpha[j] - beta, s + (size_t) j * dim, 1, dir, 1);
		}
		slope = cblas_ddot(dim, g, 1, dir, 1);
		if (slope >= 0)
		{
			/* not a descent direction (numerical trouble): restart from steepest descent */
			for (c = 0; c < dim; c++)
				dir[c] = -g[c];
			slope = cblas_ddot(dim, g, 1, dir, 1);
			hist = 0;
		}
		step = hist == 0 ? fmin(1.0, 1.0 / sqrt(-slope)) : 1.0;
		{
			LineSearch	ls = {&lp, dim, x, dir, xn, gn, f, slope, 0};

			if (!wolfe_search(&ls, step, &fn))
				break;			/* no progress possible: keep the current point */
		}
		/* history: s = xn - x, y = gn - g */
		{
			double	   *sj = s + (size_t) head * dim;
			double	   *yj = y + (size_t) head * dim;
			double		sy;

			for (c = 0; c < dim; c++)
			{
				sj[c] = xn[c] - x[c];
				yj[c] = gn[c] - g[c];
			}
			sy = cblas_ddot(dim, sj, 1, yj, 1);
			if (sy > 1e-10)
			{
				rho[head] = 1.0 / sy;
				head = (head + 1) % LBFGS_M;
				if (hist < LBFGS_M)
					hist++;
			}
		}
		if ((f - fn) <= 64 * 2.220446049250313e-16 * fmax(fmax(fabs(f), fabs(fn)), 1.0))
		{
			memcpy(x, xn, sizeof(double) * dim);
			f = fn;
			memcpy(g, gn, sizeof(double) * dim);
			iter++;
			break;
		}
		memcpy(x, xn, sizeof(double) * dim);
		memcpy(g, gn, sizeof(double) * dim);
		f = fn;
	}

	m->ncoef = k;
	m->coef = ml_alloc_array((size_t) p * k, sizeof(double));
	m->intercept = ml_alloc_array(k, sizeof(double));
	memcpy(m->coef, x, sizeof(double) * (size_t) p * k);
	memcpy(m->intercept, x + (size_t) p * k, sizeof(double) * k);
	m->n_iter = iter;
	ml_free(lp.z);
	ml_free(x);
	ml_free(g);
	ml_free(xn);
	ml_free(gn);
	ml_free(dir);
	ml_free(s);
	ml_free(y);
}
