/*-------------------------------------------------------------------------
 *
 * rec_query.c
 *		Answers from a deployed version: dwc.recommend(), dwc.similar_items(),
 *		dwc.rec_explain().
 *
 * src/recommend/rec_query.c
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
#include "utils/arrayaccess.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "core/dbworker.h"
#include "core/errors.h"
#include "ml/ml_blas.h"
#include "ml/ml_pg.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc_recommend);
PG_FUNCTION_INFO_V1(dwc_similar_items);
PG_FUNCTION_INFO_V1(dwc_rec_explain);
PG_FUNCTION_INFO_V1(dwc_rec_predict);

/* a user's items, repeated when they interacted more than once (marking twice is harmless) */
static const char THEIRS_SQL[] =
"SELECT item_id FROM dwc.rec_interactions WHERE " OWNER_IS " AND user_id = $3";

static const char FILTER_SQL[] =
"SELECT item_id FROM dwc.rec_items WHERE " OWNER_IS " AND features @> $3";

/* mark in flags (nitems) the items selected by query (params: owner, owner_user, $3) */
static void
mark_items(const RecModel *m, ItemCache *c, const char *query, Oid type3, Datum arg3, unsigned char *flags)
{
	Oid			types[3];
	Datum		args[3];
	char		nulls[3];
	uint64		j;

	rec_owner_args3(m, type3, arg3, types, args, nulls);
	if (rec_run_prepared(query, 3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not select items");
	for (j = 0; j < SPI_processed; j++)
	{
		bool		isnull;
		int			pos = rec_intern_text(&c->index, SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1,
																	&isnull), false);

		if (pos >= 0)
			flags[pos] = 1;
	}
}

static void
check_n(int n)
{
	if (n < 1 || n > MAX_N)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be from 1 to %d, not %d", MAX_N, n)));
}

/* return rows (id, score) for the positions in top */
static void
emit(FunctionCallInfo fcinfo, ItemCache *c, const int *top, int ntop, const double *scores)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			j;

	for (j = 0; j < ntop; j++)
	{
		Datum		v[2];
		bool		nulls[2] = {false, false};

		v[0] = CStringGetTextDatum(c->ids[top[j]]);
		v[1] = Float8GetDatum(scores[top[j]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
}

typedef struct RecRequest
{
	Oid			caller;
	char	   *user;
	char	   *model;
	int			n;
	bool		exclude;
	Jsonb	   *filter;
} RecRequest;

static void
recommend(FunctionCallInfo fcinfo, const RecRequest *r)
{
	RecModel	m;
	ItemCache  *c;
	double	   *scores;
	unsigned char *excluded;
	int		   *top;
	int			ntop,
				j;

	rec_resolve_model(r->model, r->caller, &m);
	rec_require_deployed(&m, r->model);
	if (m.params.algorithm == REC_HYBRID)
		c = rec_hybrid_scores(&m, r->user, &scores, NULL, NULL);
	else
	{
		c = rec_load_items(&m);
		scores = palloc(sizeof(double) * Max(c->nitems, 1));
		rec_score_user(&m, c, r->user, scores);
	}
	excluded = palloc0(Max(c->nitems, 1));
	if (r->exclude)
		mark_items(&m, c, THEIRS_SQL, TEXTOID, CStringGetTextDatum(r->user), excluded);
	if (r->filter)
	{
		unsigned char *allowed = palloc0(Max(c->nitems, 1));

		mark_items(&m, c, FILTER_SQL, JSONBOID, JsonbPGetDatum(r->filter), allowed);
		for (j = 0; j < c->nitems; j++)
			excluded[j] |= !allowed[j];
	}
	top = palloc(sizeof(int) * r->n);
	ntop = rec_top_n(scores, c->nitems, excluded, r->n, top);
	emit(fcinfo, c, top, ntop, scores);
}

/* dwc.recommend(user_id, model, n, exclude_interacted, filter) returns table (item_id, score) */
Datum
dwc_recommend(PG_FUNCTION_ARGS)
{
	RecRequest	r;
	AsOwner		save;

	DWC_REQUIRE_ARG(0, "user_id");
	DWC_REQUIRE_ARG(1, "model");
	r.user = text_to_cstring(PG_GETARG_TEXT_PP(0));
	r.model = text_to_cstring(PG_GETARG_TEXT_PP(1));
	r.n = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	r.exclude = PG_ARGISNULL(3) ? true : PG_GETARG_BOOL(3);
	r.filter = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	check_n(r.n);
	if (r.filter && !JB_ROOT_IS_OBJECT(r.filter))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("filter must be a JSON object (items whose features contain it)")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	SPI_connect();
	rec_as_owner(&save);
	PG_TRY();
	{
		r.caller = save.caller;
		recommend(fcinfo, &r);
	}
	PG_FINALLY();
	{
		rec_as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_NULL();
}

/*
 * The item's position in the model's cache, or an error; compare: the model
 * must also tell how alike two items are (factors or item neighbours).
 */
static int
known_item(const RecModel *m, ItemCache *c, const char *item, const char *model, bool compare)
{
	int			pos;

	if (compare && !HAS_FACTORS(m->params.algorithm) && !HAS_ITEM_NEIGHBORS(m->params.algorithm))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recommendation model \"%s\" has no item factors or neighbours to compare", model),
				 errhint(m->params.algorithm == REC_HYBRID ? "Ask one of the hybrid's components."
						 : "Similar items need an als, implicit_als, svd, bpr, item_knn or content model.")));
	pos = rec_intern_cstring(&c->index, item, false);
	if (pos < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("item \"%s\" is not known to recommendation model \"%s\"", item, model)));
	return pos;
}

