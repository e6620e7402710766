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

/* a model's own fit as the ranking's scorer */
typedef struct FitScorer
{
	const RecModel *m;
	const RecFit *f;
	int			nitems;
} FitScorer;

static void
fit_scorer(void *arg, int u, const RecCsr *tr, double *scores)
{
	FitScorer  *fs = arg;

	rec_fit_scores(fs->m, fs->f, u, tr, fs->nitems, scores);
}

/* the hyperparameters a version was trained with, as stored in it */
static char *
version_hyperparameters(const RecModel *m, const RecFit *f)
{
	StringInfoData hp;

	initStringInfo(&hp);
	if (m->params.algorithm == REC_ALS)
		appendStringInfo(&hp, "{\"rank\": %d, \"lambda\": %.17g, \"iterations\": %d, \"seed\": " INT64_FORMAT "}",
						 m->params.rank, m->params.lambda, m->params.iterations, m->params.seed);
	else if (IS_KNN(m->params.algorithm))
	{
		appendStringInfo(&hp, "{\"neighbors\": %d, \"shrinkage\": %.17g, \"min_support\": %d, "
						 "\"similarity\": \"%s\"", m->params.neighbors, m->params.shrinkage,
						 m->params.min_support, m->params.adjusted ? "adjusted_cosine" : "cosine");
		if (!isnan(m->params.min_similarity))
			appendStringInfo(&hp, ", \"min_similarity\": %.17g", m->params.min_similarity);
		appendStringInfoChar(&hp, '}');
	}
	else if (m->params.algorithm == REC_SVD)
		appendStringInfo(&hp, "{\"rank\": %d, \"power_iterations\": %d, \"seed\": " INT64_FORMAT "}",
						 f->k, m->params.power_iterations, m->params.seed);
	else if (m->params.algorithm == REC_IALS)
		appendStringInfo(&hp, "{\"rank\": %d, \"lambda\": %.17g, \"alpha\": %.17g, \"iterations\": %d, "
						 "\"seed\": " INT64_FORMAT "}", m->params.rank, m->params.lambda, m->params.alpha,
						 m->params.iterations, m->params.seed);
	else if (m->params.algorithm == REC_BPR)
		appendStringInfo(&hp, "{\"rank\": %d, \"lambda\": %.17g, \"learning_rate\": %.17g, \"iterations\": %d, "
						 "\"seed\": " INT64_FORMAT ", \"item_bias\": true}", m->params.rank, m->params.lambda,
						 m->params.learning_rate, m->params.iterations, m->params.seed);
	else if (m->params.algorithm == REC_CONTENT)
	{
		appendStringInfo(&hp, "{\"neighbors\": %d, \"text_config\": ", m->params.neighbors);
		escape_json(&hp, m->params.text_config);
		appendStringInfo(&hp, ", \"feature_weight\": %.17g, \"max_df\": %.17g, \"terms\": %d}",
						 m->params.feature_weight, m->params.max_df, f->nterms);
	}
	else
		appendStringInfo(&hp, "{\"half_life_days\": %.17g}", m->params.half_life_days);
	return hp.data;
}

