/*-------------------------------------------------------------------------
 *
 * rec_train.c
 *		dwc.rec_train(): reading the owner's interactions, the held-out split,
 *		fitting (rec_core.c), the metrics, storing and deploying a version.
 *
 * src/recommend/rec_train.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "core/dbworker.h"
#include "core/errors.h"
#include "core/timing.h"
#include "ml/ml_blas.h"
#include "ml/ml_pg.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc_rec_train);

/* ---- training ------------------------------------------------------------- */

static int
longest_row(const RecCsr *m)
{
	int			r,
				best = 1;

	for (r = 0; r < m->nrows; r++)
		best = Max(best, m->ptr[r + 1] - m->ptr[r]);
	return best;
}

static double
jnum_opt(Jsonb *j, const char *key, double dflt)
{
	JsonbValue *v = j ? DwcMlJsonbKey(&j->root, key) : NULL;

	if (v == NULL || v->type == jbvNull)
		return dflt;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a number", key)));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static void
check_options(Jsonb *options)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training options must be a JSON object")));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

			if (strcmp(key, "test_size") != 0 && strcmp(key, "seed") != 0 && strcmp(key, "k") != 0 &&
				strcmp(key, "relevant") != 0 && strcmp(key, "test_from") != 0 && strcmp(key, "split") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown training option \"%s\"", key),
						 errhint("Options: test_size, split, seed, test_from, k, relevant.")));
		}
	}
}

static void
put_num(StringInfo b, const char *key, double v, bool *first)
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

