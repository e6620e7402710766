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
 * A user's kNN scores of every item (NaN where none of their items reaches
 * it), from their interactions as they are now; false when the model knows
 * none of their items.
 */
bool
rec_score_knn(const RecModel *m, ItemCache *c, const char *user, double *scores)
{
	int		   *idx;
	double	   *val;
	double		mu;
	int			n = rec_user_values(m, c, user, false, &idx, &val, &mu);

	if (n == 0)
		return false;
	rec_knn_user_scores(idx, val, n, m->params.adjusted, c->nb_idx, c->nb_sim, c->K, c->nitems, scores,
						palloc(sizeof(double) * Max(c->nitems, 1)), palloc(sizeof(double) * n), &mu);
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
 * A user's user-kNN scores of every item (NaN where no neighbour has a value
 * for it), from the version's neighbour list of the user and the neighbours'
 * interactions as they are now; false when the version has no list for them.
 */
static bool
user_uknn_scores(const RecModel *m, ItemCache *c, const char *user, double *scores)
{
	Oid			types[3] = {INT8OID, INT4OID, TEXTOID};
	Datum		args[3] = {Int64GetDatum(m->id), Int32GetDatum(m->deployed), CStringGetTextDatum(user)};
	char		nulls[3];
	Datum	   *nbs;
	bool	   *nbnull;
	int			nnb,
				t,
				dummy = 0;
	ArrayType  *sims;
	ArrayType  *names;
	double	   *sim;
	RecCsr		R;
	HTAB	   *pos;
	int			count = 0;
	uint64		j;
	int		   *fill;
	double	   *sum;
	int		   *cnt;
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
	pos = rec_new_index("dwc rec neighbours", nnb, CurrentMemoryContext);
	for (t = 0; t < nnb; t++)
	{
		char	   *id = TextDatumGetCString(nbs[t]);

		if (strlen(id) < sizeof(((IndexEntry *) NULL)->key))
			(void) rec_index_of(pos, id, true, &count);
	}
	/* the neighbours' latest values, as rows of R in the neighbours' order */
	rec_owner_args3(m, TEXTARRAYOID, PointerGetDatum(names), types, args, nulls);
	if (rec_run_prepared(NEIGHBOR_VALUES_SQL, 3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the neighbours' interactions");
	R.nrows = nnb;
	R.ptr = palloc0(sizeof(int) * (nnb + 1));
	R.idx = palloc(sizeof(int) * Max(SPI_processed, 1));
	R.val = palloc(sizeof(double) * Max(SPI_processed, 1));
	sum = palloc0(sizeof(double) * nnb);
	cnt = palloc0(sizeof(int) * nnb);
	for (j = 0; j < SPI_processed; j++)
	{
		int			v = rec_index_of(pos, SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1), false, &dummy);

		if (v >= 0)
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
		int			v = rec_index_of(pos, SPI_getvalue(tup, desc, 1), false, &dummy);
		char	   *item = SPI_getvalue(tup, desc, 2);
		int			i = strlen(item) < sizeof(((IndexEntry *) NULL)->key) ? rec_index_of(c->index, item, false, &dummy) : -1;
		double		value = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));

		if (v < 0)
			continue;
		sum[v] += value;
		cnt[v]++;
		R.idx[fill[v]] = i;
		R.val[fill[v]] = value;
		fill[v]++;
	}
	/* drop the items this version does not know, centring the values for the adjusted cosine */
	{
		int			w = 0,
					e,
					start = 0;

		for (t = 0; t < nnb; t++)
		{
			int			end = R.ptr[t + 1];

			R.ptr[t] = w;
			for (e = start; e < end; e++)
			{
				if (R.idx[e] < 0)
					continue;
				R.idx[w] = R.idx[e];
				R.val[w] = m->params.adjusted ? R.val[e] - sum[t] / cnt[t] : R.val[e];
				w++;
			}
			start = end;
		}
		R.ptr[nnb] = w;
	}
	{
		int		   *order = palloc(sizeof(int) * nnb);

		for (t = 0; t < nnb; t++)
			order[t] = t;
		rec_user_knn_scores(order, sim, nnb, &R, c->nitems, scores, palloc(sizeof(double) * Max(c->nitems, 1)));
	}
	if (m->params.adjusted)
	{
		/* plus the user's own mean */
		int		   *own_idx;
		double	   *own_val;
		double		mu;
		int			e;

		(void) rec_user_values(m, c, user, false, &own_idx, &own_val, &mu);
		for (e = 0; e < c->nitems; e++)
			scores[e] += mu;
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
	if (m->params.algorithm == REC_KNN && rec_score_knn(m, c, user, scores))
		;						/* the user's items reached some others */
	else if (m->params.algorithm == REC_CONTENT && rec_score_content(m, c, user, scores))
		;
	else if (m->params.algorithm == REC_UKNN && user_uknn_scores(m, c, user, scores))
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
