/*-------------------------------------------------------------------------
 *
 * metrics.c
 *		How good a model is on rows it did not see.
 *
 * Definitions follow scikit-learn's: precision, recall and F1 per class
 * (0 where undefined), averaged over the classes present in the truth or
 * the predictions (macro) or weighted by each class's true count
 * (weighted); ROC AUC for two classes by ranks (ties get their mean rank);
 * log loss with probabilities clipped to [1e-15, 1 - 1e-15]; R^2 is 1 - SS_res / SS_tot
 * (1 for a perfect fit of a constant target, else 0 when SS_tot is 0);
 * silhouette on at most max_silhouette_rows rows (evenly spaced), the
 * mean over rows of (b - a) / max(a, b).
 *
 * src/ml/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_core.h"

typedef struct RankItem
{
	double		score;
	int			positive;
} RankItem;

static int
rank_cmp(const void *a, const void *b)
{
	double		x = ((const RankItem *) a)->score;
	double		y = ((const RankItem *) b)->score;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static double
roc_auc(const double *truth, const double *score, int n)
{
	RankItem   *it = ml_alloc_array(n, sizeof(RankItem));
	double		npos = 0,
				nneg = 0,
				rank_sum = 0;
	int			i = 0;

	for (i = 0; i < n; i++)
	{
		it[i].score = score[i];
		it[i].positive = truth[i] > 0.5;
		npos += it[i].positive;
	}
	nneg = n - npos;
	qsort(it, n, sizeof(RankItem), rank_cmp);
	i = 0;
	while (i < n)
	{
		int			j = i;
		double		mean_rank;
		int			pos = 0;

		while (j + 1 < n && it[j + 1].score == it[i].score)
			j++;
		mean_rank = (i + j) / 2.0 + 1.0;
		for (; i <= j; i++)
			pos += it[i].positive;
		rank_sum += pos * mean_rank;
	}
	ml_free(it);
	if (npos == 0 || nneg == 0)
		return NAN;
	return (rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg);
}

void
ml_class_metrics(const double *truth, const double *pred, const double *proba, int n,
				 int nclasses, MlClassMetrics *out)
{
	int			K = nclasses;
	int64_t    *cm = ml_alloc_array((size_t) K * K, sizeof(int64_t));
	double		correct = 0;
	int			present = 0;
	double		support_total = 0;
	int			i,
				k;

	memset(out, 0, sizeof(*out));
	out->nclasses = K;
	out->confusion = cm;
	for (i = 0; i < n; i++)
	{
		int			t = (int) truth[i];
		int			p = (int) pred[i];

		cm[(size_t) t * K + p]++;
		correct += t == p;
	}
	out->accuracy = n > 0 ? correct / n : 0;
	for (k = 0; k < K; k++)
	{
		double		tp = (double) cm[(size_t) k * K + k];
		double		actual = 0,
					predicted = 0;
		double		prec,
					rec,
					f1;
		int			j;

		for (j = 0; j < K; j++)
		{
			actual += (double) cm[(size_t) k * K + j];
			predicted += (double) cm[(size_t) j * K + k];
		}
		if (actual == 0 && predicted == 0)
			continue;			/* in neither: not averaged */
		present++;
		prec = predicted > 0 ? tp / predicted : 0;
		rec = actual > 0 ? tp / actual : 0;
		f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0;
		out->precision_macro += prec;
		out->recall_macro += rec;
		out->f1_macro += f1;
		out->precision_weighted += prec * actual;
		out->recall_weighted += rec * actual;
		out->f1_weighted += f1 * actual;
		support_total += actual;
	}
	if (present > 0)
	{
		out->precision_macro /= present;
		out->recall_macro /= present;
		out->f1_macro /= present;
	}
	if (support_total > 0)
	{
		out->precision_weighted /= support_total;
		out->recall_weighted /= support_total;
		out->f1_weighted /= support_total;
	}
	if (proba != NULL && n > 0)
	{
		double		ll = 0;

		for (i = 0; i < n; i++)
		{
			double		pt = proba[(size_t) i * K + (int) truth[i]];

			pt = fmin(fmax(pt, 1e-15), 1 - 1e-15);
			ll -= log(pt);
		}
		out->has_log_loss = true;
		out->log_loss = ll / n;
		if (K == 2)
		{
			double	   *score = ml_alloc_array(n, sizeof(double));

			for (i = 0; i < n; i++)
				score[i] = proba[(size_t) i * K + 1];
			out->roc_auc = roc_auc(truth, score, n);
			out->has_auc = !isnan(out->roc_auc);
			ml_free(score);
		}
	}
}

