/*-------------------------------------------------------------------------
 *
 * rec_hybrid.c
 *		Hybrid models: other models' scores combined (weighted), and a
 *		cold-start model for users with few interactions (switching).
 *
 * Components score on different scales (predicted ratings, preferences,
 * summed similarities, counts), and some score only part of the items
 * (ALS has not seen a new item, content similarity does not reach every
 * one), so they are combined by their rankings, not their scores:
 * reciprocal rank fusion (Cormack, Clarke and Büttcher 2009), an item's
 * score Σ weight / (RRF_K + its rank in the component), over the components
 * that score it.  Scale-free, and an item several components rank well
 * comes before one only one of them knows.  A user with fewer than min_interactions
 * items gets the cold-start model's own scores instead.  Components are
 * used as they are deployed at the call, so retraining one takes effect at
 * once; training a hybrid checks them and records which versions it was
 * made with.
 *
 * src/recommend/rec_hybrid.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "core/dbworker.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"

/* the constant of reciprocal rank fusion: how much the first places count over the later */
#define RRF_K 60

static const char COUNT_SQL[] =
"SELECT count(DISTINCT item_id) FROM dwc.rec_interactions WHERE " OWNER_IS " AND user_id = $3";

static const char VERSION_METRICS_SQL[] =
"SELECT metrics FROM dwc.rec_versions WHERE model_id = $1 AND version = $2";

static const char COMPONENT_SQL[] =
"SELECT id, algorithm, hyperparameters, deployed_version FROM dwc.rec_models WHERE " OWNER_IS " AND name = $3";

/*
 * A component of hybrid h: a model of h's owner by that name (the caller
 * may use h, so they may use its owner's models), deployed, not a hybrid.
 */
static void
component(const RecModel *h, const char *name, RecModel *cm)
{
	Oid			types[3];
	Datum		args[3];
	char		nulls[3];
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	rec_owner_args3(h, TEXTOID, CStringGetTextDatum(name), types, args, nulls);
	if (rec_run_prepared(COMPONENT_SQL, 3, types, args, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the hybrid's component");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("component \"%s\" of the hybrid model does not exist", name),
				 errhint("A hybrid combines models of its own owner, named by their names.")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	cm->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	rec_parse_params(SPI_getvalue(tup, desc, 2), DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 3, &isnull)),
					 &cm->params);
	d = SPI_getbinval(tup, desc, 4, &isnull);
	cm->deployed = isnull ? 0 : DatumGetInt32(d);
	cm->owner = h->owner;
	cm->owner_user = h->owner_user;
	if (cm->params.algorithm == REC_HYBRID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("component \"%s\" of a hybrid model is itself a hybrid", name)));
	if (cm->deployed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("component \"%s\" of the hybrid model has no trained version", name),
				 errhint("Train it with dwc.rec_train().")));
}