static Jsonb *
train(const char *name, Jsonb *options, MemoryContext outer, Oid caller)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "dwc rec training", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RecModel	m;
	Oid			types[3];
	Datum		args[3];
	char		nulls[3];
	JsonbValue *test_from;
	instr_time	t0,
				fit_start;
	double		fit_ms;
	double		test_size;
	bool		per_user = false;	/* test_size of each user's interactions, not of all */
	uint64_t	state;
	int			topk;
	double		relevant_min;
	HTAB	   *items;
	int			nusers = 0,
				nitems = 0,
				nt,
				ntrain = 0,
				ntest = 0,
				k = 1,
				j;
	RecEntry	   *t;
	RecRead		read;
	int		   *item_at;		/* an item's place in the model, by its place in read.items */
	char	  **uid,
			  **iid;
	double	   *X,
			   *Y,
			   *ucount,
			   *icount;
	int		   *nb_idx = NULL;
	double	   *nb_sim = NULL;
	int			K = 0;
	double	   *umean = NULL;		/* kNN: each user's training mean */
	double		mean = 0;
	char	  **known = NULL;	/* content: the owner's items, interacted with or not */
	int			nknown = 0,
				nterms = 0;
	StringInfoData metrics;
	bool		first = true;
	int32		version;
	Jsonb	   *result;

	INSTR_TIME_SET_CURRENT(t0);
	check_options(options);
	/* a held-out split the caller chose: the interactions at or after test_from */
	test_from = options ? DwcMlJsonbKey(&options->root, "test_from") : NULL;
	if (test_from != NULL && test_from->type == jbvNull)
		test_from = NULL;
	if (test_from != NULL && test_from->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"test_from\" must be a timestamp")));
	if (test_from != NULL && DwcMlJsonbKey(&options->root, "test_size") != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give test_size or test_from, not both"),
				 errhint("test_size holds out a random share; test_from the interactions from a time on.")));
	test_size = test_from ? 0 : jnum_opt(options, "test_size", 0.2);
	{
		JsonbValue *split = options ? DwcMlJsonbKey(&options->root, "split") : NULL;

		if (split != NULL && split->type != jbvNull)
		{
			if (split->type == jbvString && split->val.string.len == 8 &&
				strncmp(split->val.string.val, "per_user", 8) == 0)
				per_user = true;
			else if (!(split->type == jbvString && split->val.string.len == 6 &&
					   strncmp(split->val.string.val, "random", 6) == 0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"split\" is \"random\" or \"per_user\""),
						 errhint("random: test_size of all interactions; per_user: test_size of each user's.")));
			if (test_from != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("give split or test_from, not both")));
		}
	}
	if (!(test_size >= 0 && test_size < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("test_size must be at least 0 and below 1")));
	state = (uint64) jnum_opt(options, "seed", 1);
	topk = (int) jnum_opt(options, "k", 10);
	if (topk < 1 || topk > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be from 1 to 1000, not %d", topk)));
	relevant_min = jnum_opt(options, "relevant", -INFINITY);

	rec_resolve_model(name, caller, &m);
	if (m.params.algorithm == REC_HYBRID)
	{
		if (options != NULL && JsonContainerSize(&options->root) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a hybrid model takes no training options"),
					 errhint("Its components are trained, and evaluated, on their own.")));
		result = rec_train_hybrid(&m, t0, outer);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return result;
	}
	rec_owner_args(&m, types, args, nulls);
	if (m.params.algorithm == REC_CONTENT)
	{
		/* every item with text or features, so that new ones can be recommended before anyone has seen them */
		if (SPI_execute_with_args("SELECT item_id FROM dwc.rec_items WHERE " OWNER_IS " ORDER BY item_id",
								  2, types, args, nulls, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the items");
		nknown = (int) SPI_processed;
		known = palloc(sizeof(char *) * Max(nknown, 1));
		for (j = 0; j < nknown; j++)
			known[j] = SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1);
	}
	/* the latest value of each (user, item), in a stable order for the split */
	rec_read_latest(&m, test_from != NULL,
					test_from ? DirectFunctionCall3(timestamptz_in,
													CStringGetDatum(pnstrdup(test_from->val.string.val,
																			 test_from->val.string.len)),
													ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)) : (Datum) 0,
					&read);
	nt = read.n;
	if (nt == 0 && nknown == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("there are no %s to train recommendation model \"%s\" on",
						m.params.algorithm == REC_CONTENT ? "items" : "interactions", name),
				 errhint(m.params.algorithm == REC_CONTENT ? "Describe them with dwc.rec_set_item()."
						 : "Record them with dwc.rec_interact().")));
	/*
	 * Users in the order read (byte order); items in order of first
	 * appearance, after the content model's known items.
	 */
	items = rec_new_index("dwc rec items", Max(nknown, 16), cxt);
	t = palloc_extended(sizeof(RecEntry) * Max(nt, 1), MCXT_ALLOC_HUGE);
	uid = read.users;
	nusers = read.nusers;
	iid = palloc(sizeof(char *) * (read.nitems + nknown + 1));
	for (j = 0; j < nknown; j++)
		iid[rec_index_of(items, known[j], true, &nitems)] = known[j];
	item_at = palloc(sizeof(int) * (read.nitems + 1));
	for (j = 0; j < read.nitems; j++)
		item_at[j] = nknown > 0 ? rec_index_of(items, read.items[j], false, &nitems) : -1;
	for (j = 0; j < nt; j++)
	{
		RecRow	   *r = &read.rows[j];
		double		age = r->age;

		DWC_CHECK_FOR_INTERRUPTS();
		t[j].u = r->u;
		if (item_at[r->i] < 0)
		{
			item_at[r->i] = nitems++;
			iid[item_at[r->i]] = read.items[r->i];
		}
		t[j].i = item_at[r->i];
		t[j].v = r->v;
		if (m.params.algorithm == REC_POPULARITY)
			t[j].v *= pow(0.5, Max(age, 0) / m.params.half_life_days);
		t[j].test = test_from ? r->test
			: !per_user && test_size > 0 && rec_random_uniform(&state) < test_size;
	}
	if (per_user && test_size > 0)
	{
		/* each user's rows are together (ordered by user): hold out round(test_size * n) of each */
		int			a = 0;

		while (a < nt)
		{
			int			b = a,
						k,
						left;

			while (b < nt && t[b].u == t[a].u)
				b++;
			k = (int) floor(test_size * (b - a) + 0.5);
			/* choose k of the n rows, each subset alike likely (selection sampling) */
			for (left = b - a, j = a; j < b && k > 0; j++, left--)
				if (rec_random_uniform(&state) * left < k)
				{
					t[j].test = true;
					k--;
				}
			a = b;
		}
	}
	for (j = 0; j < nt; j++)
	{
		if (t[j].test)
			ntest++;
		else
		{
			ntrain++;
			mean += t[j].v;
		}
	}
	if (ntrain == 0 && nt > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no interaction is left to train on"),
				 errhint("Lower test_size.")));
	/* implicit values are weights of preferences, not ratings to centre */
	mean = m.params.algorithm == REC_ALS || IS_KNN(m.params.algorithm) ? mean / ntrain : 0;
	ucount = palloc0(sizeof(double) * nusers);
	icount = palloc0(sizeof(double) * nitems);
	for (j = 0; j < nt; j++)
		if (!t[j].test)
		{
			ucount[t[j].u] += 1;
			icount[t[j].i] += m.params.algorithm == REC_POPULARITY ? t[j].v : 1;
		}

	INSTR_TIME_SET_CURRENT(fit_start);
	if (m.params.algorithm == REC_ALS)
	{
		RecCsr		bu,
					bi;
		double	   *scratch;
		int			info;

		k = m.params.rank;
		for (j = 0; j < nt; j++)
			t[j].v -= t[j].test ? 0 : mean;
		rec_build_csr(t, nt, nusers, true, false, &bu);
		rec_build_csr(t, nt, nitems, false, false, &bi);
		X = palloc_extended(sizeof(double) * (size_t) nusers * k, MCXT_ALLOC_HUGE);
		Y = palloc_extended(sizeof(double) * (size_t) nitems * k, MCXT_ALLOC_HUGE);
		scratch = palloc_extended(sizeof(double) * rec_als_scratch(k, Max(longest_row(&bu), longest_row(&bi))),
								  MCXT_ALLOC_HUGE);
		info = rec_als_fit(&bu, &bi, k, m.params.lambda, m.params.iterations, (uint64_t) m.params.seed,
						   X, Y, scratch);
		if (info != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("ALS could not solve a user's or item's system (LAPACK info %d)", info),
					 errhint("Raise lambda.")));
	}
	else if (m.params.algorithm == REC_IALS)
	{
		RecCsr		bu,
					bi;
		double	   *scratch;
		int			info;

		k = m.params.rank;
		rec_build_csr(t, nt, nusers, true, false, &bu);
		rec_build_csr(t, nt, nitems, false, false, &bi);
		X = palloc_extended(sizeof(double) * (size_t) nusers * k, MCXT_ALLOC_HUGE);
		Y = palloc_extended(sizeof(double) * (size_t) nitems * k, MCXT_ALLOC_HUGE);
		scratch = palloc_extended(sizeof(double) * rec_ials_scratch(k, Max(longest_row(&bu), longest_row(&bi))),
								  MCXT_ALLOC_HUGE);
		info = rec_ials_fit(&bu, &bi, k, m.params.lambda, m.params.alpha, m.params.iterations,
							(uint64_t) m.params.seed, X, Y, scratch);
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
		k = Min(m.params.rank, Min(nusers, nitems));
		rec_build_csr(t, nt, nusers, true, false, &bu);
		X = palloc_extended(sizeof(double) * (size_t) nusers * k, MCXT_ALLOC_HUGE);
		Y = palloc_extended(sizeof(double) * (size_t) nitems * k, MCXT_ALLOC_HUGE);
		info = rec_svd_fit(&bu, nitems, k, m.params.power_iterations, (uint64_t) m.params.seed, X, Y);
		if (info != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the truncated SVD failed (LAPACK info %d)", info)));
	}
	else if (m.params.algorithm == REC_BPR)
	{
		RecCsr		bu;

		k = m.params.rank + 1;	/* and the item bias */
		rec_build_csr(t, nt, nusers, true, false, &bu);
		X = palloc_extended(sizeof(double) * Max((size_t) nusers * k, 1), MCXT_ALLOC_HUGE);
		Y = palloc_extended(sizeof(double) * (size_t) nitems * k, MCXT_ALLOC_HUGE);
		if (rec_bpr_fit(&bu, nitems, k, m.params.learning_rate, m.params.lambda, m.params.iterations,
						(uint64_t) m.params.seed, X, Y) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("BPR needs positive interactions (values above 0) to train on")));
	}
	else if (m.params.algorithm == REC_CONTENT)
	{
		K = m.params.neighbors;
		nb_idx = palloc_extended(sizeof(int) * (size_t) nitems * K, MCXT_ALLOC_HUGE);
		nb_sim = palloc_extended(sizeof(double) * (size_t) nitems * K, MCXT_ALLOC_HUGE);
		nterms = rec_content_neighbors(&m, items, nitems, K, nb_idx, nb_sim);
		X = NULL;
		Y = palloc0(sizeof(double) * nitems);	/* no factors: one zero per item */
	}
	else if (IS_KNN(m.params.algorithm))
	{
		RecCsr		bu,
					bi,
					bi_raw;
		int			nrows = m.params.algorithm == REC_KNN ? nitems : nusers;

		/* adjusted cosine: each user's training values centred on their mean */
		umean = palloc0(sizeof(double) * Max(nusers, 1));
		for (j = 0; j < nt; j++)
			if (!t[j].test)
				umean[t[j].u] += t[j].v / ucount[t[j].u];
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
		K = m.params.neighbors;
		nb_idx = palloc_extended(sizeof(int) * (size_t) nrows * K, MCXT_ALLOC_HUGE);
		nb_sim = palloc_extended(sizeof(double) * (size_t) nrows * K, MCXT_ALLOC_HUGE);
		/* items' neighbours through the users' rows, or users' through the items' */
		if (m.params.algorithm == REC_KNN)
			rec_item_knn(&bu, &bi, K, m.params.shrinkage, m.params.min_support, m.params.min_similarity,
						 nb_idx, nb_sim,
						 palloc(sizeof(double) * Max(nrows, 1)), palloc(sizeof(int) * Max(nrows, 1)),
						 palloc(sizeof(int) * Max(nrows, 1)));
		else
			rec_item_knn(&bi, &bu, K, m.params.shrinkage, m.params.min_support, m.params.min_similarity,
						 nb_idx, nb_sim,
						 palloc(sizeof(double) * Max(nrows, 1)), palloc(sizeof(int) * Max(nrows, 1)),
						 palloc(sizeof(int) * Max(nrows, 1)));
		X = NULL;
		/* no factors: each item's bias, for the baseline of the predictions */
		Y = palloc0(sizeof(double) * Max(nitems, 1));
		rec_item_biases(&bi_raw, mean, Y);
	}
	else
	{
		X = NULL;
		Y = icount;				/* the decayed sums are the scores */
	}

	/* ---- held-out metrics ---- */
	fit_ms = dwc_ms_since(fit_start);
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	put_num(&metrics, "k", topk, &first);
	/* the fitting alone, without reading, evaluating and storing: what to compare with a library's fit */
	put_num(&metrics, "fit_ms", fit_ms, &first);
	if (ntest > 0)
	{
		double		se = 0,
					ae = 0;
		RecCsr		tu,
					tr;
		double	   *scores = palloc(sizeof(double) * nitems);
		unsigned char *excluded = palloc0(nitems);
		unsigned char *relevant = palloc0(nitems);
		unsigned char *shown = palloc0(nitems);
		int		   *top = palloc(sizeof(int) * topk);
		RecRankMetrics sum = {0},
					one;
		int			evaluated = 0,
					covered = 0,
					u;

		/* rating error: of ALS's predictions (popularity predicts no rating) */
		if (m.params.algorithm == REC_ALS)
		{
			double		base = 0;

			for (j = 0; j < nt; j++)
			{
				double		p;

				if (!t[j].test)
					continue;
				p = mean + cblas_ddot(k, X + (size_t) t[j].u * k, 1, Y + (size_t) t[j].i * k, 1);
				se += (p - t[j].v) * (p - t[j].v);
				ae += fabs(p - t[j].v);
				base += (mean - t[j].v) * (mean - t[j].v);
			}
			put_num(&metrics, "rmse", sqrt(se / ntest), &first);
			put_num(&metrics, "mae", ae / ntest, &first);
			/* what predicting the training mean would score: the bar to clear */
			put_num(&metrics, "rmse_of_mean", sqrt(base / ntest), &first);
		}

		/* kNN predictions of the held-out values: baseline plus the neighbours' deviations */
		if (IS_KNN(m.params.algorithm))
		{
			RecCsr		te,
						tn;
			double	   *sc = palloc(sizeof(double) * Max(nitems, 1));
			double	   *wk = palloc(sizeof(double) * Max(nitems, 1));
			double		base = 0;
			int			u,
						e;

			rec_build_csr(t, nt, nusers, true, true, &te);
			rec_build_csr(t, nt, nusers, true, false, &tn);
			for (u = 0; u < nusers; u++)
			{
				if (te.ptr[u] == te.ptr[u + 1])
					continue;
				DWC_CHECK_FOR_INTERRUPTS();
				if (m.params.algorithm == REC_UKNN)
					uknn_scores(u, &tn, true, mean, Y, nb_idx, nb_sim, K, nitems, sc, wk);
				else
					rec_knn_predict(tn.idx + tn.ptr[u], tn.val + tn.ptr[u], tn.ptr[u + 1] - tn.ptr[u], nb_idx,
									nb_sim, K, nitems, mean, Y, sc, wk);
				for (e = te.ptr[u]; e < te.ptr[u + 1]; e++)
				{
					double		p = sc[te.idx[e]];

					se += (p - te.val[e]) * (p - te.val[e]);
					ae += fabs(p - te.val[e]);
					base += (mean - te.val[e]) * (mean - te.val[e]);
				}
			}
			put_num(&metrics, "rmse", sqrt(se / ntest), &first);
			put_num(&metrics, "mae", ae / ntest, &first);
			put_num(&metrics, "rmse_of_mean", sqrt(base / ntest), &first);
		}

		/* ranking: each user's top k among the items they did not train on */
		rec_build_csr(t, nt, nusers, true, true, &tu);
		if (m.params.algorithm == REC_ALS)
		{
			for (j = 0; j < nt; j++)
				t[j].v += t[j].test ? 0 : mean;
		}
		rec_build_csr(t, nt, nusers, true, false, &tr);
		for (u = 0; u < nusers; u++)
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
				if (HAS_FACTORS(m.params.algorithm))
					cblas_dgemv(CblasRowMajor, CblasNoTrans, nitems, k, 1.0, Y, k, X + (size_t) u * k, 1, 0.0,
								scores, 1);
				else if (m.params.algorithm == REC_UKNN)
					uknn_scores(u, &tr, false, mean, Y, nb_idx, nb_sim, K, nitems, scores, NULL);
				else if (m.params.algorithm == REC_KNN)
					rec_knn_rank(tr.idx + tr.ptr[u], tr.ptr[u + 1] - tr.ptr[u], nb_idx, nb_sim, K, nitems, scores);
				else if (m.params.algorithm == REC_CONTENT)
				{
					double	   *wk = palloc(sizeof(double) * Max(nitems, 1));

					rec_knn_scores(tr.idx + tr.ptr[u], tr.val + tr.ptr[u], tr.ptr[u + 1] - tr.ptr[u], nb_idx, nb_sim,
								   K, nitems, false, scores, wk);
					pfree(wk);
				}
				else
					memcpy(scores, Y, sizeof(double) * nitems);
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
			put_num(&metrics, "precision_at_k", sum.precision / evaluated, &first);
			put_num(&metrics, "recall_at_k", sum.recall / evaluated, &first);
			put_num(&metrics, "ndcg_at_k", sum.ndcg / evaluated, &first);
			put_num(&metrics, "map_at_k", sum.ap / evaluated, &first);
			put_num(&metrics, "coverage", (double) covered / nitems, &first);
		}
		put_num(&metrics, "users_evaluated", evaluated, &first);
	}
	appendStringInfoChar(&metrics, '}');

	/* ---- store and deploy ---- */
	{
		StringInfoData hp;

		initStringInfo(&hp);
		if (m.params.algorithm == REC_ALS)
			appendStringInfo(&hp, "{\"rank\": %d, \"lambda\": %.17g, \"iterations\": %d, \"seed\": " INT64_FORMAT "}",
							 m.params.rank, m.params.lambda, m.params.iterations, m.params.seed);
		else if (IS_KNN(m.params.algorithm))
		{
			appendStringInfo(&hp, "{\"neighbors\": %d, \"shrinkage\": %.17g, \"min_support\": %d, "
							 "\"similarity\": \"%s\"", m.params.neighbors, m.params.shrinkage,
							 m.params.min_support, m.params.adjusted ? "adjusted_cosine" : "cosine");
			if (!isnan(m.params.min_similarity))
				appendStringInfo(&hp, ", \"min_similarity\": %.17g", m.params.min_similarity);
			appendStringInfoChar(&hp, '}');
		}
		else if (m.params.algorithm == REC_SVD)
			appendStringInfo(&hp, "{\"rank\": %d, \"power_iterations\": %d, \"seed\": " INT64_FORMAT "}",
							 k, m.params.power_iterations, m.params.seed);
		else if (m.params.algorithm == REC_IALS)
			appendStringInfo(&hp, "{\"rank\": %d, \"lambda\": %.17g, \"alpha\": %.17g, \"iterations\": %d, "
							 "\"seed\": " INT64_FORMAT "}", m.params.rank, m.params.lambda, m.params.alpha,
							 m.params.iterations, m.params.seed);
		else if (m.params.algorithm == REC_BPR)
			appendStringInfo(&hp, "{\"rank\": %d, \"lambda\": %.17g, \"learning_rate\": %.17g, \"iterations\": %d, "
							 "\"seed\": " INT64_FORMAT ", \"item_bias\": true}", m.params.rank, m.params.lambda, m.params.learning_rate,
							 m.params.iterations, m.params.seed);
		else if (m.params.algorithm == REC_CONTENT)
		{
			appendStringInfo(&hp, "{\"neighbors\": %d, \"text_config\": ", m.params.neighbors);
			escape_json(&hp, m.params.text_config);
			appendStringInfo(&hp, ", \"feature_weight\": %.17g, \"max_df\": %.17g, \"terms\": %d}",
							 m.params.feature_weight, m.params.max_df, nterms);
		}
		else
			appendStringInfo(&hp, "{\"half_life_days\": %.17g}", m.params.half_life_days);
		version = rec_insert_version(&m, hp.data, mean, nusers, nitems, ntrain,
									 ntest, metrics.data);
		if (HAS_FACTORS(m.params.algorithm))
			rec_store_side(m.id, version, 'u', uid, X, ucount, nusers, k);
		rec_store_side(m.id, version, 'i', iid, Y, icount, nitems, HAS_FACTORS(m.params.algorithm) ? k : 1);
		if (HAS_ITEM_NEIGHBORS(m.params.algorithm))
			rec_store_neighbors(m.id, version, 'i', iid, nb_idx, nb_sim, nitems, K);
		else if (m.params.algorithm == REC_UKNN)
			rec_store_neighbors(m.id, version, 'u', uid, nb_idx, nb_sim, nusers, K);
		result = rec_deploy_version(&m, version, t0, outer);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return result;
}

/* dwc.rec_train(model, options) returns jsonb */
Datum
dwc_rec_train(PG_FUNCTION_ARGS)
{
	AsOwner		save;
	Jsonb	   *volatile result = NULL;
	char	   *model;
	Jsonb	   *options;
	MemoryContext outer = CurrentMemoryContext;

	DWC_REQUIRE_ARG(0, "model");
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	options = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	SPI_connect();
	rec_as_owner(&save);
	PG_TRY();
	{
		result = train(model, options, outer, save.caller);
	}
	PG_FINALLY();
	{
		rec_as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}
