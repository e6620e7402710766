/*-------------------------------------------------------------------------
 *
 * rec_fit.c
 *		Fitting one model to a training set in memory (rec_core.c's algorithms
 *		on the split that rec_train.c read), a user's scores from the fit, and
 *		the held-out metrics: rating errors, and the ranking metrics of any
 *		scorer (a model's own, or a hybrid's fusion of its components').
 *
 * src/recommend/rec_fit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "portability/instr_time.h"
#include "utils/memutils.h"

#include "core/dbworker.h"
#include "core/errors.h"
#include "core/timing.h"
#include "ml/ml_blas.h"
#include "ml/ml_pg.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"

static int
longest_row(const RecCsr *m)
{
	int			r,
				best = 1;

	for (r = 0; r < m->nrows; r++)
		best = Max(best, m->ptr[r + 1] - m->ptr[r]);
	return best;
}

void
rec_put_num(StringInfo b, const char *key, double v, bool *first)
{
	appendStringInfo(b, "%s\"%s\": ", *first ? "" : ", ", key);
	if (isnan(v) || isinf(v))
		appendStringInfoString(b, "null");
	else
		appendStringInfo(b, "%.6g", v);
	*first = false;
}

/*
 * User u's user-kNN ranking scores (predict false) or rating predictions, from
 * the neighbour lists and the training rows R: as dwc.recommend() and
 * dwc.rec_explain() make them from a deployed version (rec_score.c).
 */
static void
uknn_scores(int u, const RecCsr *R, bool predict, double mu, const double *bitem, const int *nb_idx,
			const double *nb_sim, int K, int nitems, double *scores, double *work)
{
	const int  *nb = nb_idx + (size_t) u * K;
	const double *sim = nb_sim + (size_t) u * K;

	if (!predict)
		rec_user_knn_rank(nb, sim, K, R, nitems, scores);
	else
		rec_user_knn_predict(nb, sim, K, R, nitems, mu, bitem,
							 rec_user_bias(R->idx + R->ptr[u], R->val + R->ptr[u], R->ptr[u + 1] - R->ptr[u], mu, bitem),
							 scores, work);
}

