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

#include "recommend/rec_pg.h"

/* the constant of reciprocal rank fusion: how much the first places count over the later */
#define RRF_K 60

typedef struct Ranked
{
	double		score;
	int			item;
} Ranked;

/* best first; ties by position, as rec_top_n */
static int
by_score_desc(const void *a, const void *b)
{
	const Ranked *x = a;
	const Ranked *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return (x->item > y->item) - (x->item < y->item);
}

static const char COUNT_SQL[] =
"SELECT count(DISTINCT item_id) FROM dwc.rec_interactions WHERE " OWNER_IS " AND user_id = $3";

static const char VERSION_METRICS_SQL[] =
"SELECT metrics FROM dwc.rec_versions WHERE model_id = $1 AND version = $2";

/* a component of hybrid h, resolved for the caller: deployed, not a hybrid, h's owner's */
static void
component(const RecModel *h, const char *name, Oid caller, RecModel *cm)
{
	rec_resolve_model(name, caller, cm);
	if (cm->params.algorithm == REC_HYBRID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("component \"%s\" of a hybrid model is itself a hybrid", name)));
	if (cm->owner != h->owner ||
		strcmp(cm->owner_user ? cm->owner_user : "", h->owner_user ? h->owner_user : "") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("component \"%s\" belongs to another owner than its hybrid model", name)));
	if (cm->deployed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("component \"%s\" of the hybrid model has no trained version", name),
				 errhint("Train it with dwc.rec_train().")));
}

/* "name": {"id", "version", "weight"} of a component, and its metrics into metrics */
static void
describe(const RecModel *h, const char *name, double weight, Oid caller, StringInfo hp, StringInfo metrics,
		 bool first)
{
	RecModel	cm;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2];

	component(h, name, caller, &cm);
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

Jsonb *
rec_train_hybrid(const RecModel *h, Oid caller, instr_time t0, MemoryContext outer)
{
	StringInfoData hp,
				metrics,
				all;
	int			i;
	bool		listed = false;

	initStringInfo(&hp);
	initStringInfo(&metrics);
	appendStringInfoString(&hp, "{\"models\": [");
	appendStringInfoChar(&metrics, '{');
	for (i = 0; i < h->params.ncomponents; i++)
	{
		describe(h, h->params.components[i], h->params.weights[i], caller, &hp, &metrics, i == 0);
		listed |= h->params.cold_start && strcmp(h->params.cold_start, h->params.components[i]) == 0;
	}
	appendStringInfoString(&hp, "], \"cold_start\": ");
	if (h->params.cold_start)
	{
		StringInfoData dup;

		/* its metrics once, when it is also a component */
		initStringInfo(&dup);
		describe(h, h->params.cold_start, 0, caller, &hp, listed ? &dup : &metrics, true);
	}
	else
		appendStringInfoString(&hp, "null");
	appendStringInfo(&hp, ", \"min_interactions\": %d}", h->params.min_interactions);
	appendStringInfoChar(&metrics, '}');
	/* a hybrid is not evaluated on a split of its own: its components' metrics are reported */
	initStringInfo(&all);
	appendStringInfo(&all, "{\"components\": %s}", metrics.data);
	return rec_deploy_version(h, rec_insert_version(h, hp.data, 0, 0, 0, 0, 0, all.data), t0, outer);
}

ItemCache *
rec_hybrid_scores(const RecModel *h, Oid caller, const char *user, double **scores, const char *explain_item,
				  StringInfo explain)
{
	ItemCache  *u = palloc0(sizeof(ItemCache));
	char	   *names[MAX_COMPONENTS];
	double		weights[MAX_COMPONENTS];
	int			ncomp,
				cap = 256,
				i;
	bool		cold = false;
	double	   *acc;

	if (h->params.cold_start)
	{
		Oid			types[3];
		Datum		args[3];
		char		nulls[3];
		bool		isnull;

		rec_owner_args(h, types, args, nulls);
		types[2] = TEXTOID;
		args[2] = CStringGetTextDatum(user);
		nulls[2] = ' ';
		if (rec_run_prepared(COUNT_SQL, 3, types, args, nulls, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not count the user's interactions");
		cold = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) <
			h->params.min_interactions;
	}
	if (cold)
	{
		names[0] = h->params.cold_start;
		weights[0] = 1;
		ncomp = 1;
	}
	else
	{
		ncomp = h->params.ncomponents;
		memcpy(names, h->params.components, sizeof(char *) * ncomp);
		memcpy(weights, h->params.weights, sizeof(double) * ncomp);
	}
	u->index = rec_new_index("dwc rec hybrid items", cap, CurrentMemoryContext);
	u->ids = palloc(sizeof(char *) * cap);
	acc = palloc(sizeof(double) * cap);
	if (explain)
		appendStringInfo(explain, ", \"strategy\": \"%s\", \"components\": [", cold ? "cold_start" : "weighted");
	for (i = 0; i < ncomp; i++)
	{
		RecModel	cm;
		ItemCache  *c;
		double	   *s;
		Ranked	   *ranked;
		int			nranked = 0,
					t,
					explain_rank = 0,
					explain_pos = -1,
					dummy = 0;

		CHECK_FOR_INTERRUPTS();
		component(h, names[i], caller, &cm);
		c = rec_load_items(&cm);
		s = palloc(sizeof(double) * Max(c->nitems, 1));
		rec_score_user(&cm, c, user, s);
		ranked = palloc(sizeof(Ranked) * Max(c->nitems, 1));
		for (t = 0; t < c->nitems; t++)
			if (isfinite(s[t]))
			{
				ranked[nranked].score = s[t];
				ranked[nranked].item = t;
				nranked++;
			}
		/* the cold-start model's own scores need no ranking */
		if (!cold)
			qsort(ranked, nranked, sizeof(Ranked), by_score_desc);
		if (explain && strlen(explain_item) < sizeof(((IndexEntry *) NULL)->key))
			explain_pos = rec_index_of(c->index, explain_item, false, &dummy);
		for (t = 0; t < nranked; t++)
		{
			int			j = ranked[t].item;
			int			before = u->nitems,
						pos;

			pos = rec_index_of(u->index, c->ids[j], true, &u->nitems);
			if (u->nitems > before)
			{
				if (u->nitems > cap)
				{
					cap *= 2;
					u->ids = repalloc(u->ids, sizeof(char *) * cap);
					acc = repalloc(acc, sizeof(double) * cap);
				}
				u->ids[pos] = pstrdup(c->ids[j]);
				acc[pos] = 0;
			}
			acc[pos] += cold ? s[j] : weights[i] / (RRF_K + t + 1);
			if (j == explain_pos)
				explain_rank = t + 1;
		}
		if (explain)
		{
			appendStringInfo(explain, "%s{\"model\": ", i ? ", " : "");
			escape_json(explain, names[i]);
			appendStringInfo(explain, ", \"version\": %d, \"weight\": %.6g", cm.deployed, weights[i]);
			if (explain_rank > 0)
			{
				appendStringInfo(explain, ", \"score\": %.6g", s[explain_pos]);
				if (!cold)
					appendStringInfo(explain, ", \"rank\": %d, \"contribution\": %.6g", explain_rank,
									 weights[i] / (RRF_K + explain_rank));
			}
			else
				appendStringInfoString(explain, ", \"score\": null");
			appendStringInfoChar(explain, '}');
		}
		pfree(ranked);
		pfree(s);
	}
	if (explain)
		appendStringInfoChar(explain, ']');
	*scores = acc;
	return u;
}
