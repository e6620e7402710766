/*-------------------------------------------------------------------------
 *
 * rec_model.c
 *		The recommender's models: hyperparameters, ownership, running as the
 *		tables' owner, prepared queries, id maps and the item cache.
 *
 * The deployed versions' item factors are cached per backend (a few models,
 * the least recently used replaced first, which bounds the memory); versions
 * never change once written, so the cache is keyed by (model, version) and
 * needs no invalidation.
 *
 * src/recommend/rec_model.c
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
#include "core/owner.h"
#include "ml/ml_blas.h"
#include "ml/ml_pg.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc__rec_check_model);

/* a few models' items, the least recently used replaced first */
#define CACHED_MODELS 4

static ItemCache caches[CACHED_MODELS];

static uint64 cache_clock = 0;

static uint64 cache_used[CACHED_MODELS];

void
rec_as_owner(AsOwner *save)
{
	save->caller = DwcEffectiveUserId();
	DwcBecomeOwner(&save->saved);
}

void
rec_as_caller(const AsOwner *save)
{
	DwcRestoreUser(&save->saved);
}

/* ---- hyperparameters ------------------------------------------------------ */

static double
number_of(JsonbValue *v, const char *key)
{
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameter \"%s\" must be a number", key)));
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static void
bad_range(const char *key, const char *range)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("hyperparameter \"%s\" must be %s", key, range)));
}

static void parse_keys(const char *algorithm, Jsonb *hp, RecParams *p);

void
rec_parse_params(const char *algorithm, Jsonb *hp, RecParams *p)
{
	memset(p, 0, sizeof(*p));
	p->rank = 10;
	p->lambda = 0.1;
	p->iterations = 10;
	p->seed = 1;
	p->half_life_days = 30;
	p->alpha = 40;				/* implicit ALS sets its own below */
	p->power_iterations = 2;
	p->neighbors = 50;
	p->shrinkage = 10;
	p->min_support = 1;
	p->min_similarity = NAN;
	p->learning_rate = 0.05;
	p->text_config = "simple";
	p->feature_weight = 1;
	p->max_df = 1;
	p->min_interactions = 5;
	if (strcmp(algorithm, "als") == 0)
		p->algorithm = REC_ALS;
	else if (strcmp(algorithm, "implicit_als") == 0)
	{
		/*
		 * Confidence 1 + 2·value and a strong λ: on missing-not-at-random
		 * feedback (bench/recommend.py) these rank as well as PureSVD whether
		 * the values are positives, every rated item, or the ratings
		 * themselves; Hu, Koren and Volinsky's α = 40 with λ = 0.1 fell
		 * below popularity there.
		 */
		p->algorithm = REC_IALS;
		p->alpha = 2;
		p->lambda = 10;
	}
	else if (strcmp(algorithm, "svd") == 0)
		p->algorithm = REC_SVD;
	else if (strcmp(algorithm, "item_knn") == 0)
		p->algorithm = REC_KNN;
	else if (strcmp(algorithm, "user_knn") == 0)
		p->algorithm = REC_UKNN;
	else if (strcmp(algorithm, "popularity") == 0)
		p->algorithm = REC_POPULARITY;
	else if (strcmp(algorithm, "bpr") == 0)
	{
		/*
		 * A slower step, a stronger λ and more epochs than Rendle's usual
		 * 0.05 / 0.01 / 30: with the item bias, these rank above PureSVD on
		 * missing-not-at-random positives (bench/recommend.py), the old
		 * ones below it.
		 */
		p->algorithm = REC_BPR;
		p->learning_rate = 0.02;
		p->lambda = 0.03;
		p->iterations = 100;
	}
	else if (strcmp(algorithm, "content") == 0)
		p->algorithm = REC_CONTENT;
	else if (strcmp(algorithm, "hybrid") == 0)
		p->algorithm = REC_HYBRID;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown recommendation algorithm \"%s\"", algorithm),
				 errhint("Supported: als, implicit_als, svd, bpr, item_knn, user_knn, content, hybrid, popularity.")));
	if (hp != NULL && !JB_ROOT_IS_OBJECT(hp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameters must be a JSON object")));
	if (hp != NULL)
		parse_keys(algorithm, hp, p);
	if (p->algorithm == REC_HYBRID && p->ncomponents == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a hybrid model needs \"models\": an array of {\"model\": name, \"weight\": w}")));
}