void
rec_fit(const RecModel *mp, const RecSet *s, RecFit *f)
{
	RecModel	m = *mp;
	RecEntry   *t;
	int			nt = s->nt,
				nusers = s->nusers,
				nitems = s->nitems,
				j;
	double		mean = 0;
	instr_time	fit_start;

	memset(f, 0, sizeof(*f));
	f->k = 1;
	/* the fit's own copy: fits centre and scale values in place */
	t = palloc_extended(sizeof(RecEntry) * Max(nt, 1), MCXT_ALLOC_HUGE);
	memcpy(t, s->t, sizeof(RecEntry) * nt);
	if (m.params.algorithm == REC_POPULARITY)
		for (j = 0; j < nt; j++)
			t[j].v *= pow(0.5, Max(s->age[j], 0) / m.params.half_life_days);
	f->t = t;
	for (j = 0; j < nt; j++)
		if (!t[j].test)
			mean += t[j].v;
	/* implicit values are weights of preferences, not ratings to centre */
	mean = m.params.algorithm == REC_ALS || IS_KNN(m.params.algorithm) ? mean / Max(s->ntrain, 1) : 0;
	f->mean = mean;
	f->ucount = palloc0(sizeof(double) * Max(nusers, 1));
	f->icount = palloc0(sizeof(double) * Max(nitems, 1));
	for (j = 0; j < nt; j++)
		if (!t[j].test)
		{
			f->ucount[t[j].u] += 1;
			f->icount[t[j].i] += m.params.algorithm == REC_POPULARITY ? t[j].v : 1;
		}

	INSTR_TIME_SET_CURRENT(fit_start);
	if (m.params.algorithm == REC_ALS)
	{
		RecCsr		bu,
					bi;
		double	   *scratch;
		int			info;

		f->k = m.params.rank;
		for (j = 0; j < nt; j++)
			t[j].v -= t[j].test ? 0 : mean;
		rec_build_csr(t, nt, nusers, true, false, &bu);
		rec_build_csr(t, nt, nitems, false, false, &bi);
		f->X = palloc_extended(sizeof(double) * (size_t) nusers * f->k, MCXT_ALLOC_HUGE);
		f->Y = palloc_extended(sizeof(double) * (size_t) nitems * f->k, MCXT_ALLOC_HUGE);
		scratch = palloc_extended(sizeof(double) * rec_als_scratch(f->k, Max(longest_row(&bu), longest_row(&bi))),
								  MCXT_ALLOC_HUGE);
		info = rec_als_fit(&bu, &bi, f->k, m.params.lambda, m.params.iterations, (uint64_t) m.params.seed,
						   f->X, f->Y, scratch);
		if (info != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("ALS could not solve a user's or item's system (LAPACK info %d)", info),
					 errhint("Raise lambda.")));
		/* the rows as read again, for the ranking's exclusions */
		for (j = 0; j < nt; j++)
			t[j].v += t[j].test ? 0 : mean;
	}
	else if (m.params.algorithm == REC_IALS)
	{
		RecCsr		bu,
					bi;
		double	   *scratch;
		int			info;

		f->k = m.params.rank;
		rec_build_csr(t, nt, nusers, true, false, &bu);
		rec_build_csr(t, nt, nitems, false, false, &bi);
		f->X = palloc_extended(sizeof(double) * (size_t) nusers * f->k, MCXT_ALLOC_HUGE);
		f->Y = palloc_extended(sizeof(double) * (size_t) nitems * f->k, MCXT_ALLOC_HUGE);
		scratch = palloc_extended(sizeof(double) * rec_ials_scratch(f->k, Max(longest_row(&bu), longest_row(&bi))),
								  MCXT_ALLOC_HUGE);
		info = rec_ials_fit(&bu, &bi, f->k, m.params.lambda, m.params.alpha, m.params.iterations,
							(uint64_t) m.params.seed, f->X, f->Y, scratch);
		if (info != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("implicit ALS could not solve a user's or item's system (LAPACK info %d)", info),
					 errhint("Raise lambda.")));
	}
	else if (m.params.algorithm == REC_SVD)
	{
		RecCsr		bu;
		int			info;

		/* no more factors than the smaller side has */
		f->k = Min(m.params.rank, Min(nusers, nitems));
		rec_build_csr(t, nt, nusers, true, false, &bu);
		f->X = palloc_extended(sizeof(double) * (size_t) nusers * f->k, MCXT_ALLOC_HUGE);
		f->Y = palloc_extended(sizeof(double) * (size_t) nitems * f->k, MCXT_ALLOC_HUGE);
		info = rec_svd_fit(&bu, nitems, f->k, m.params.power_iterations, (uint64_t) m.params.seed, f->X, f->Y);
		if (info != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the truncated SVD failed (LAPACK info %d)", info)));
	}
	else if (m.params.algorithm == REC_BPR)
	{
		RecCsr		bu;

		f->k = m.params.rank + 1;	/* and the item bias */
		rec_build_csr(t, nt, nusers, true, false, &bu);
		f->X = palloc_extended(sizeof(double) * Max((size_t) nusers * f->k, 1), MCXT_ALLOC_HUGE);
		f->Y = palloc_extended(sizeof(double) * (size_t) nitems * f->k, MCXT_ALLOC_HUGE);
		if (rec_bpr_fit(&bu, nitems, f->k, m.params.learning_rate, m.params.lambda, m.params.iterations,
						(uint64_t) m.params.seed, f->X, f->Y) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("BPR needs positive interactions (values above 0) to train on")));
	}
	else if (m.params.algorithm == REC_CONTENT)
	{
		f->K = m.params.neighbors;
		f->nb_idx = palloc_extended(sizeof(int) * (size_t) nitems * f->K, MCXT_ALLOC_HUGE);
		f->nb_sim = palloc_extended(sizeof(double) * (size_t) nitems * f->K, MCXT_ALLOC_HUGE);
		f->nterms = rec_content_neighbors(&m, &s->items, nitems, f->K, f->nb_idx, f->nb_sim);
		f->Y = palloc0(sizeof(double) * nitems);	/* no factors: one zero per item */
	}
	else if (IS_KNN(m.params.algorithm))
	{
		RecCsr		bu,
					bi,
					bi_raw;
		int			nrows = m.params.algorithm == REC_KNN ? nitems : nusers;
		double	   *umean;

		/* adjusted cosine: each user's training values centred on their mean */
		umean = palloc0(sizeof(double) * Max(nusers, 1));
		for (j = 0; j < nt; j++)
			if (!t[j].test)
				umean[t[j].u] += t[j].v / f->ucount[t[j].u];
		if (m.params.adjusted)
		{
			for (j = 0; j < nt; j++)
				if (!t[j].test)
					t[j].v -= umean[t[j].u];
		}
		rec_build_csr(t, nt, nusers, true, false, &bu);
		rec_build_csr(t, nt, nitems, false, false, &bi);
		if (m.params.adjusted)
			for (j = 0; j < nt; j++)
				if (!t[j].test)
					t[j].v += umean[t[j].u];
		rec_build_csr(t, nt, nitems, false, false, &bi_raw);
		f->K = m.params.neighbors;
		f->nb_idx = palloc_extended(sizeof(int) * (size_t) nrows * f->K, MCXT_ALLOC_HUGE);
		f->nb_sim = palloc_extended(sizeof(double) * (size_t) nrows * f->K, MCXT_ALLOC_HUGE);
		/* items' neighbours through the users' rows, or users' through the items' */
		if (m.params.algorithm == REC_KNN)
			rec_item_knn(&bu, &bi, f->K, m.params.shrinkage, m.params.min_support, m.params.min_similarity,
						 f->nb_idx, f->nb_sim,
						 palloc(sizeof(double) * Max(nrows, 1)), palloc(sizeof(int) * Max(nrows, 1)),
						 palloc(sizeof(int) * Max(nrows, 1)));
		else
			rec_item_knn(&bi, &bu, f->K, m.params.shrinkage, m.params.min_support, m.params.min_similarity,
						 f->nb_idx, f->nb_sim,
						 palloc(sizeof(double) * Max(nrows, 1)), palloc(sizeof(int) * Max(nrows, 1)),
						 palloc(sizeof(int) * Max(nrows, 1)));
		/* no factors: each item's bias, for the baseline of the predictions */
		f->Y = palloc0(sizeof(double) * Max(nitems, 1));
		rec_item_biases(&bi_raw, mean, f->Y);
	}
	else
		f->Y = f->icount;		/* the decayed sums are the scores */
	/* the fitting alone, without reading, evaluating and storing: what to compare with a library's fit */
	f->fit_ms = dwc_ms_since(fit_start);
}

