/*-------------------------------------------------------------------------
 *
 * rec_hybrid.c
 *		Hybrid models: other models' scores combined (weighted), and a
 *		cold-start model for users with few interactions (switching).
 *
 * Components score on different scales (predicted ratings, preferences,
 * summed similarities, counts), so each one's scores of the user are
 * rescaled to [0, 1] (its worst item 0, its best 1) before they are weighted
 * and summed; an item a component does not score (an item ALS has not seen,
 * one content similarity does not reach) counts 0 for it, as its worst
 * would: an item both components like comes before one only one knows.  A user with fewer than min_interactions
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
		double		lo = INFINITY,
					hi = -INFINITY,
					range;
		int			j,
					dummy = 0;

		CHECK_FOR_INTERRUPTS();
		component(h, names[i], caller, &cm);
		c = rec_load_items(&cm);
		s = palloc(sizeof(double) * Max(c->nitems, 1));
		rec_score_user(&cm, c, user, s);
		for (j = 0; j < c->nitems; j++)
			if (isfinite(s[j]))
			{
				lo = Min(lo, s[j]);
				hi = Max(hi, s[j]);
			}
		range = hi > lo ? hi - lo : 0;
		/* each item's weighted rescaled score (the cold-start model's own scores), into the union */
		for (j = 0; j < c->nitems; j++)
		{
			double		z;
			int			before = u->nitems,
						pos;

			if (!isfinite(s[j]))
				continue;
			z = cold ? s[j] : range > 0 ? (s[j] - lo) / range : 1;
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
			acc[pos] += weights[i] * z;
		}
		if (explain)
		{
			int			p = strlen(explain_item) < sizeof(((IndexEntry *) NULL)->key) ?
				rec_index_of(c->index, explain_item, false, &dummy) : -1;

			appendStringInfo(explain, "%s{\"model\": ", i ? ", " : "");
			escape_json(explain, names[i]);
			appendStringInfo(explain, ", \"version\": %d, \"weight\": %.6g", cm.deployed, weights[i]);
			if (p >= 0 && isfinite(s[p]))
			{
				appendStringInfo(explain, ", \"score\": %.6g", s[p]);
				if (!cold)
					appendStringInfo(explain, ", \"scaled\": %.6g", range > 0 ? (s[p] - lo) / range : 1);
			}
			else
				appendStringInfoString(explain, ", \"score\": null");
			appendStringInfoChar(explain, '}');
		}
	}
	if (explain)
		appendStringInfoChar(explain, ']');
	*scores = acc;
	return u;
}