/* a model's name in a hybrid's hyperparameters */
static char *
model_name_of(JsonbValue *v, const char *key)
{
	if (v == NULL || v->type != jbvString || v->val.string.len < 1 || v->val.string.len > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of a hybrid model must be a model's name", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* a hybrid's "models": [{"model": name, "weight": w}, ...] */
static void
parse_components(JsonbValue *val, RecParams *p)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	if (val->type != jbvBinary || !JsonContainerIsArray(val->val.binary.data))
		bad_range("models", "an array of {\"model\": name, \"weight\": w}");
	it = JsonbIteratorInit(val->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		JsonbValue *w;
		double		weight = 1;

		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvBinary || !JsonContainerIsObject(e.val.binary.data))
			bad_range("models", "an array of {\"model\": name, \"weight\": w}");
		if (p->ncomponents == MAX_COMPONENTS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a hybrid model combines at most %d models", MAX_COMPONENTS)));
		w = DwcMlJsonbKey(e.val.binary.data, "weight");
		if (w != NULL)
		{
			weight = number_of(w, "weight");
			if (!(weight > 0 && weight <= 1e6))
				bad_range("weight", "above 0 and at most 1e6");
		}
		p->components[p->ncomponents] = model_name_of(DwcMlJsonbKey(e.val.binary.data, "model"), "model");
		p->weights[p->ncomponents] = weight;
		p->ncomponents++;
	}
}

static void
parse_keys(const char *algorithm, Jsonb *hp, RecParams *p)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	it = JsonbIteratorInit(&hp->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		JsonbValue	val;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		(void) JsonbIteratorNext(&it, &val, true);
		if (HAS_FACTORS(p->algorithm) && strcmp(key, "rank") == 0)
		{
			double		d = number_of(&val, key);

			if (d != floor(d) || d < 1 || d > 500)
				bad_range(key, "an integer from 1 to 500");
			p->rank = (int) d;
		}
		else if ((IS_ALS(p->algorithm) || p->algorithm == REC_BPR) && strcmp(key, "lambda") == 0)
		{
			p->lambda = number_of(&val, key);
			if (!(p->lambda > 0 && p->lambda <= 1e6))
				bad_range(key, "above 0 and at most 1e6");
		}
		else if ((IS_ALS(p->algorithm) || p->algorithm == REC_BPR) && strcmp(key, "iterations") == 0)
		{
			double		d = number_of(&val, key);

			if (d != floor(d) || d < 1 || d > 200)
				bad_range(key, "an integer from 1 to 200");
			p->iterations = (int) d;
		}
		else if (HAS_FACTORS(p->algorithm) && strcmp(key, "seed") == 0)
		{
			double		d = number_of(&val, key);

			if (d != floor(d) || fabs(d) > 9007199254740992.0)
				bad_range(key, "an integer");
			p->seed = (int64) d;
		}
		else if ((IS_KNN(p->algorithm) || p->algorithm == REC_CONTENT) && strcmp(key, "neighbors") == 0)
		{
			double		d = number_of(&val, key);

			if (d != floor(d) || d < 1 || d > 1000)
				bad_range(key, "an integer from 1 to 1000");
			p->neighbors = (int) d;
		}
		else if (IS_KNN(p->algorithm) && strcmp(key, "shrinkage") == 0)
		{
			p->shrinkage = number_of(&val, key);
			if (!(p->shrinkage >= 0 && p->shrinkage <= 1e6))
				bad_range(key, "from 0 to 1e6");
		}
		else if (IS_KNN(p->algorithm) && strcmp(key, "min_support") == 0)
		{
			double		d = number_of(&val, key);

			if (d != floor(d) || d < 1 || d > 1e6)
				bad_range(key, "an integer of at least 1");
			p->min_support = (int) d;
		}
		else if (IS_KNN(p->algorithm) && strcmp(key, "min_similarity") == 0)
		{
			p->min_similarity = number_of(&val, key);
			if (!(p->min_similarity >= -1 && p->min_similarity <= 1))
				bad_range(key, "from -1 to 1");
		}
		else if (IS_KNN(p->algorithm) && strcmp(key, "similarity") == 0)
		{
			char	   *v = val.type == jbvString ? pnstrdup(val.val.string.val, val.val.string.len) : NULL;

			if (v == NULL || (strcmp(v, "cosine") != 0 && strcmp(v, "adjusted_cosine") != 0))
				bad_range(key, "\"cosine\" or \"adjusted_cosine\"");
			p->adjusted = strcmp(v, "adjusted_cosine") == 0;
		}
		else if (p->algorithm == REC_SVD && strcmp(key, "power_iterations") == 0)
		{
			double		d = number_of(&val, key);

			if (d != floor(d) || d < 0 || d > 10)
				bad_range(key, "an integer from 0 to 10");
			p->power_iterations = (int) d;
		}
		else if (p->algorithm == REC_IALS && strcmp(key, "alpha") == 0)
		{
			p->alpha = number_of(&val, key);
			if (!(p->alpha > 0 && p->alpha <= 1e6))
				bad_range(key, "above 0 and at most 1e6");
		}
		else if (p->algorithm == REC_POPULARITY && strcmp(key, "half_life_days") == 0)
		{
			p->half_life_days = number_of(&val, key);
			if (!(p->half_life_days > 0 && p->half_life_days <= 36500))
				bad_range(key, "above 0 and at most 36500");
		}
		else if (p->algorithm == REC_BPR && strcmp(key, "learning_rate") == 0)
		{
			p->learning_rate = number_of(&val, key);
			if (!(p->learning_rate > 0 && p->learning_rate <= 10))
				bad_range(key, "above 0 and at most 10");
		}
		else if (p->algorithm == REC_CONTENT && strcmp(key, "text_config") == 0)
		{
			if (val.type != jbvString || val.val.string.len < 1 || val.val.string.len > 63)
				bad_range(key, "the name of a text search configuration");
			p->text_config = pnstrdup(val.val.string.val, val.val.string.len);
			/* an error naming it when there is no such configuration */
			(void) DirectFunctionCall1(regconfigin, CStringGetDatum(p->text_config));
		}
		else if (p->algorithm == REC_CONTENT && strcmp(key, "feature_weight") == 0)
		{
			p->feature_weight = number_of(&val, key);
			if (!(p->feature_weight >= 0 && p->feature_weight <= 1e6))
				bad_range(key, "from 0 to 1e6");
		}
		else if (p->algorithm == REC_CONTENT && strcmp(key, "max_df") == 0)
		{
			p->max_df = number_of(&val, key);
			if (!(p->max_df > 0 && p->max_df <= 1))
				bad_range(key, "above 0 and at most 1 (a share of the items)");
		}
		else if (p->algorithm == REC_HYBRID && strcmp(key, "models") == 0)
			parse_components(&val, p);
		else if (p->algorithm == REC_HYBRID && strcmp(key, "cold_start") == 0)
			p->cold_start = val.type == jbvNull ? NULL : model_name_of(&val, key);
		else if (p->algorithm == REC_HYBRID && strcmp(key, "min_interactions") == 0)
		{
			double		d = number_of(&val, key);

			if (d != floor(d) || d < 1 || d > 1e6)
				bad_range(key, "an integer of at least 1");
			p->min_interactions = (int) d;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown hyperparameter \"%s\" for algorithm %s", key, algorithm),
					 errhint(p->algorithm == REC_ALS ? "als takes rank, lambda, iterations and seed."
							 : p->algorithm == REC_IALS ? "implicit_als takes rank, lambda, alpha, iterations and seed."
							 : p->algorithm == REC_SVD ? "svd takes rank, power_iterations and seed."
							 : p->algorithm == REC_BPR ? "bpr takes rank, lambda, learning_rate, iterations and seed."
							 : IS_KNN(p->algorithm) ? "item_knn and user_knn take neighbors, shrinkage, min_support, min_similarity and similarity."
							 : p->algorithm == REC_CONTENT ? "content takes neighbors, text_config, feature_weight and max_df."
							 : p->algorithm == REC_HYBRID ? "hybrid takes models, cold_start and min_interactions."
							 : "popularity takes half_life_days.")));
	}
}