/* cosine of every item with item p: of the factors, or kNN's similarities (NaN past them) */
static void
cosines(ItemCache *c, int p, double *scores)
{
	int			j;

	if (c->nb_idx != NULL)
	{
		for (j = 0; j < c->nitems; j++)
			scores[j] = NAN;	/* not a neighbour: not ranked */
		for (j = 0; j < c->K && c->nb_idx[(size_t) p * c->K + j] >= 0; j++)
			scores[c->nb_idx[(size_t) p * c->K + j]] = c->nb_sim[(size_t) p * c->K + j];
		return;
	}

	/* alike in taste, not in popularity: a BPR item's bias is left out */
	cblas_dgemv(CblasRowMajor, CblasNoTrans, c->nitems, c->item_bias ? c->k - 1 : c->k, 1.0, c->Y, c->k,
				c->Y + (size_t) p * c->k, 1, 0.0, scores, 1);
	for (j = 0; j < c->nitems; j++)
		scores[j] = c->norm[j] > 0 && c->norm[p] > 0 ? scores[j] / (c->norm[j] * c->norm[p]) : 0;
}

/* dwc.similar_items(item_id, model, n) returns table (item_id, score) */
Datum
dwc_similar_items(PG_FUNCTION_ARGS)
{
	char	   *item;
	char	   *model;
	int			n;
	AsOwner		save;

	DWC_REQUIRE_ARG(0, "item_id");
	DWC_REQUIRE_ARG(1, "model");
	item = text_to_cstring(PG_GETARG_TEXT_PP(0));
	model = text_to_cstring(PG_GETARG_TEXT_PP(1));
	n = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	check_n(n);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	SPI_connect();
	rec_as_owner(&save);
	PG_TRY();
	{
		RecModel	m;
		ItemCache  *c;
		int			p;
		double	   *scores;
		unsigned char *self;
		int		   *top;

		rec_resolve_model(model, save.caller, &m);
		rec_require_deployed(&m, model);
		c = rec_load_items(&m);
		p = known_item(&m, c, item, model, true);
		scores = palloc(sizeof(double) * c->nitems);
		cosines(c, p, scores);
		self = palloc0(c->nitems);
		self[p] = 1;
		top = palloc(sizeof(int) * n);
		emit(fcinfo, c, top, rec_top_n(scores, c->nitems, self, n, top), scores);
	}
	PG_FINALLY();
	{
		rec_as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_NULL();
}

/* a hybrid's explanation: which strategy, and each component's part in the item's score */
static Jsonb *
explain_hybrid(const RecModel *m, const char *user, const char *item)
{
	StringInfoData parts,
				b;
	double	   *scores;
	ItemCache  *u;
	int			p;

	initStringInfo(&parts);
	u = rec_hybrid_scores(m, user, &scores, item, &parts);
	p = rec_intern_cstring(&u->index, item, false);
	initStringInfo(&b);
	appendStringInfoString(&b, "{\"user_id\": ");
	escape_json(&b, user);
	appendStringInfoString(&b, ", \"item_id\": ");
	escape_json(&b, item);
	if (p >= 0)
		appendStringInfo(&b, ", \"predicted\": %.6g", scores[p]);
	else
		appendStringInfoString(&b, ", \"predicted\": null");
	appendStringInfo(&b, "%s}", parts.data);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data)));
}

