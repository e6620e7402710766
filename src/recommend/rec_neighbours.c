/*-------------------------------------------------------------------------
 *
 * rec_neighbours.c
 *		Neighbourhood models: item-item similarities (cosine, shrunk, with a
 *		minimum support) and the scores of item-kNN and user-kNN.
 *
 * src/recommend/rec_neighbours.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_blas.h"
#include "ml/ml_core.h"
#include "recommend/rec_core.h"

void
rec_item_knn(const RecCsr *by_user, const RecCsr *by_item, int K, double shrink, int min_support,
			 double min_sim, int *nb_idx, double *nb_sim, double *dot, int *cnt, int *touched)
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
			/* NaN is not below anything: without a minimum, every neighbour stays */
			if (dot[j] < min_sim)
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

/* ---- baselines -------------------------------------------------------------- */

void
rec_item_biases(const RecCsr *by_item, double mu, double *bitem)
{
	int			i,
				e;

	for (i = 0; i < by_item->nrows; i++)
	{
		double		s = 0;

		for (e = by_item->ptr[i]; e < by_item->ptr[i + 1]; e++)
			s += by_item->val[e] - mu;
		bitem[i] = s / (REC_ITEM_BIAS_SHRINK + (by_item->ptr[i + 1] - by_item->ptr[i]));
	}
}

double
rec_user_bias(const int *idx, const double *val, int n, double mu, const double *bitem)
{
	double		s = 0;
	int			e;

	for (e = 0; e < n; e++)
		s += val[e] - mu - bitem[idx[e]];
	return s / (REC_USER_BIAS_SHRINK + n);
}

/* ---- item-kNN ----------------------------------------------------------------- */

void
rec_knn_rank(const int *idx, int n, const int *nb_idx, const double *nb_sim, int K, int nitems, double *scores)
{
	int			e,
				t,
				j;

	for (j = 0; j < nitems; j++)
		scores[j] = NAN;
	for (e = 0; e < n; e++)
	{
		const int  *nb = nb_idx + (size_t) idx[e] * K;
		const double *sim = nb_sim + (size_t) idx[e] * K;

		for (t = 0; t < K && nb[t] >= 0; t++)
			scores[nb[t]] = isnan(scores[nb[t]]) ? sim[t] : scores[nb[t]] + sim[t];
	}
}

void
rec_knn_predict(const int *idx, const double *val, int n, const int *nb_idx, const double *nb_sim, int K,
				int nitems, double mu, const double *bitem, double *pred, double *weight)
{
	double		bu = rec_user_bias(idx, val, n, mu, bitem);
	int			e,
				t,
				j;

	memset(pred, 0, sizeof(double) * nitems);
	memset(weight, 0, sizeof(double) * nitems);
	for (e = 0; e < n; e++)
	{
		const int  *nb = nb_idx + (size_t) idx[e] * K;
		const double *sim = nb_sim + (size_t) idx[e] * K;
		double		dev = val[e] - (mu + bu + bitem[idx[e]]);

		for (t = 0; t < K && nb[t] >= 0; t++)
		{
			pred[nb[t]] += sim[t] * dev;
			weight[nb[t]] += fabs(sim[t]);
		}
	}
	for (j = 0; j < nitems; j++)
		pred[j] = mu + bu + bitem[j] + (weight[j] > 0 ? pred[j] / weight[j] : 0);
}

/* ---- user-kNN ----------------------------------------------------------------- */

void
rec_user_knn_rank(const int *nb, const double *sim, int n, const RecCsr *R, int nitems, double *scores)
{
	int			t,
				e,
				j;

	for (j = 0; j < nitems; j++)
		scores[j] = NAN;
	for (t = 0; t < n && nb[t] >= 0; t++)
		for (e = R->ptr[nb[t]]; e < R->ptr[nb[t] + 1]; e++)
		{
			j = R->idx[e];
			scores[j] = isnan(scores[j]) ? sim[t] : scores[j] + sim[t];
		}
}

void
rec_user_knn_predict(const int *nb, const double *sim, int n, const RecCsr *R, int nitems, double mu,
					 const double *bitem, double bu, double *pred, double *weight)
{
	int			t,
				e,
				j;

	memset(pred, 0, sizeof(double) * nitems);
	memset(weight, 0, sizeof(double) * nitems);
	for (t = 0; t < n && nb[t] >= 0; t++)
	{
		int			v = nb[t];
		double		bv = rec_user_bias(R->idx + R->ptr[v], R->val + R->ptr[v], R->ptr[v + 1] - R->ptr[v], mu, bitem);

		for (e = R->ptr[v]; e < R->ptr[v + 1]; e++)
		{
			j = R->idx[e];
			pred[j] += sim[t] * (R->val[e] - (mu + bv + bitem[j]));
			weight[j] += fabs(sim[t]);
		}
	}
	for (j = 0; j < nitems; j++)
		pred[j] = mu + bu + bitem[j] + (weight[j] > 0 ? pred[j] / weight[j] : 0);
}

/* ---- BPR ------------------------------------------------------------------ */