/* dwc._rec_check_model(algorithm, hyperparameters): errors when they are not valid */
Datum
dwc__rec_check_model(PG_FUNCTION_ARGS)
{
	RecParams	p;

	DWC_REQUIRE_ARG(0, "algorithm");
	rec_parse_params(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), &p);
	PG_RETURN_VOID();
}

/* ---- prepared plans of the hot paths ------------------------------------- */

#define MAX_PLANS 16

static struct
{
	const char *sql;			/* a string constant: its address is the key */
	SPIPlanPtr	plan;
}			plans[MAX_PLANS];

/*
 * SPI_execute_with_args for the queries every recommend() and fold-in runs:
 * planned once per backend (a recommendation is a few index lookups, and
 * planning them every call cost more than running them).
 */
int
rec_run_prepared(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls, bool read_only, long count)
{
	int			i;

	for (i = 0; i < MAX_PLANS && plans[i].sql != NULL; i++)
		if (plans[i].sql == sql)
			break;
	if (i == MAX_PLANS)
		return SPI_execute_with_args(sql, nargs, types, args, nulls, read_only, count);
	if (plans[i].sql == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		plans[i].plan = plan;
		plans[i].sql = sql;
	}
	return SPI_execute_plan(plans[i].plan, args, nulls, read_only, count);
}