void
rec_fit_rating_metrics(const RecModel *m, const RecFit *f, const RecSet *s, StringInfo metrics, bool *first)
{
	const RecEntry *t = f->t;
	double		se = 0,
				ae = 0,
				base = 0;
	int			j;

	if (s->ntest == 0)
		return;
	/* rating error: of ALS's predictions (popularity predicts no rating) */
	if (m->params.algorithm == REC_ALS)
	{
		for (j = 0; j < s->nt; j++)
		{
			double		p;

			if (!t[j].test)
				continue;
			p = f->mean + cblas_ddot(f->k, f->X + (size_t) t[j].u * f->k, 1, f->Y + (size_t) t[j].i * f->k, 1);
			se += (p - t[j].v) * (p - t[j].v);
			ae += fabs(p - t[j].v);
			base += (f->mean - t[j].v) * (f->mean - t[j].v);
		}
	}
	/* kNN predictions of the held-out values: baseline plus the neighbours' deviations */
	else if (IS_KNN(m->params.algorithm))
	{
		RecCsr		te,
					tn;
		double	   *sc = palloc(sizeof(double) * Max(s->nitems, 1));
		double	   *wk = palloc(sizeof(double) * Max(s->nitems, 1));
		int			u,
					e;

		rec_build_csr(t, s->nt, s->nusers, true, true, &te);
		rec_build_csr(t, s->nt, s->nusers, true, false, &tn);
		for (u = 0; u < s->nusers; u++)
		{
			if (te.ptr[u] == te.ptr[u + 1])
				continue;
			DWC_CHECK_FOR_INTERRUPTS();
			if (m->params.algorithm == REC_UKNN)
				uknn_scores(u, &tn, true, f->mean, f->Y, f->nb_idx, f->nb_sim, f->K, s->nitems, sc, wk);
			else
				rec_knn_predict(tn.idx + tn.ptr[u], tn.val + tn.ptr[u], tn.ptr[u + 1] - tn.ptr[u], f->nb_idx,
								f->nb_sim, f->K, s->nitems, f->mean, f->Y, sc, wk);
			for (e = te.ptr[u]; e < te.ptr[u + 1]; e++)
			{
				double		p = sc[te.idx[e]];

				se += (p - te.val[e]) * (p - te.val[e]);
				ae += fabs(p - te.val[e]);
				base += (f->mean - te.val[e]) * (f->mean - te.val[e]);
			}
		}
	}
	else
		return;
	rec_put_num(metrics, "rmse", sqrt(se / s->ntest), first);
	rec_put_num(metrics, "mae", ae / s->ntest, first);
	/* what predicting the training mean would score: the bar to clear */
	rec_put_num(metrics, "rmse_of_mean", sqrt(base / s->ntest), first);
}