static Jsonb *
train(const char *name, Jsonb *options, MemoryContext outer, Oid caller)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "dwc rec training", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RecModel	m;
	RecModel	parts[MAX_COMPONENTS + 1];
	int			nparts = 0,
				cold = -1;
	bool		hybrid;
	bool		with_items = false;
	Oid			types[3];
	Datum		args[3];
	char		nulls[3];
	JsonbValue *test_from;
	instr_time	t0;
	double		test_size;
	bool		per_user = false;	/* test_size of each user's interactions, not of all */
	uint64_t	state;
	int			topk;
	double		relevant_min;
	RecSet		set;
	RecFit		fit;
	RecEntry   *t;
	RecRead		read;
	int		   *item_at;		/* an item's place in the model, by its place in read.items */
	char	  **known = NULL;	/* content: the owner's items, interacted with or not */
	int			nknown = 0,
				nt,
				j;
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
	hybrid = m.params.algorithm == REC_HYBRID;
	if (hybrid)
	{
		rec_hybrid_parts(&m, parts, &nparts, &cold);
		for (j = 0; j < nparts + (cold == nparts); j++)
			with_items |= parts[j].params.algorithm == REC_CONTENT;
		if (test_from == NULL && test_size == 0)
		{
			/* nothing to evaluate on: the components' own metrics */
			result = rec_train_hybrid(&m, NULL, topk, relevant_min, t0, outer);
			MemoryContextSwitchTo(old);
			MemoryContextDelete(cxt);
			return result;
		}
	}
	else
		with_items = m.params.algorithm == REC_CONTENT;
	rec_owner_args(&m, types, args, nulls);
	if (with_items)
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
	memset(&set, 0, sizeof(set));
	rec_intern_init(&set.items, Max(nknown, 16), cxt);
	set.t = t = palloc_extended(sizeof(RecEntry) * Max(nt, 1), MCXT_ALLOC_HUGE);
	set.age = palloc_extended(sizeof(double) * Max(nt, 1), MCXT_ALLOC_HUGE);
	set.nt = nt;
	set.uid = read.users;
	set.nusers = read.nusers;
	set.iid = palloc(sizeof(char *) * (read.nitems + nknown + 1));
	for (j = 0; j < nknown; j++)
		set.iid[rec_intern_cstring(&set.items, known[j], true)] = known[j];
	set.nitems = set.items.count;
	item_at = palloc(sizeof(int) * (read.nitems + 1));
	for (j = 0; j < read.nitems; j++)
		item_at[j] = nknown > 0 ? rec_intern_cstring(&set.items, read.items[j], false) : -1;
	for (j = 0; j < nt; j++)
	{
		RecRow	   *r = &read.rows[j];

		DWC_CHECK_FOR_INTERRUPTS();
		t[j].u = r->u;
		if (item_at[r->i] < 0)
		{
			item_at[r->i] = set.nitems++;
			set.iid[item_at[r->i]] = read.items[r->i];
		}
		t[j].i = item_at[r->i];
		t[j].v = r->v;
		set.age[j] = r->age;
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
			set.ntest++;
		else
			set.ntrain++;
	}
	if (set.ntrain == 0 && nt > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no interaction is left to train on"),
				 errhint("Lower test_size.")));
	if (hybrid)
	{
		result = rec_train_hybrid(&m, &set, topk, relevant_min, t0, outer);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return result;
	}

	rec_fit(&m, &set, &fit);

	/* ---- held-out metrics ---- */
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	rec_put_num(&metrics, "k", topk, &first);
	/* the fitting alone, without reading, evaluating and storing: what to compare with a library's fit */
	rec_put_num(&metrics, "fit_ms", fit.fit_ms, &first);
	if (set.ntest > 0)
	{
		FitScorer	fs = {&m, &fit, set.nitems};

		rec_fit_rating_metrics(&m, &fit, &set, &metrics, &first);
		rec_rank_evaluation(&set, topk, relevant_min, fit_scorer, &fs, &metrics, &first);
	}
	appendStringInfoChar(&metrics, '}');

	/* ---- store and deploy ---- */
	version = rec_insert_version(&m, version_hyperparameters(&m, &fit), fit.mean, set.nusers, set.nitems,
								 set.ntrain, set.ntest, metrics.data);
	if (HAS_FACTORS(m.params.algorithm))
		rec_store_side(m.id, version, 'u', set.uid, fit.X, fit.ucount, set.nusers, fit.k);
	rec_store_side(m.id, version, 'i', set.iid, fit.Y, fit.icount, set.nitems,
				   HAS_FACTORS(m.params.algorithm) ? fit.k : 1);
	if (HAS_ITEM_NEIGHBORS(m.params.algorithm))
		rec_store_neighbors(m.id, version, 'i', set.iid, fit.nb_idx, fit.nb_sim, set.nitems, fit.K);
	else if (m.params.algorithm == REC_UKNN)
		rec_store_neighbors(m.id, version, 'u', set.uid, fit.nb_idx, fit.nb_sim, set.nusers, fit.K);
	result = rec_deploy_version(&m, version, t0, outer);
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