/* ---- the model ------------------------------------------------------------ */

static const char RESOLVE_SQL[] =
"SELECT (m).id, (m).algorithm, (m).hyperparameters, (m).owner, (m).owner_user, (m).deployed_version "
"FROM dwc._rec_resolve($1, $2) m";

void
rec_resolve_model(const char *name, Oid caller, RecModel *m)
{
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(caller)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	if (rec_run_prepared(RESOLVE_SQL, 2, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look up the recommendation model");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	m->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 3, &isnull);
	rec_parse_params(SPI_getvalue(tup, desc, 2), DatumGetJsonbPCopy(d), &m->params);
	m->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
	m->owner_user = SPI_getvalue(tup, desc, 5);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	m->deployed = isnull ? 0 : DatumGetInt32(d);
}

void
rec_require_deployed(const RecModel *m, const char *name)
{
	if (m->deployed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recommendation model \"%s\" has no trained version", name),
				 errhint("Train it with dwc.rec_train().")));
}

void
rec_owner_args(const RecModel *m, Oid *types, Datum *args, char *nulls)
{
	types[0] = OIDOID;
	types[1] = TEXTOID;
	args[0] = ObjectIdGetDatum(m->owner);
	args[1] = m->owner_user ? CStringGetTextDatum(m->owner_user) : (Datum) 0;
	nulls[0] = ' ';
	nulls[1] = m->owner_user ? ' ' : 'n';
}

void
rec_owner_args3(const RecModel *m, Oid type3, Datum arg3, Oid *types, Datum *args, char *nulls)
{
	rec_owner_args(m, types, args, nulls);
	types[2] = type3;
	args[2] = arg3;
	nulls[2] = ' ';
}

/* ---- the cached item side ------------------------------------------------- */

