/*-------------------------------------------------------------------------
 *
 * linear.c
 *		Linear regression, ridge, lasso and elastic net.
 *
 * Like scikit-learn, with an intercept the data are centred first and the
 * intercept recovered from the means, so that it is never penalised:
 *
 *   linear regression  least squares by LAPACK's dgelsy (QR with column
 *                      pivoting: the minimum-norm solution when columns are
 *                      collinear, e.g. every level of a one-hot column)
 *   ridge              (Xc'Xc + alpha I) w = Xc'yc by Cholesky (dposv), the
 *                      Gram matrix summed over blocks of centred rows
 *   lasso, elastic net cyclic coordinate descent on
 *                      1/(2n) |y - Xw|^2 + alpha l1 |w|_1 + alpha (1 - l1)/2 |w|^2
 *                      (lasso: l1 = 1), stopped by scikit-learn's rule: when
 *                      the largest update is small against the largest
 *                      weight, the duality gap must be under tol |yc|^2.
 *
 * src/ml/linear.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "ml/ml_blas.h"
#include "ml/ml_core.h"

/* centred copies of x (column-major) and y, and their means */
/* centred copies of x (column-major) and y, and their means: one pass to read, one to write */
static void
center(const MlData *d, bool fit_intercept, double **xc, double **yc, double *xmean, double *ymean)
{
	int			n = d->n;
	int			p = d->p;
	int			i,
				j;

	*xc = ml_alloc_array((size_t) n * p, sizeof(double));
	*yc = ml_alloc_array(n, sizeof(double));
	*ymean = 0;
	if (fit_intercept)
		for (i = 0; i < n; i++)
			*ymean += d->y[i];
	*ymean /= n;
	for (i = 0; i < n; i++)
		(*yc)[i] = d->y[i] - *ymean;
	for (j = 0; j < p; j++)
	{
		const double *col = d->x + (size_t) j * n;
		double	   *out = *xc + (size_t) j * n;
		double		s = 0;

		if (fit_intercept)
			for (i = 0; i < n; i++)
				s += col[i];
		xmean[j] = s / n;
		for (i = 0; i < n; i++)
			out[i] = col[i] - xmean[j];
	}
}

static void
least_squares(MlModel *m, int n, int p, double *xc, double *yc)
{
	int			nrhs = 1;
	int			lda = n;
	int			ldb = n > p ? n : p;	/* b holds the solution, p long, on output */
	double	   *b = ml_alloc_array(ldb, sizeof(double));
	int		   *jpvt = ml_alloc_array(p, sizeof(int));
	double		rcond = 1e-12;
	int			rank = 0;
	int			lwork = -1;
	int			info = 0;
	double		wq = 0;
	double	   *work;

	memcpy(b, yc, sizeof(double) * n);
	/* workspace query, then the solve; jpvt zero: every column is free to pivot */
	dgelsy_(&n, &p, &nrhs, xc, &lda, b, &ldb, jpvt, &rcond, &rank, &wq, &lwork, &info);
	if (info != 0)
		ml_error(ML_ERR_NUMERIC, "least squares workspace query failed (LAPACK dgelsy info %d)", info);
	lwork = (int) wq + 1;
	work = ml_alloc_array(lwork, sizeof(double));
	dgelsy_(&n, &p, &nrhs, xc, &lda, b, &ldb, jpvt, &rcond, &rank, work, &lwork, &info);
	if (info != 0)
		ml_error(ML_ERR_NUMERIC, "least squares failed (LAPACK dgelsy info %d)", info);
	memcpy(m->coef, b, sizeof(double) * p);
	ml_free(work);
	ml_free(b);
	ml_free(jpvt);
}

#define RIDGE_BLOCK 2048

/*
 * Ridge by Cholesky on the centred Gram matrix, accumulated a block of rows
 * at a time: each block is centred into a small buffer that stays in cache,
 * so the centring costs no copy of the whole data (and no page faults on
 * one), with the same numbers as centring it all first.
 */
static void
ridge(MlModel *m, const MlData *d, const double *xmean, double ymean)
{
	int			n = d->n;
	int			p = d->p;
	double	   *g = ml_alloc_array((size_t) p * p, sizeof(double));
	double	   *b = m->coef;
	double	   *blk = ml_alloc_array((size_t) RIDGE_BLOCK * p, sizeof(double));
	double	   *yb = ml_alloc_array(RIDGE_BLOCK, sizeof(double));
	int			nrhs = 1;
	int			info = 0;
	int			i0,
				i,
				j;

	for (j = 0; j < p; j++)
		b[j] = 0;
	for (i0 = 0; i0 < n; i0 += RIDGE_BLOCK)
	{
		int			nb = n - i0 < RIDGE_BLOCK ? n - i0 : RIDGE_BLOCK;

		ml_check_interrupts();
		for (j = 0; j < p; j++)
		{
			const double *col = d->x + (size_t) j * n + i0;
			double	   *out = blk + (size_t) j * nb;

			for (i = 0; i < nb; i++)
				out[i] = col[i] - xmean[j];
		}
		for (i = 0; i < nb; i++)
			yb[i] = d->y[i0 + i] - ymean;
		/* G += Xb'Xb (upper triangle), b += Xb'yb */
		cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, p, nb, 1.0, blk, nb, i0 == 0 ? 0.0 : 1.0, g, p);
		cblas_dgemv(CblasColMajor, CblasTrans, nb, p, 1.0, blk, nb, yb, 1, 1.0, b, 1);
	}
	for (j = 0; j < p; j++)
		g[(size_t) j * p + j] += m->params.alpha;
	dposv_("U", &p, &nrhs, g, &p, b, &p, &info, 1);
	if (info > 0)
		ml_error(ML_ERR_NUMERIC, "the ridge system is not positive definite (alpha %g too small for collinear inputs?)",
				 m->params.alpha);
	if (info < 0)
		ml_error(ML_ERR_NUMERIC, "ridge solve failed (LAPACK dposv info %d)", info);
	ml_free(g);
	ml_free(blk);
	ml_free(yb);
}

