/*-------------------------------------------------------------------------
 *
 * rec_score.c
 *		A user's score of every item, as each algorithm but the hybrid gives
 *		it: kNN and content neighbours of what they interacted with, their
 *		user-kNN neighbours, their factors, or popularity; used by
 *		recommend() (rec_query.c) and by the hybrid's parts (rec_hybrid.c).
 *
 * src/recommend/rec_score.c
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

#include "core/errors.h"
#include "ml/ml_blas.h"
#include "ml/ml_pg.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"
#include "security/identity.h"

/*
 * A user's item-kNN scores of every item, from their interactions as they
 * are now: the ranking scores (Σ similarity, NaN where none of their items
 * reaches), or with predict the predicted ratings (baseline plus the
 * neighbours' deviations, for every item).  False when the model knows none
 * of their items.
 */
bool
rec_score_knn(const RecModel *m, ItemCache *c, const char *user, bool predict, double *scores)
{
	int		   *idx;
	double	   *val;
	double		mu;
	int			n = rec_user_values(m, c, user, false, &idx, &val, &mu);

	if (n == 0)
		return false;
	if (predict)
		rec_knn_predict(idx, val, n, c->nb_idx, c->nb_sim, c->K, c->nitems, c->mean, c->Y, scores,
						palloc(sizeof(double) * Max(c->nitems, 1)));
	else
		rec_knn_rank(idx, n, c->nb_idx, c->nb_sim, c->K, c->nitems, scores);
	return true;
}

/*
 * A user's content-based scores of every item: Σ sim · value over their
 * items (a profile of what they liked), NaN where none reaches; false when
 * none does.
 */
bool
rec_score_content(const RecModel *m, ItemCache *c, const char *user, double *scores)
{
	int		   *idx;
	double	   *val;
	double		mu;
	int			n = rec_user_values(m, c, user, false, &idx, &val, &mu),
				j;

	if (n == 0)
		return false;
	rec_knn_scores(idx, val, n, c->nb_idx, c->nb_sim, c->K, c->nitems, false, scores,
				   palloc(sizeof(double) * Max(c->nitems, 1)));
	for (j = 0; j < c->nitems; j++)
		if (!isnan(scores[j]))
			return true;
	return false;
}

static const char USER_NEIGHBORS_SQL[] =
"SELECT neighbors, similarities FROM dwc.rec_neighbors WHERE model_id = $1 AND version = $2 AND side = 'u' "
"AND id = $3";

static const char NEIGHBOR_VALUES_SQL[] =
"SELECT DISTINCT ON (user_id, item_id) user_id, item_id, value FROM dwc.rec_interactions WHERE " OWNER_IS
" AND user_id = ANY ($3) ORDER BY user_id, item_id, at DESC, id DESC";

/*
 * A user's user-kNN scores of every item, from the version's neighbour list
 * of the user and the neighbours' interactions as they are now: ranking
 * scores (Σ similarity of the neighbours who have the item, NaN where none
 * has) or, with predict, predicted ratings.  False when the version has no
 * list for them.
 */