/* dwc.rec_explain(user_id, item_id, model) returns jsonb */
Datum
dwc_rec_explain(PG_FUNCTION_ARGS)
{
	char	   *user;
	char	   *item;
	char	   *model;
	AsOwner		save;
	Jsonb	   *volatile result = NULL;
	MemoryContext outer = CurrentMemoryContext;

	DWC_REQUIRE_ARG(0, "user_id");
	DWC_REQUIRE_ARG(1, "item_id");
	DWC_REQUIRE_ARG(2, "model");
	user = text_to_cstring(PG_GETARG_TEXT_PP(0));
	item = text_to_cstring(PG_GETARG_TEXT_PP(1));
	model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	SPI_connect();
	rec_as_owner(&save);
	PG_TRY();
	{
		RecModel	m;
		ItemCache  *c;
		int			p,
					j,
					ntop;
		double	   *scores;
		unsigned char *not_theirs;
		int			top[5];
		StringInfoData b;

		rec_resolve_model(model, save.caller, &m);
		rec_require_deployed(&m, model);
		if (m.params.algorithm == REC_HYBRID)
		{
			Jsonb	   *e = explain_hybrid(&m, user, item);

			MemoryContextSwitchTo(outer);
			result = DatumGetJsonbPCopy(JsonbPGetDatum(e));
			goto done;
		}
		c = rec_load_items(&m);
		/* user-kNN explains by other users, whom a user may not see: no because_of */
		p = known_item(&m, c, item, model, m.params.algorithm != REC_UKNN);
		scores = palloc(sizeof(double) * c->nitems);
		if (m.params.algorithm == REC_UKNN)
			for (j = 0; j < c->nitems; j++)
				scores[j] = NAN;
		else
			cosines(c, p, scores);
		not_theirs = palloc(c->nitems);
		memset(not_theirs, 1, c->nitems);
		{
			unsigned char *theirs = palloc0(c->nitems);

			mark_items(&m, c, THEIRS_SQL, TEXTOID, CStringGetTextDatum(user), theirs);
			for (j = 0; j < c->nitems; j++)
				not_theirs[j] = !theirs[j] || j == p;
		}
		ntop = rec_top_n(scores, c->nitems, not_theirs, 5, top);
		initStringInfo(&b);
		appendStringInfoString(&b, "{\"user_id\": ");
		escape_json(&b, user);
		appendStringInfoString(&b, ", \"item_id\": ");
		escape_json(&b, item);
		{
			double	   *pred = palloc(sizeof(double) * c->nitems);
			bool		known = rec_predict_user(&m, c, user, pred);

			if (!isnan(pred[p]))
				appendStringInfo(&b, ", \"predicted\": %.6g, \"known_user\": true", pred[p]);
			else
				appendStringInfo(&b, ", \"predicted\": null, \"known_user\": %s", known ? "true" : "false");
		}
		appendStringInfoString(&b, ", \"because_of\": [");
		for (j = 0; j < ntop; j++)
		{
			appendStringInfo(&b, "%s{\"item_id\": ", j ? ", " : "");
			escape_json(&b, c->ids[top[j]]);
			appendStringInfo(&b, ", \"similarity\": %.6g}", scores[top[j]]);
		}
		appendStringInfoString(&b, "]}");
		MemoryContextSwitchTo(outer);
		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(b.data)));