static void
coordinate_descent(MlModel *m, int n, int p, const double *xc, const double *yc)
{
	double		l1 = m->algorithm == ML_LASSO ? 1.0 : m->params.l1_ratio;
	double		alpha_n = m->params.alpha * l1 * n;
	double		beta_n = m->params.alpha * (1.0 - l1) * n;
	int			max_iter = m->params.max_iter > 0 ? m->params.max_iter : 1000;
	double		tol = m->params.tol >= 0 ? m->params.tol : 1e-4;
	double	   *w = m->coef;
	double	   *r = ml_alloc_array(n, sizeof(double));
	double	   *norm2 = ml_alloc_array(p, sizeof(double));
	double		ynorm2;
	double		gap_tol;
	int			iter,
				j;

	memcpy(r, yc, sizeof(double) * n);	/* w = 0: R = y */
	for (j = 0; j < p; j++)
		norm2[j] = cblas_ddot(n, xc + (size_t) j * n, 1, xc + (size_t) j * n, 1);
	ynorm2 = cblas_ddot(n, yc, 1, yc, 1);
	gap_tol = tol * ynorm2;

	for (iter = 0; iter < max_iter; iter++)
	{
		double		w_max = 0;
		double		dw_max = 0;

		ml_check_interrupts();
		for (j = 0; j < p; j++)
		{
			const double *col = xc + (size_t) j * n;
			double		old = w[j];
			double		t;

			if (norm2[j] == 0)
				continue;
			/*
			 * x_j'(r + w_old x_j) without adding w_old x_j to r first: one pass
			 * over the column for the dot product and one for the update
			 */
			t = cblas_ddot(n, col, 1, r, 1) + old * norm2[j];
			w[j] = (t > 0 ? 1 : -1) * fmax(fabs(t) - alpha_n, 0) / (norm2[j] + beta_n);
			if (w[j] != old)
				cblas_daxpy(n, old - w[j], col, 1, r, 1);
			dw_max = fmax(dw_max, fabs(w[j] - old));
			w_max = fmax(w_max, fabs(w[j]));
		}
		if (w_max == 0 || dw_max / w_max < tol || iter == max_iter - 1)
		{
			/* the duality gap of the current w */
			double		dual_norm = 0;
			double		r_norm2 = cblas_ddot(n, r, 1, r, 1);
			double		w_norm2 = cblas_ddot(p, w, 1, w, 1);
			double		l1_norm = 0;
			double		c;
			double		gap;

			for (j = 0; j < p; j++)
			{
				double		xta = cblas_ddot(n, xc + (size_t) j * n, 1, r, 1) - beta_n * w[j];

				dual_norm = fmax(dual_norm, fabs(xta));
				l1_norm += fabs(w[j]);
			}
			if (dual_norm > alpha_n)
			{
				c = alpha_n / dual_norm;
				gap = 0.5 * (r_norm2 + r_norm2 * c * c);
			}
			else
			{
				c = 1.0;
				gap = r_norm2;
			}
			gap += alpha_n * l1_norm - c * cblas_ddot(n, r, 1, yc, 1) + 0.5 * beta_n * (1 + c * c) * w_norm2;
			if (gap < gap_tol)
				break;
		}
	}
	m->n_iter = iter < max_iter ? iter + 1 : max_iter;
	ml_free(r);
	ml_free(norm2);
}

void
ml_train_linear(MlModel *m, const MlData *d)
{
	int			n = d->n;
	int			p = d->p;
	double	   *xc = NULL;
	double	   *yc = NULL;
	double	   *xmean = ml_alloc_array(p, sizeof(double));
	double		ymean = 0;
	int			i,
				j;

	m->ncoef = 1;
	m->coef = ml_alloc_array(p, sizeof(double));
	m->intercept = ml_alloc_array(1, sizeof(double));
	if (m->algorithm == ML_RIDGE)
	{
		/* the means only: ridge centres block by block */
		if (m->params.fit_intercept)
		{
			for (j = 0; j < p; j++)
			{
				const double *col = d->x + (size_t) j * n;
				double		s = 0;

				for (i = 0; i < n; i++)
					s += col[i];
				xmean[j] = s / n;
			}
			for (i = 0; i < n; i++)
				ymean += d->y[i];
			ymean /= n;
		}
		ridge(m, d, xmean, ymean);
	}
	else
	{
		center(d, m->params.fit_intercept, &xc, &yc, xmean, &ymean);
		if (m->algorithm == ML_LINEAR_REGRESSION)
			least_squares(m, n, p, xc, yc);
		else
			coordinate_descent(m, n, p, xc, yc);
		ml_free(xc);
		ml_free(yc);
	}
	m->intercept[0] = m->params.fit_intercept ? ymean - cblas_ddot(p, xmean, 1, m->coef, 1) : 0;
	ml_free(xmean);
}