/* the deployed version's items, loaded unless cached; SPI connected, as owner */
ItemCache *
rec_load_items(const RecModel *m)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(m->id), Int32GetDatum(m->deployed)};
	MemoryContext cxt,
				old;
	int			j;
	bool		isnull;

	ItemCache  *slot = NULL;
	int			i;

	for (i = 0; i < CACHED_MODELS; i++)
	{
		if (caches[i].cxt != NULL && caches[i].model_id == m->id && caches[i].version == m->deployed)
		{
			cache_used[i] = ++cache_clock;
			return &caches[i];
		}
	}
	for (i = 0; i < CACHED_MODELS; i++)
		if (slot == NULL || caches[i].cxt == NULL ||
			(slot->cxt != NULL && cache_used[i] < cache_used[slot - caches]))
			slot = &caches[i];
	cache_used[slot - caches] = ++cache_clock;
	if (slot->cxt != NULL)
		MemoryContextDelete(slot->cxt);
	memset(slot, 0, sizeof(*slot));

	if (SPI_execute_with_args("SELECT id, factors, n, v.mean, coalesce((v.hyperparameters->>'item_bias')::bool, false), v.users "
							  "FROM (SELECT mean, hyperparameters, users FROM dwc.rec_versions "
							  "      WHERE model_id = $1 AND version = $2) v, dwc.rec_factors "
							  "WHERE model_id = $1 AND version = $2 AND side = 'i' ORDER BY id",
							  2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the model's items");
	cxt = AllocSetContextCreate(TopMemoryContext, "dwc rec items", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	slot->nitems = (int) SPI_processed;
	slot->n = palloc(sizeof(double) * Max(slot->nitems, 1));
	rec_intern_init(&slot->index, slot->nitems, cxt);
	for (j = 0; j < slot->nitems; j++)
	{
		HeapTuple	tup = SPI_tuptable->vals[j];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ArrayType  *a = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull));
		int			k = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

		if (j == 0)
		{
			slot->k = k;
			slot->mean = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull));
			slot->item_bias = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
			slot->nusers = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
			slot->Y = palloc_extended(sizeof(double) * (size_t) slot->nitems * k, MCXT_ALLOC_HUGE);
			slot->norm = palloc(sizeof(double) * slot->nitems);
		}
		if (k != slot->k || ARR_HASNULL(a))
			elog(ERROR, "item %s of the model has malformed factors", SPI_getvalue(tup, desc, 1));
		memcpy(slot->Y + (size_t) j * k, ARR_DATA_PTR(a), sizeof(double) * k);
		slot->norm[j] = cblas_dnrm2(slot->item_bias ? k - 1 : k, slot->Y + (size_t) j * k, 1);
		slot->n[j] = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		/* ids are unique (the key) and in order: the j-th new one is number j */
		(void) rec_intern_text(&slot->index, SPI_getbinval(tup, desc, 1, &isnull), true);
	}
	slot->ids = slot->index.names;
	if (slot->nitems > 0)
	{
		slot->YtY = palloc(sizeof(double) * slot->k * slot->k);
		rec_gram(slot->Y, slot->nitems, slot->k, slot->YtY);
	}
	if (HAS_ITEM_NEIGHBORS(m->params.algorithm))
	{
		int			K = m->params.neighbors;
		uint64		r;

		slot->K = K;
		slot->nb_idx = palloc_extended(sizeof(int) * Max((size_t) slot->nitems * K, 1), MCXT_ALLOC_HUGE);
		slot->nb_sim = palloc_extended(sizeof(double) * Max((size_t) slot->nitems * K, 1), MCXT_ALLOC_HUGE);
		for (j = 0; j < slot->nitems * K; j++)
		{
			slot->nb_idx[j] = -1;
			slot->nb_sim[j] = 0;
		}
		MemoryContextSwitchTo(old);
		if (SPI_execute_with_args("SELECT id, neighbors, similarities FROM dwc.rec_neighbors "
								  "WHERE model_id = $1 AND version = $2 AND side = 'i'", 2, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the model's neighbours");
		for (r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			int			pos = rec_intern_text(&slot->index, SPI_getbinval(tup, desc, 1, &isnull), false);
			Datum	   *nbs;
			bool	   *nbnull;
			int			nnb,
						e;
			ArrayType  *sims = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull));

			if (pos < 0)
				continue;
			deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull)), TEXTOID, -1, false,
							  TYPALIGN_INT, &nbs, &nbnull, &nnb);
			if (nnb != ArrayGetNItems(ARR_NDIM(sims), ARR_DIMS(sims)) || nnb > K || ARR_HASNULL(sims))
				elog(ERROR, "item %s of the model has malformed neighbours", SPI_getvalue(tup, desc, 1));
			for (e = 0; e < nnb; e++)
			{
				int			q = rec_intern_text(&slot->index, nbs[e], false);

				slot->nb_idx[(size_t) pos * K + e] = q;
				slot->nb_sim[(size_t) pos * K + e] = ((double *) ARR_DATA_PTR(sims))[e];
			}
		}
		old = MemoryContextSwitchTo(cxt);
	}
	MemoryContextSwitchTo(old);
	slot->cxt = cxt;
	slot->model_id = m->id;
	slot->version = m->deployed;
	return slot;
}

static const char USER_SQL[] =
"SELECT factors FROM dwc.rec_factors WHERE model_id = $1 AND version = $2 AND side = 'u' AND id = $3";