void
ml_reg_metrics(const double *truth, const double *pred, int n, MlRegMetrics *out)
{
	double		mean = 0,
				ss_res = 0,
				ss_tot = 0,
				abs_err = 0;
	int			i;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		mean += truth[i];
	mean /= n;
	for (i = 0; i < n; i++)
	{
		double		e = truth[i] - pred[i];

		ss_res += e * e;
		abs_err += fabs(e);
		ss_tot += (truth[i] - mean) * (truth[i] - mean);
	}
	out->rmse = sqrt(ss_res / n);
	out->mae = abs_err / n;
	out->r2 = ss_tot > 0 ? 1 - ss_res / ss_tot : (ss_res == 0 ? 1 : 0);
}

/* x column-major n * p, label[n] the cluster of each row */
void
ml_cluster_metrics(const MlModel *m, const double *x, const double *label, int n,
				   int max_silhouette_rows, MlClusterMetrics *out)
{
	int			p = m->p;
	int			k = m->nclusters;
	int			i,
				j;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++)
	{
		const double *c = m->centers + (size_t) (int) label[i] * p;

		for (j = 0; j < p; j++)
		{
			double		v = x[(size_t) j * n + i] - c[j];

			out->inertia += v * v;
		}
	}
	if (k >= 2 && n >= 2 && max_silhouette_rows >= 2)
	{
		int			m_rows = n < max_silhouette_rows ? n : max_silhouette_rows;
		int		   *idx = ml_alloc_array(m_rows, sizeof(int));
		double	   *sum = ml_alloc_array(k, sizeof(double));
		double	   *cnt = ml_alloc_array(k, sizeof(double));
		double	   *rows = ml_alloc_array((size_t) m_rows * p, sizeof(double));
		double		total = 0;
		int			a,
					b,
					c;

		for (a = 0; a < m_rows; a++)
		{
			idx[a] = (int) ((double) a * n / m_rows);
			for (j = 0; j < p; j++)
				rows[(size_t) a * p + j] = x[(size_t) j * n + idx[a]];
		}
		for (a = 0; a < m_rows; a++)
		{
			int			ca = (int) label[idx[a]];
			double		ai,
						bi = INFINITY;

			if ((a & 63) == 0)
				ml_check_interrupts();
			memset(sum, 0, sizeof(double) * k);
			memset(cnt, 0, sizeof(double) * k);
			for (b = 0; b < m_rows; b++)
			{
				double		dd = 0;

				if (b == a)
					continue;
				for (j = 0; j < p; j++)
				{
					double		v = rows[(size_t) a * p + j] - rows[(size_t) b * p + j];

					dd += v * v;
				}
				sum[(int) label[idx[b]]] += sqrt(dd);
				cnt[(int) label[idx[b]]] += 1;
			}
			if (cnt[ca] == 0)
				continue;		/* alone in its cluster: silhouette 0, as scikit-learn */
			ai = sum[ca] / cnt[ca];
			for (c = 0; c < k; c++)
				if (c != ca && cnt[c] > 0)
					bi = fmin(bi, sum[c] / cnt[c]);
			if (isinf(bi) || fmax(ai, bi) == 0)
				continue;
			total += (bi - ai) / fmax(ai, bi);
		}
		out->has_silhouette = true;
		out->silhouette = total / m_rows;
		ml_free(idx);
		ml_free(rows);
		ml_free(sum);
		ml_free(cnt);
	}
}