bool
rec_score_uknn(const RecModel *m, ItemCache *c, const char *user, bool predict, double *scores)
{
	Oid			types[3] = {INT8OID, INT4OID, TEXTOID};
	Datum		args[3] = {Int64GetDatum(m->id), Int32GetDatum(m->deployed), CStringGetTextDatum(user)};
	char		nulls[3];
	Datum	   *nbs;
	bool	   *nbnull;
	int			nnb,
				t;
	ArrayType  *sims;
	ArrayType  *names;
	double	   *sim;
	RecCsr		R;
	RecIntern	pos;
	uint64		j;
	int		   *fill;
	int		   *order;
	bool		isnull;

	if (rec_run_prepared(USER_NEIGHBORS_SQL, 3, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the user's neighbours");
	if (SPI_processed == 0)
		return false;
	names = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	sims = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &nbs, &nbnull, &nnb);
	if (nnb == 0 || nnb != ArrayGetNItems(ARR_NDIM(sims), ARR_DIMS(sims)) || ARR_HASNULL(sims))
		return false;
	sim = (double *) ARR_DATA_PTR(sims);
	rec_intern_init(&pos, nnb, CurrentMemoryContext);
	for (t = 0; t < nnb; t++)
		(void) rec_intern_text(&pos, nbs[t], true);
	/* the neighbours' latest values of the version's items, as rows of R in the neighbours' order */
	rec_owner_args3(m, TEXTARRAYOID, PointerGetDatum(names), types, args, nulls);
	if (rec_run_prepared(NEIGHBOR_VALUES_SQL, 3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the neighbours' interactions");
	R.nrows = nnb;
	R.ptr = palloc0(sizeof(int) * (nnb + 1));
	R.idx = palloc(sizeof(int) * Max(SPI_processed, 1));
	R.val = palloc(sizeof(double) * Max(SPI_processed, 1));
	for (j = 0; j < SPI_processed; j++)
	{
		HeapTuple	tup = SPI_tuptable->vals[j];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int			v = rec_intern_text(&pos, SPI_getbinval(tup, desc, 1, &isnull), false);
		int			i = rec_intern_text(&c->index, SPI_getbinval(tup, desc, 2, &isnull), false);

		if (v >= 0 && i >= 0)
			R.ptr[v + 1]++;
	}
	for (t = 0; t < nnb; t++)
		R.ptr[t + 1] += R.ptr[t];
	fill = palloc(sizeof(int) * nnb);
	memcpy(fill, R.ptr, sizeof(int) * nnb);
	for (j = 0; j < SPI_processed; j++)
	{
		HeapTuple	tup = SPI_tuptable->vals[j];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int			v = rec_intern_text(&pos, SPI_getbinval(tup, desc, 1, &isnull), false);
		int			i = rec_intern_text(&c->index, SPI_getbinval(tup, desc, 2, &isnull), false);

		if (v < 0 || i < 0)
			continue;
		R.idx[fill[v]] = i;
		R.val[fill[v]] = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		fill[v]++;
	}
	order = palloc(sizeof(int) * nnb);
	for (t = 0; t < nnb; t++)
		order[t] = t;
	if (!predict)
		rec_user_knn_rank(order, sim, nnb, &R, c->nitems, scores);
	else
	{
		int		   *own_idx;
		double	   *own_val;
		double		own_mean;
		int			n = rec_user_values(m, c, user, false, &own_idx, &own_val, &own_mean);

		rec_user_knn_predict(order, sim, nnb, &R, c->nitems, c->mean, c->Y,
							 rec_user_bias(own_idx, own_val, n, c->mean, c->Y), scores,
							 palloc(sizeof(double) * Max(c->nitems, 1)));
	}
	return true;
}

void
rec_score_user(const RecModel *m, ItemCache *c, const char *user, double *scores)
{
	double	   *x = NULL;
	int			j;

	if (HAS_FACTORS(m->params.algorithm))
		x = rec_user_factors(m, user, c->k);
	if (m->params.algorithm == REC_KNN && rec_score_knn(m, c, user, false, scores))
		;						/* the user's items reached some others */
	else if (m->params.algorithm == REC_CONTENT && rec_score_content(m, c, user, scores))
		;
	else if (m->params.algorithm == REC_UKNN && rec_score_uknn(m, c, user, false, scores))
		;						/* the user has neighbours */
	else if (x != NULL)
	{
		cblas_dgemv(CblasRowMajor, CblasNoTrans, c->nitems, c->k, 1.0, c->Y, c->k, x, 1, 0.0, scores, 1);
		for (j = 0; j < c->nitems; j++)
			scores[j] += c->mean;
	}
	else if (m->params.algorithm != REC_POPULARITY)
	{
		/* a user the model does not know: the items most interacted with */
		for (j = 0; j < c->nitems; j++)
			scores[j] = c->n[j];
	}
	else
		memcpy(scores, c->Y, sizeof(double) * c->nitems);
}

/*
 * The model's predicted value of every item for the user, as rec_explain()
 * reports it: a rating for ALS and the kNN models (baseline plus the
 * neighbours' deviations), the score for the other factor models, the
 * content score; NaN where there is none.  False when the model does not
 * know the user (every value NaN).  Not for hybrids or popularity.
 */
bool
rec_predict_user(const RecModel *m, ItemCache *c, const char *user, double *out)
{
	bool		known;
	int			j;

	if (m->params.algorithm == REC_KNN)
		known = rec_score_knn(m, c, user, true, out);
	else if (m->params.algorithm == REC_UKNN)
		known = rec_score_uknn(m, c, user, true, out);
	else if (m->params.algorithm == REC_CONTENT)
		known = rec_score_content(m, c, user, out);
	else
	{
		double	   *x = HAS_FACTORS(m->params.algorithm) ? rec_user_factors(m, user, c->k) : NULL;

		known = x != NULL;
		if (known)
		{
			cblas_dgemv(CblasRowMajor, CblasNoTrans, c->nitems, c->k, 1.0, c->Y, c->k, x, 1, 0.0, out, 1);
			for (j = 0; j < c->nitems; j++)
				out[j] += c->mean;
		}
	}
	if (!known)
		for (j = 0; j < c->nitems; j++)
			out[j] = NAN;
	return known;
}