/* a user's factors in the deployed version, or NULL */
double *
rec_user_factors(const RecModel *m, const char *user, int k)
{
	Oid			types[3] = {INT8OID, INT4OID, TEXTOID};
	Datum		args[3] = {Int64GetDatum(m->id), Int32GetDatum(m->deployed), CStringGetTextDatum(user)};
	ArrayType  *a;
	bool		isnull;
	double	   *x;

	if (rec_run_prepared(USER_SQL, 3, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the user's factors");
	if (SPI_processed == 0)
		return NULL;
	a = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != k || ARR_HASNULL(a))
		elog(ERROR, "the user's factors are malformed");
	x = palloc(sizeof(double) * k);
	memcpy(x, ARR_DATA_PTR(a), sizeof(double) * k);
	return x;
}

static const char USERS_SQL[] =
"SELECT id, factors FROM dwc.rec_factors WHERE model_id = $1 AND version = $2 AND side = 'u' AND id = ANY ($3)";

static const char ALL_USERS_SQL[] =
"SELECT id, factors FROM dwc.rec_factors WHERE model_id = $1 AND version = $2 AND side = 'u'";

/*
 * The factors of many users in one query: out[j] those of users->names[j],
 * or NULL for a user the version does not know.  Asked for a good share of
 * the version's users, it reads them all along the key instead of looking
 * each up (a descent of the index per element of an = ANY array).
 */
void
rec_users_factors(const RecModel *m, const ItemCache *c, RecIntern *users, double **out)
{
	Oid			types[3] = {INT8OID, INT4OID, TEXTARRAYOID};
	Datum		args[3];
	int			n = users->count;
	bool		all = (int64) n * 4 >= c->nusers;

	for (int j = 0; j < n; j++)
		out[j] = NULL;
	if (n == 0)
		return;
	args[0] = Int64GetDatum(m->id);
	args[1] = Int32GetDatum(m->deployed);
	if (!all)
	{
		Datum	   *ids = palloc(sizeof(Datum) * n);

		for (int j = 0; j < n; j++)
			ids[j] = PointerGetDatum(cstring_to_text_with_len(users->names[j], users->lens[j]));
		args[2] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	}
	if (rec_run_prepared(all ? ALL_USERS_SQL : USERS_SQL, all ? 2 : 3, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the users' factors");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[r];
		int			pos = rec_intern_text(users, SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull), false);
		ArrayType  *a;

		if (pos < 0)
			continue;			/* a user not asked for */
		a = DatumGetArrayTypeP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		if (ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != c->k || ARR_HASNULL(a))
			elog(ERROR, "the factors of user \"%s\" are malformed", users->names[pos]);
		out[pos] = palloc(sizeof(double) * c->k);
		memcpy(out[pos], ARR_DATA_PTR(a), sizeof(double) * c->k);
	}
}

/* a user's latest value of each item */
static const char USER_VALUES_SQL[] =
"SELECT DISTINCT ON (item_id) item_id, value FROM dwc.rec_interactions WHERE " OWNER_IS
" AND user_id = $3 ORDER BY item_id, at DESC, id DESC";

/*
 * A user's latest value of each item the version knows: positions in *idx,
 * values in *val (palloc'd), their number returned; *mean is the mean of all
 * the user's values, known items or not (0 with none).  fresh: a new
 * snapshot, which sees the rows of the statement running (the fold-in
 * trigger's).
 */
int
rec_user_values(const RecModel *m, ItemCache *c, const char *user, bool fresh, int **idx, double **val,
				double *mean)
{
	Oid			types[3];
	Datum		args[3];
	char		nulls[3];
	int			n = 0;
	uint64		j;
	double		sum = 0;

	rec_owner_args3(m, TEXTOID, CStringGetTextDatum(user), types, args, nulls);
	if (rec_run_prepared(USER_VALUES_SQL, 3, types, args, nulls, !fresh, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the user's interactions");
	*idx = palloc(sizeof(int) * Max(SPI_processed, 1));
	*val = palloc(sizeof(double) * Max(SPI_processed, 1));
	for (j = 0; j < SPI_processed; j++)
	{
		bool		isnull;
		double		v = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2, &isnull));
		int			pos = rec_intern_text(&c->index, SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1,
																	&isnull), false);

		sum += v;
		if (pos < 0)
			continue;			/* an item the version has not seen */
		(*idx)[n] = pos;
		(*val)[n] = v;
		n++;
	}
	*mean = SPI_processed > 0 ? sum / SPI_processed : 0;
	return n;
}