void
rec_fit_scores(const RecModel *m, const RecFit *f, int u, const RecCsr *tr, int nitems, double *scores)
{
	if (HAS_FACTORS(m->params.algorithm))
		cblas_dgemv(CblasRowMajor, CblasNoTrans, nitems, f->k, 1.0, f->Y, f->k, f->X + (size_t) u * f->k, 1, 0.0,
					scores, 1);
	else if (m->params.algorithm == REC_UKNN)
		uknn_scores(u, tr, false, f->mean, f->Y, f->nb_idx, f->nb_sim, f->K, nitems, scores, NULL);
	else if (m->params.algorithm == REC_KNN)
		rec_knn_rank(tr->idx + tr->ptr[u], tr->ptr[u + 1] - tr->ptr[u], f->nb_idx, f->nb_sim, f->K, nitems, scores);
	else if (m->params.algorithm == REC_CONTENT)
	{
		double	   *wk = palloc(sizeof(double) * Max(nitems, 1));

		rec_knn_scores(tr->idx + tr->ptr[u], tr->val + tr->ptr[u], tr->ptr[u + 1] - tr->ptr[u], f->nb_idx, f->nb_sim,
					   f->K, nitems, false, scores, wk);
		pfree(wk);
	}
	else
		memcpy(scores, f->Y, sizeof(double) * nitems);
}

void
rec_rank_evaluation(const RecSet *s, int topk, double relevant_min, RecScorer scorer, void *arg,
					StringInfo metrics, bool *first)
{
	RecCsr		tu,
				tr;
	int			nitems = s->nitems;
	double	   *scores = palloc(sizeof(double) * Max(nitems, 1));
	unsigned char *excluded = palloc0(Max(nitems, 1));
	unsigned char *relevant = palloc0(Max(nitems, 1));
	unsigned char *shown = palloc0(Max(nitems, 1));
	int		   *top = palloc(sizeof(int) * topk);
	RecRankMetrics sum = {0},
				one;
	int			evaluated = 0,
				covered = 0,
				u;

	/* each user's top k among the items they did not train on, against their relevant held-out ones */
	rec_build_csr(s->t, s->nt, s->nusers, true, true, &tu);
	rec_build_csr(s->t, s->nt, s->nusers, true, false, &tr);
	for (u = 0; u < s->nusers; u++)
	{
		int			nrel = 0,
					ntop,
					e;

		DWC_CHECK_FOR_INTERRUPTS();
		for (e = tu.ptr[u]; e < tu.ptr[u + 1]; e++)
			if (tu.val[e] >= relevant_min)
			{
				relevant[tu.idx[e]] = 1;
				nrel++;
			}
		if (nrel > 0)
		{
			scorer(arg, u, &tr, scores);
			for (e = tr.ptr[u]; e < tr.ptr[u + 1]; e++)
				excluded[tr.idx[e]] = 1;
			ntop = rec_top_n(scores, nitems, excluded, topk, top);
			rec_rank_metrics(top, ntop, relevant, nrel, topk, &one);
			sum.precision += one.precision;
			sum.recall += one.recall;
			sum.ndcg += one.ndcg;
			sum.ap += one.ap;
			evaluated++;
			for (e = 0; e < ntop; e++)
			{
				covered += !shown[top[e]];
				shown[top[e]] = 1;
			}
			for (e = tr.ptr[u]; e < tr.ptr[u + 1]; e++)
				excluded[tr.idx[e]] = 0;
		}
		for (e = tu.ptr[u]; e < tu.ptr[u + 1]; e++)
			relevant[tu.idx[e]] = 0;
	}
	if (evaluated > 0)
	{
		rec_put_num(metrics, "precision_at_k", sum.precision / evaluated, first);
		rec_put_num(metrics, "recall_at_k", sum.recall / evaluated, first);
		rec_put_num(metrics, "ndcg_at_k", sum.ndcg / evaluated, first);
		rec_put_num(metrics, "map_at_k", sum.ap / evaluated, first);
		rec_put_num(metrics, "coverage", (double) covered / Max(nitems, 1), first);
	}
	rec_put_num(metrics, "users_evaluated", evaluated, first);
}