done:	;
	}
	PG_FINALLY();
	{
		rec_as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

/* pair positions ordered by their user (arg: the users), so that each user is scored once */
static int
by_user(const void *a, const void *b, void *arg)
{
	const char **users = (const char **) arg;

	return strcmp(users[*(const int *) a], users[*(const int *) b]);
}

/*
 * dwc.rec_predict(model, user_ids, item_ids) returns table (user_id, item_id,
 * predicted): the predicted value of each (user, item) pair, in the order given.
 */
/*
 * The pairs scored by a factor model: each a row product, the users' factors
 * read at once.  The arrays are walked in place and each row is put out as it
 * is computed: on 36,000 pairs, copying them into Datum arrays and the
 * results into a third cost a quarter of the call (mostly page faults of the
 * large allocations).
 */
static void
predict_factor_pairs(const RecModel *m, ItemCache *c, AnyArrayType *users, AnyArrayType *items, int n,
					 ReturnSetInfo *rsinfo)
{
	RecIntern	distinct;
	int		   *upos = palloc(sizeof(int) * Max(n, 1));
	int		   *ipos = palloc(sizeof(int) * Max(n, 1));
	double	  **x;
	array_iter	ui,
				ii;
	int			k;

	/*
	 * Every id looked up first, apart from the writing of the rows: the
	 * lookups find their tables in the cache.
	 */
	rec_intern_init(&distinct, Min(n, Max(c->nusers, 16)), CurrentMemoryContext);
	array_iter_setup(&ui, users);
	array_iter_setup(&ii, items);
	for (k = 0; k < n; k++)
	{
		bool		unull,
					inull;
		Datum		u = array_iter_next(&ui, &unull, k, -1, false, TYPALIGN_INT);
		Datum		i = array_iter_next(&ii, &inull, k, -1, false, TYPALIGN_INT);

		upos[k] = unull ? -1 : rec_intern_text(&distinct, u, true);
		ipos[k] = inull ? -1 : rec_intern_text(&c->index, i, false);
	}
	x = palloc(sizeof(double *) * Max(distinct.count, 1));
	rec_users_factors(m, c, &distinct, x);
	array_iter_setup(&ui, users);
	array_iter_setup(&ii, items);
	for (k = 0; k < n; k++)
	{
		Datum		v[3];
		bool		nulls[3];
		const double *xu = upos[k] >= 0 ? x[upos[k]] : NULL;

		if ((k & 4095) == 0)
			DWC_CHECK_FOR_INTERRUPTS();
		v[0] = array_iter_next(&ui, &nulls[0], k, -1, false, TYPALIGN_INT);
		v[1] = array_iter_next(&ii, &nulls[1], k, -1, false, TYPALIGN_INT);
		nulls[2] = xu == NULL || ipos[k] < 0;
		if (nulls[2])
			v[2] = (Datum) 0;
		else
		{
			/* a rank-k product: a BLAS call costs more than it saves at this size */
			const double *y = c->Y + (size_t) ipos[k] * c->k;
			double		dot = 0;

			for (int f = 0; f < c->k; f++)
				dot += xu[f] * y[f];
			v[2] = Float8GetDatum(c->mean + dot);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
}

/*
 * The pairs scored by a neighbourhood model: each user's pairs together, one
 * scoring of every item per user.
 */
static void
predict_neighbour_pairs(const RecModel *m, ItemCache *c, Datum uarr, Datum iarr, ReturnSetInfo *rsinfo)
{
	Datum	   *users,
			   *items;
	bool	   *unull,
			   *inull;
	int			n,
				k;
	const char **uid;
	int		   *order;
	double	   *pred = palloc(sizeof(double) * Max(c->nitems, 1));
	double	   *result;

	/* flat copies of expanded arrays (a PL/pgSQL variable's) */
	deconstruct_array(DatumGetArrayTypeP(uarr), TEXTOID, -1, false, TYPALIGN_INT, &users, &unull, &n);
	deconstruct_array(DatumGetArrayTypeP(iarr), TEXTOID, -1, false, TYPALIGN_INT, &items, &inull, &n);
	uid = palloc(sizeof(char *) * Max(n, 1));
	order = palloc(sizeof(int) * Max(n, 1));
	result = palloc(sizeof(double) * Max(n, 1));
	for (k = 0; k < n; k++)
	{
		/* a NULL user sorts first and is predicted nothing */
		uid[k] = unull[k] ? "" : TextDatumGetCString(users[k]);
		order[k] = k;
	}
	qsort_arg(order, n, sizeof(int), by_user, (void *) uid);
	for (k = 0; k < n; k++)
	{
		int			q = order[k];
		int			pos;

		DWC_CHECK_FOR_INTERRUPTS();
		if (k == 0 || strcmp(uid[q], uid[order[k - 1]]) != 0)
			(void) rec_predict_user(m, c, uid[q], pred);
		pos = inull[q] ? -1 : rec_intern_text(&c->index, items[q], false);
		result[q] = unull[q] || pos < 0 ? NAN : pred[pos];
	}
	for (k = 0; k < n; k++)
	{
		Datum		v[3];
		bool		nulls[3] = {unull[k], inull[k], isnan(result[k])};

		v[0] = unull[k] ? (Datum) 0 : users[k];
		v[1] = inull[k] ? (Datum) 0 : items[k];
		v[2] = Float8GetDatum(result[k]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
}

/*
 * dwc.rec_predict(model, user_ids, item_ids) returns table (user_id, item_id,
 * predicted): the predicted value of each (user, item) pair, in the order given.
 */
Datum
dwc_rec_predict(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model;
	AnyArrayType *users,
			   *items;
	int			n,
				ni;
	AsOwner		save;

	DWC_REQUIRE_ARG(0, "model");
	DWC_REQUIRE_ARG(1, "user_ids");
	DWC_REQUIRE_ARG(2, "item_ids");
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	users = PG_GETARG_ANY_ARRAY_P(1);
	items = PG_GETARG_ANY_ARRAY_P(2);
	n = ArrayGetNItems(AARR_NDIM(users), AARR_DIMS(users));
	ni = ArrayGetNItems(AARR_NDIM(items), AARR_DIMS(items));
	if (n != ni)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("user_ids and item_ids must be as long as each other, not %d and %d", n, ni),
				 errhint("Element k of each is one (user, item) pair.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	SPI_connect();
	rec_as_owner(&save);
	PG_TRY();
	{
		RecModel	m;
		ItemCache  *c;

		rec_resolve_model(model, save.caller, &m);
		rec_require_deployed(&m, model);
		if (m.params.algorithm == REC_HYBRID || m.params.algorithm == REC_POPULARITY)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("recommendation model \"%s\" predicts no value for a pair", model),
					 errhint("A %s model only ranks: use dwc.recommend().",
							 m.params.algorithm == REC_HYBRID ? "hybrid" : "popularity")));
		c = rec_load_items(&m);
		if (HAS_FACTORS(m.params.algorithm))
			predict_factor_pairs(&m, c, users, items, n, rsinfo);
		else
			predict_neighbour_pairs(&m, c, PG_GETARG_DATUM(1), PG_GETARG_DATUM(2), rsinfo);
	}
	PG_FINALLY();
	{
		rec_as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_NULL();
}