/* "name": {"id", "version", "weight"} of a component, and its metrics into metrics */
static void
describe(const RecModel *h, const char *name, double weight, StringInfo hp, StringInfo metrics,
		 bool first)
{
	RecModel	cm;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2];

	component(h, name, &cm);
	appendStringInfoString(hp, first ? "{\"model\": " : ", {\"model\": ");
	escape_json(hp, name);
	appendStringInfo(hp, ", \"id\": " INT64_FORMAT ", \"version\": %d", cm.id, cm.deployed);
	if (weight > 0)
		appendStringInfo(hp, ", \"weight\": %.17g", weight);
	appendStringInfoChar(hp, '}');
	args[0] = Int64GetDatum(cm.id);
	args[1] = Int32GetDatum(cm.deployed);
	if (SPI_execute_with_args(VERSION_METRICS_SQL, 2, types, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the component's version");
	if (metrics->len > 1)
		appendStringInfoString(metrics, ", ");
	escape_json(metrics, name);
	appendStringInfo(metrics, ": %s", SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

void
rec_hybrid_parts(const RecModel *h, RecModel *parts, int *nparts, int *cold)
{
	int			i;

	*cold = -1;
	for (i = 0; i < h->params.ncomponents; i++)
	{
		component(h, h->params.components[i], &parts[i]);
		if (h->params.cold_start && strcmp(h->params.cold_start, h->params.components[i]) == 0)
			*cold = i;
	}
	*nparts = h->params.ncomponents;
	if (h->params.cold_start && *cold < 0)
	{
		component(h, h->params.cold_start, &parts[*nparts]);
		*cold = *nparts;
	}
}

/* the hybrid as the ranking's scorer: its components' fits, fused as rec_hybrid_scores() fuses them */
typedef struct HybridScorer
{
	const RecModel *h;
	const RecModel *parts;
	const RecFit *fits;
	int			cold;			/* the cold-start model's place in parts, or -1 */
	int			nitems;
	double	   *s;				/* one component's scores */
	int		   *ranked;
} HybridScorer;

static void
hybrid_scorer(void *arg, int u, const RecCsr *tr, double *scores)
{
	HybridScorer *hs = arg;
	int			i,
				t,
				n;

	/* fewer training interactions than the hybrid's bar: the cold-start model alone */
	if (hs->cold >= 0 && tr->ptr[u + 1] - tr->ptr[u] < hs->h->params.min_interactions)
	{
		rec_fit_scores(&hs->parts[hs->cold], &hs->fits[hs->cold], u, tr, hs->nitems, scores);
		return;
	}
	for (i = 0; i < hs->nitems; i++)
		scores[i] = NAN;
	for (i = 0; i < hs->h->params.ncomponents; i++)
	{
		rec_fit_scores(&hs->parts[i], &hs->fits[i], u, tr, hs->nitems, hs->s);
		n = rec_rank(hs->s, hs->nitems, hs->ranked);
		for (t = 0; t < n; t++)
		{
			int			pos = hs->ranked[t];
			double		part = hs->h->params.weights[i] / (RRF_K + t + 1);

			scores[pos] = isnan(scores[pos]) ? part : scores[pos] + part;
		}
	}
}

Jsonb *
rec_train_hybrid(const RecModel *h, const RecSet *s, int topk, double relevant_min, instr_time t0,
				 MemoryContext outer)
{
	StringInfoData hp,
				metrics,
				all;
	int			i;
	bool		listed = false;
	bool		first = true;

	initStringInfo(&hp);
	initStringInfo(&metrics);
	appendStringInfoString(&hp, "{\"models\": [");
	appendStringInfoChar(&metrics, '{');
	for (i = 0; i < h->params.ncomponents; i++)
	{
		describe(h, h->params.components[i], h->params.weights[i], &hp, &metrics, i == 0);
		listed |= h->params.cold_start && strcmp(h->params.cold_start, h->params.components[i]) == 0;
	}
	appendStringInfoString(&hp, "], \"cold_start\": ");
	if (h->params.cold_start)
	{
		StringInfoData dup;

		/* its metrics once, when it is also a component */
		initStringInfo(&dup);
		describe(h, h->params.cold_start, 0, &hp, listed ? &dup : &metrics, true);
	}
	else
		appendStringInfoString(&hp, "null");
	appendStringInfo(&hp, ", \"min_interactions\": %d}", h->params.min_interactions);
	appendStringInfoChar(&metrics, '}');

	initStringInfo(&all);
	appendStringInfoChar(&all, '{');
	if (s != NULL && s->ntest > 0)
	{
		/*
		 * Its own held-out figures: every part fitted afresh on the training
		 * rows (the deployed versions may have seen the held-out ones), with
		 * the parts' own hyperparameters, and fused per user.
		 */
		RecModel	parts[MAX_COMPONENTS + 1];
		RecFit		fits[MAX_COMPONENTS + 1];
		HybridScorer hs;
		int			nparts;
		double		fit_ms = 0;

		rec_hybrid_parts(h, parts, &nparts, &hs.cold);
		for (i = 0; i < nparts + (hs.cold == nparts); i++)
		{
			rec_fit(&parts[i], s, &fits[i]);
			fit_ms += fits[i].fit_ms;
		}
		hs.h = h;
		hs.parts = parts;
		hs.fits = fits;
		hs.nitems = s->nitems;
		hs.s = palloc(sizeof(double) * Max(s->nitems, 1));
		hs.ranked = palloc(sizeof(int) * Max(s->nitems, 1));
		rec_put_num(&all, "k", topk, &first);
		rec_put_num(&all, "fit_ms", fit_ms, &first);
		rec_rank_evaluation(s, topk, relevant_min, hybrid_scorer, &hs, &all, &first);
	}
	appendStringInfo(&all, "%s\"components\": %s}", first ? "" : ", ", metrics.data);
	return rec_deploy_version(h, rec_insert_version(h, hp.data, 0, s ? s->nusers : 0, s ? s->nitems : 0,
													s ? s->ntrain : 0, s ? s->ntest : 0, all.data),
							  t0, outer);
}

/*
 * The union of a hybrid's components' items, with each component version's
 * positions mapped into it: cached per backend for the last hybrid asked,
 * and rebuilt when it or any component has another version deployed
 * (versions never change once written).  Building it hashes every item id
 * of every component, which would otherwise be most of a call's time.
 */
typedef struct UnionMap
{
	MemoryContext cxt;			/* NULL when empty */
	int64		hybrid_id;
	int32		hybrid_version;
	int			ncomp;
	int64		model_id[MAX_COMPONENTS];
	int32		version[MAX_COMPONENTS];
	int		   *map[MAX_COMPONENTS];	/* component position -> union position */
	ItemCache	items;			/* the union: nitems, ids, index */
} UnionMap;

static UnionMap unions;

static bool
union_matches(const RecModel *h, const RecModel *cm, int ncomp)
{
	int			i;

	if (unions.cxt == NULL || unions.hybrid_id != h->id || unions.hybrid_version != h->deployed ||
		unions.ncomp != ncomp)
		return false;
	for (i = 0; i < ncomp; i++)
		if (unions.model_id[i] != cm[i].id || unions.version[i] != cm[i].deployed)
			return false;
	return true;
}

/* map every item of the components into unions (its context current or not) */
static void
fill_union(const RecModel *cm, int ncomp)
{
	MemoryContext old;
	int			cap = 1024,
				i,
				j;

	for (i = 0; i < ncomp; i++)
	{
		/* the component's items first (SPI memory), then the map in ours */
		ItemCache  *c = rec_load_items(&cm[i]);

		old = MemoryContextSwitchTo(unions.cxt);
		if (i == 0)
			rec_intern_init(&unions.items.index, Max(c->nitems, cap), unions.cxt);
		unions.map[i] = palloc(sizeof(int) * Max(c->nitems, 1));
		for (j = 0; j < c->nitems; j++)
			unions.map[i][j] = rec_intern(&unions.items.index, c->ids[j], c->index.lens[j], true);
		unions.items.nitems = unions.items.index.count;
		unions.items.ids = unions.items.index.names;
		MemoryContextSwitchTo(old);
		unions.model_id[i] = cm[i].id;
		unions.version[i] = cm[i].deployed;
	}
}

static void
build_union(const RecModel *h, const RecModel *cm, int ncomp)
{
	MemoryContext caller_cxt = CurrentMemoryContext;

	if (unions.cxt != NULL)
		MemoryContextDelete(unions.cxt);
	memset(&unions, 0, sizeof(unions));
	unions.cxt = AllocSetContextCreate(TopMemoryContext, "dwc rec hybrid union", ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		fill_union(cm, ncomp);
	}
	PG_CATCH();
	{
		/* half a map must not be taken for a whole one */
		MemoryContextSwitchTo(caller_cxt);
		MemoryContextDelete(unions.cxt);
		memset(&unions, 0, sizeof(unions));
		PG_RE_THROW();
	}
	PG_END_TRY();
	unions.hybrid_id = h->id;
	unions.hybrid_version = h->deployed;
	unions.ncomp = ncomp;
}

/* a component's part in the explanation of an item (rank 0: it does not score it) */
static void
explain_component(StringInfo explain, bool first, const char *name, const RecModel *cm, double weight,
				  const double *score, int rank, bool ranked)
{
	appendStringInfo(explain, "%s{\"model\": ", first ? "" : ", ");
	escape_json(explain, name);
	appendStringInfo(explain, ", \"version\": %d, \"weight\": %.6g", cm->deployed, weight);
	if (score != NULL)
	{
		appendStringInfo(explain, ", \"score\": %.6g", *score);
		if (ranked)
			appendStringInfo(explain, ", \"rank\": %d, \"contribution\": %.6g", rank, weight / (RRF_K + rank));
	}
	else
		appendStringInfoString(explain, ", \"score\": null");
	appendStringInfoChar(explain, '}');
}

ItemCache *
rec_hybrid_scores(const RecModel *h, const char *user, double **scores, const char *explain_item,
				  StringInfo explain)
{
	RecModel	cm[MAX_COMPONENTS];
	bool		cold = false;
	double	   *acc;
	int			i;
	bool		named = explain != NULL;

	if (h->params.cold_start)
	{
		Oid			types[3];
		Datum		args[3];
		char		nulls[3];
		bool		isnull;

		rec_owner_args3(h, TEXTOID, CStringGetTextDatum(user), types, args, nulls);
		if (rec_run_prepared(COUNT_SQL, 3, types, args, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not count the user's interactions");
		cold = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) <
			h->params.min_interactions;
	}
	if (explain)
		appendStringInfo(explain, ", \"strategy\": \"%s\", \"components\": [", cold ? "cold_start" : "weighted");

	if (cold)
	{
		/* switching: the cold-start model's own items and scores */
		ItemCache  *c;
		int			p;

		component(h, h->params.cold_start, &cm[0]);
		c = rec_load_items(&cm[0]);
		acc = palloc(sizeof(double) * Max(c->nitems, 1));
		rec_score_user(&cm[0], c, user, acc);
		if (explain)
		{
			p = named ? rec_intern_cstring(&c->index, explain_item, false) : -1;
			explain_component(explain, true, h->params.cold_start, &cm[0], 1,
							  p >= 0 && isfinite(acc[p]) ? &acc[p] : NULL, 0, false);
			appendStringInfoChar(explain, ']');
		}
		*scores = acc;
		return c;
	}

	for (i = 0; i < h->params.ncomponents; i++)
		component(h, h->params.components[i], &cm[i]);
	if (!union_matches(h, cm, h->params.ncomponents))
		build_union(h, cm, h->params.ncomponents);
	acc = palloc(sizeof(double) * Max(unions.items.nitems, 1));
	for (i = 0; i < unions.items.nitems; i++)
		acc[i] = NAN;			/* no component scores it */
	for (i = 0; i < h->params.ncomponents; i++)
	{
		ItemCache  *c;
		double	   *s;
		int		   *ranked;
		int			nranked,
					t,
					explain_rank = 0,
					explain_pos = -1;

		DWC_CHECK_FOR_INTERRUPTS();
		c = rec_load_items(&cm[i]);
		s = palloc(sizeof(double) * Max(c->nitems, 1));
		rec_score_user(&cm[i], c, user, s);
		/* the component's ranking, best first (NaN, no score, is not placed) */
		ranked = palloc(sizeof(int) * Max(c->nitems, 1));
		nranked = rec_rank(s, c->nitems, ranked);
		if (named)
			explain_pos = rec_intern_cstring(&c->index, explain_item, false);
		for (t = 0; t < nranked; t++)
		{
			int			pos = unions.map[i][ranked[t]];
			double		part = h->params.weights[i] / (RRF_K + t + 1);

			acc[pos] = isnan(acc[pos]) ? part : acc[pos] + part;
			if (ranked[t] == explain_pos)
				explain_rank = t + 1;
		}
		if (explain)
			explain_component(explain, i == 0, h->params.components[i], &cm[i], h->params.weights[i],
							  explain_rank > 0 ? &s[explain_pos] : NULL, explain_rank, true);
		pfree(ranked);
		pfree(s);
	}
	if (explain)
		appendStringInfoChar(explain, ']');
	*scores = acc;
	return &unions.items;
}
