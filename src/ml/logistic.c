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
 * scores Z = XW + b and the gradient C X'(P - Y) + W are two matrix
 * products per evaluation (BLAS dgemm); the minimiser is L-BFGS with ten
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
	double	   *z;				/* n * k scores, then residuals */
} LogitProblem;

/* f and its gradient at theta = [W (p * k, column-major), b (k)] */
static double
logit_eval(LogitProblem *lp, const double *theta, double *grad)
{
	const MlData *d = lp->d;
	int			n = d->n;
	int			p = d->p;
	int			k = lp->k;
	const double *w = theta;
	const double *b = theta + (size_t) p * k;
	double	   *z = lp->z;
	double		loss = 0;
	double		reg = 0;
	int			i,
				c;

	/* Z = X W */
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, k, p, 1.0, d->x, n, w, p, 0.0, z, n);
	if (k == 1)
	{
		for (i = 0; i < n; i++)
		{
			double		zi = z[i] + (lp->intercept ? b[0] : 0);
			double		yi = d->y[i] > 0.5 ? 1.0 : 0.0;
			double		sig;

			/* log(1 + e^-z) for y = 1, log(1 + e^z) for y = 0, without overflow */
			if (yi > 0)
				loss += zi >= 0 ? log1p(exp(-zi)) : -zi + log1p(exp(zi));
			else
				loss += zi >= 0 ? zi + log1p(exp(-zi)) : log1p(exp(zi));
			sig = zi >= 0 ? 1.0 / (1.0 + exp(-zi)) : exp(zi) / (1.0 + exp(zi));
			z[i] = lp->C * (sig - yi);
		}
	}
	else
	{
		for (i = 0; i < n; i++)
		{
			double		mx = -INFINITY;
			double		sum = 0;
			int			yi = (int) d->y[i];

			for (c = 0; c < k; c++)
			{
				double		zc = z[(size_t) c * n + i] + (lp->intercept ? b[c] : 0);

				z[(size_t) c * n + i] = zc;
				if (zc > mx)
					mx = zc;
			}
			for (c = 0; c < k; c++)
				sum += exp(z[(size_t) c * n + i] - mx);
			loss += mx + log(sum) - z[(size_t) yi * n + i];
			for (c = 0; c < k; c++)
			{
				double		pc = exp(z[(size_t) c * n + i] - mx) / sum;

				z[(size_t) c * n + i] = lp->C * (pc - (c == yi ? 1.0 : 0.0));
			}
		}
	}
	/* grad W = X' R + W, grad b = sum of R (R = C (P - Y), now in z) */
	memcpy(grad, w, sizeof(double) * (size_t) p * k);
	cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, p, k, n, 1.0, d->x, n, z, n, 1.0, grad, p);
	for (c = 0; c < k; c++)
	{
		double		s = 0;

		if (lp->intercept)
			for (i = 0; i < n; i++)
				s += z[(size_t) c * n + i];
		grad[(size_t) p * k + c] = s;
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
	lp.z = ml_alloc_array((size_t) d->n * k, sizeof(double));

	f = logit_eval(&lp, x, g);
	for (iter = 0; iter < max_iter; iter++)
	{
		double		step;
		double		slope;
		double		fn = 0;
		int			ls;
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
		for (ls = 0; ls < LBFGS_MAXLS; ls++)
		{
			for (c = 0; c < dim; c++)
				xn[c] = x[c] + step * dir[c];
			fn = logit_eval(&lp, xn, gn);
			if (isfinite(fn) && fn <= f + 1e-4 * step * slope)
				break;
			step *= 0.5;
		}
		if (ls == LBFGS_MAXLS)
			break;				/* no progress possible: keep the current point */
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
