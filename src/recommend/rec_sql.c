/*-------------------------------------------------------------------------
 *
 * rec_sql.c
 *		The recommender's SQL functions: training, recommendations, similar
 *		items, explanations, and the fold-in trigger.
 *
 * These functions are called by users, but read and write dwc's tables,
 * which users hold no privileges on: they run their queries as the
 * bootstrap superuser and keep to the caller's rows themselves, through
 * dwc._rec_resolve(model, caller) (the one ownership rule, dwc._may_manage)
 * and the model's (owner, owner_user) on every other query.  No query
 * contains text from the caller other than as a parameter.
 *
 * The deployed versions' item factors are cached per backend (a few models,
 * the least recently used replaced first, which bounds the memory); versions
 * never change once written, so the cache is keyed by (model, version) and
 * needs no invalidation.
 *
 * src/recommend/rec_sql.c
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
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc__rec_check_model);
PG_FUNCTION_INFO_V1(dwc_rec_train);
PG_FUNCTION_INFO_V1(dwc_recommend);
PG_FUNCTION_INFO_V1(dwc_similar_items);
PG_FUNCTION_INFO_V1(dwc_rec_explain);
PG_FUNCTION_INFO_V1(dwc__rec_fold_in);

#define MAX_N 10000

typedef enum RecAlgorithm
{
	REC_ALS,
	REC_IALS,
	REC_SVD,
	REC_KNN,
	REC_UKNN,
	REC_POPULARITY
} RecAlgorithm;

/* the algorithms with user and item factors, and those of them fitted by ALS */
#define HAS_FACTORS(a) ((a) == REC_ALS || (a) == REC_IALS || (a) == REC_SVD)
#define IS_ALS(a) ((a) == REC_ALS || (a) == REC_IALS)
#define IS_KNN(a) ((a) == REC_KNN || (a) == REC_UKNN)

typedef struct RecParams
{
	RecAlgorithm algorithm;
	int			rank;
	double		lambda;
	int			iterations;
	int64		seed;
	double		alpha;
	int			power_iterations;
	int			neighbors;
	double		shrinkage;
	int			min_support;
	bool		adjusted;		/* adjusted cosine: values centred on each user's mean */
	double		half_life_days;
} RecParams;

/* a model as dwc._rec_resolve() returns it */
typedef struct RecModel
{
	int64		id;
	RecParams	params;
	Oid			owner;
	char	   *owner_user;		/* NULL when none */
	int32		deployed;		/* 0 when none */
} RecModel;

/* the item side of a deployed version, cached per backend */
typedef struct ItemCache
{
	int64		model_id;
	int32		version;
	MemoryContext cxt;
	int			k;
	int			nitems;
	double		mean;
	char	  **ids;
	double	   *Y;				/* nitems × k; popularity: the scores, k = 1 */
	double	   *norm;			/* |y_i| */
	double	   *YtY;			/* k × k, for implicit fold-in */
	int			K;				/* item_knn: neighbours per item */
	int		   *nb_idx;			/* nitems × K positions, -1 past the last */
	double	   *nb_sim;
	double	   *n;				/* interactions per item */
	HTAB	   *index;			/* id -> position */
} ItemCache;

typedef struct IndexEntry
{
	char		key[201];
	int			pos;
} IndexEntry;

/* a few models' items, the least recently used replaced first */
#define CACHED_MODELS 4

static ItemCache caches[CACHED_MODELS];
static uint64 cache_clock = 0;
static uint64 cache_used[CACHED_MODELS];

/* ---- running as the owner of dwc's tables --------------------------------- */

typedef struct AsOwner
{
	Oid			caller;			/* who dwc acts for, taken before the switch */
	Oid			userid;
	int			sec;
} AsOwner;

static void
as_owner(AsOwner *save)
{
	save->caller = DwcEffectiveUserId();
	GetUserIdAndSecContext(&save->userid, &save->sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save->sec | SECURITY_LOCAL_USERID_CHANGE);
}

static void
as_caller(const AsOwner *save)
{
	SetUserIdAndSecContext(save->userid, save->sec);
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

static void
parse_params(const char *algorithm, Jsonb *hp, RecParams *p)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	static const char *const later[] = {"bpr", "content", "hybrid", NULL};
	int			i;

	memset(p, 0, sizeof(*p));
	p->rank = 10;
	p->lambda = 0.1;
	p->iterations = 10;
	p->seed = 1;
	p->half_life_days = 30;
	p->alpha = 40;
	p->power_iterations = 2;
	p->neighbors = 50;
	p->shrinkage = 10;
	p->min_support = 1;
	if (strcmp(algorithm, "als") == 0)
		p->algorithm = REC_ALS;
	else if (strcmp(algorithm, "implicit_als") == 0)
		p->algorithm = REC_IALS;
	else if (strcmp(algorithm, "svd") == 0)
		p->algorithm = REC_SVD;
	else if (strcmp(algorithm, "item_knn") == 0)
		p->algorithm = REC_KNN;
	else if (strcmp(algorithm, "user_knn") == 0)
		p->algorithm = REC_UKNN;
	else if (strcmp(algorithm, "popularity") == 0)
		p->algorithm = REC_POPULARITY;
	else
	{
		for (i = 0; later[i]; i++)
			if (strcmp(algorithm, later[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("recommendation algorithm \"%s\" is not supported yet", algorithm),
						 errhint("Supported: als, implicit_als, svd, item_knn, user_knn, popularity (docs/recommend.md lists the others as missing).")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown recommendation algorithm \"%s\"", algorithm),
				 errhint("Supported: als, implicit_als, svd, item_knn, user_knn, popularity.")));
	}
	if (hp == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(hp))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hyperparameters must be a JSON object")));
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
		else if (IS_ALS(p->algorithm) && strcmp(key, "lambda") == 0)
		{
			p->lambda = number_of(&val, key);
			if (!(p->lambda > 0 && p->lambda <= 1e6))
				bad_range(key, "above 0 and at most 1e6");
		}
		else if (IS_ALS(p->algorithm) && strcmp(key, "iterations") == 0)
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
		else if (IS_KNN(p->algorithm) && strcmp(key, "neighbors") == 0)
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
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown hyperparameter \"%s\" for algorithm %s", key, algorithm),
					 errhint(p->algorithm == REC_ALS ? "als takes rank, lambda, iterations and seed."
							 : p->algorithm == REC_IALS ? "implicit_als takes rank, lambda, alpha, iterations and seed."
							 : p->algorithm == REC_SVD ? "svd takes rank, power_iterations and seed."
							 : IS_KNN(p->algorithm) ? "item_knn and user_knn take neighbors, shrinkage, min_support and similarity."
							 : "popularity takes half_life_days.")));
	}
}

/* dwc._rec_check_model(algorithm, hyperparameters): errors when they are not valid */
Datum
dwc__rec_check_model(PG_FUNCTION_ARGS)
{
	RecParams	p;

	DWC_REQUIRE_ARG(0, "algorithm");
	parse_params(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), &p);
	PG_RETURN_VOID();
}

/* ---- prepared plans of the hot paths ------------------------------------- */

#define MAX_PLANS 8

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
static int
run_prepared(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls, bool read_only, long count)
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

static void
resolve_model(const char *name, Oid caller, RecModel *m)
{
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		args[2] = {CStringGetTextDatum(name), ObjectIdGetDatum(caller)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	if (run_prepared(RESOLVE_SQL, 2, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look up the recommendation model");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	m->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	d = SPI_getbinval(tup, desc, 3, &isnull);
	parse_params(SPI_getvalue(tup, desc, 2), DatumGetJsonbPCopy(d), &m->params);
	m->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
	m->owner_user = SPI_getvalue(tup, desc, 5);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	m->deployed = isnull ? 0 : DatumGetInt32(d);
}

static void
require_deployed(const RecModel *m, const char *name)
{
	if (m->deployed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("recommendation model \"%s\" has no trained version", name),
				 errhint("Train it with dwc.rec_train().")));
}

/*
 * The owner's condition on a table with (owner, owner_user), parameters $1 and
 * $2; written as the expression indexes are (IS NOT DISTINCT FROM is not
 * indexable).
 */
#define OWNER_IS "owner = $1 AND coalesce(owner_user, '') = coalesce($2, '')"

static void
owner_args(const RecModel *m, Oid *types, Datum *args, char *nulls)
{
	types[0] = OIDOID;
	types[1] = TEXTOID;
	args[0] = ObjectIdGetDatum(m->owner);
	args[1] = m->owner_user ? CStringGetTextDatum(m->owner_user) : (Datum) 0;
	nulls[0] = ' ';
	nulls[1] = m->owner_user ? ' ' : 'n';
}

/* ---- id maps -------------------------------------------------------------- */

static HTAB *
new_index(const char *name, long size, MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(((IndexEntry *) NULL)->key);
	ctl.entrysize = sizeof(IndexEntry);
	ctl.hcxt = cxt;
	return hash_create(name, Max(size, 16), &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* the position of id, adding it (as the next position) when add */
static int
index_of(HTAB *index, const char *id, bool add, int *count)
{
	IndexEntry *e;
	bool		found;

	e = hash_search(index, id, add ? HASH_ENTER : HASH_FIND, &found);
	if (e == NULL)
		return -1;
	if (!found)
		e->pos = (*count)++;
	return e->pos;
}

/* ---- training ------------------------------------------------------------- */

typedef struct Triple
{
	int			u;
	int			i;
	double		v;
	bool		test;
} Triple;

static void
build_csr(const Triple *t, int nt, int nrows, bool by_user, bool test, RecCsr *m)
{
	int			j;
	int		   *fill;

	m->nrows = nrows;
	m->ptr = palloc0(sizeof(int) * (nrows + 1));
	for (j = 0; j < nt; j++)
		if (t[j].test == test)
			m->ptr[(by_user ? t[j].u : t[j].i) + 1]++;
	for (j = 0; j < nrows; j++)
		m->ptr[j + 1] += m->ptr[j];
	m->idx = palloc(sizeof(int) * Max(m->ptr[nrows], 1));
	m->val = palloc(sizeof(double) * Max(m->ptr[nrows], 1));
	fill = palloc(sizeof(int) * Max(nrows, 1));
	memcpy(fill, m->ptr, sizeof(int) * nrows);
	for (j = 0; j < nt; j++)
	{
		int			r;

		if (t[j].test != test)
			continue;
		r = by_user ? t[j].u : t[j].i;
		m->idx[fill[r]] = by_user ? t[j].i : t[j].u;
		m->val[fill[r]] = t[j].v;
		fill[r]++;
	}
	pfree(fill);
}

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
				strcmp(key, "relevant") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown training option \"%s\"", key),
						 errhint("Options: test_size, seed, k, relevant.")));
		}
	}
}

static double
elapsed_ms(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MILLISEC(now);
}

/* splitmix64 for the held-out split */
static uint64
split_random(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
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

/* store rows of one side: ids, factors (n × k), counts */
static void
store_side(int64 model_id, int32 version, char side, char **ids, const double *F, const double *cnt, int n, int k)
{
	Datum	   *idd = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *fd = palloc(sizeof(Datum) * Max((size_t) n * k, 1));
	Datum	   *cd = palloc(sizeof(Datum) * Max(n, 1));
	Oid			types[6] = {INT8OID, INT4OID, CHAROID, TEXTARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID};
	Datum		args[6];
	size_t		j;

	if (n == 0)
		return;
	for (j = 0; j < (size_t) n; j++)
	{
		idd[j] = CStringGetTextDatum(ids[j]);
		cd[j] = Int32GetDatum((int32) Min(cnt[j], (double) PG_INT32_MAX));
	}
	for (j = 0; j < (size_t) n * k; j++)
		fd[j] = Float8GetDatum(F[j]);
	args[0] = Int64GetDatum(model_id);
	args[1] = Int32GetDatum(version);
	args[2] = CharGetDatum(side);
	args[3] = PointerGetDatum(construct_array(idd, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(fd, n * k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[5] = PointerGetDatum(construct_array(cd, n, INT4OID, 4, true, TYPALIGN_INT));
	if (SPI_execute_with_args(psprintf("INSERT INTO dwc.rec_factors (model_id, version, side, id, factors, n) "
									   "SELECT $1, $2, $3, $4[g], $5[(g - 1) * %d + 1 : g * %d], $6[g] "
									   "FROM generate_subscripts($4, 1) g", k, k),
							  6, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the model's factors");
}

/* store an item_knn version's neighbour lists */
static void
store_neighbors(int64 model_id, int32 version, char side, char **ids, const int *nb_idx, const double *nb_sim,
				int nitems, int K)
{
	Datum	   *idd = palloc(sizeof(Datum) * Max(nitems, 1));
	Datum	   *nd = palloc(sizeof(Datum) * Max((size_t) nitems * K, 1));
	Datum	   *sd = palloc(sizeof(Datum) * Max((size_t) nitems * K, 1));
	bool	   *nn = palloc(sizeof(bool) * Max((size_t) nitems * K, 1));
	Oid			types[6] = {INT8OID, INT4OID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, CHAROID};
	Datum		args[6];
	int			dims[1];
	int			lbs[1] = {1};
	size_t		j;

	if (nitems == 0)
		return;
	for (j = 0; j < (size_t) nitems; j++)
		idd[j] = CStringGetTextDatum(ids[j]);
	for (j = 0; j < (size_t) nitems * K; j++)
	{
		nn[j] = nb_idx[j] < 0;
		nd[j] = nb_idx[j] < 0 ? (Datum) 0 : CStringGetTextDatum(ids[nb_idx[j]]);
		sd[j] = Float8GetDatum(nb_sim[j]);
	}
	dims[0] = nitems * K;
	args[0] = Int64GetDatum(model_id);
	args[1] = Int32GetDatum(version);
	args[2] = PointerGetDatum(construct_array(idd, nitems, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_md_array(nd, nn, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(sd, nitems * K, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[5] = CharGetDatum(side);
	/* each item's slice, without the padding past its last neighbour */
	if (SPI_execute_with_args(psprintf("INSERT INTO dwc.rec_neighbors (model_id, version, side, id, neighbors, similarities) "
									   "SELECT $1, $2, $6, $3[g], array_remove($4[(g - 1) * %d + 1 : g * %d], NULL), "
									   "($5[(g - 1) * %d + 1 : g * %d])[1 : cardinality(array_remove($4[(g - 1) * %d + 1 : g * %d], NULL))] "
									   "FROM generate_subscripts($3, 1) g", K, K, K, K, K, K),
							  6, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the model's neighbours");
}

/* a user's kNN scores from the n entries (idx, val) of their row; adjusted: centre them first */
static void
knn_scores(const int *idx, const double *val, int n, bool adjusted, const int *nb_idx, const double *nb_sim, int K,
		   int nitems, double *scores, double *work, double *centred, double *umean)
{
	double		mu = 0;
	int			e;

	for (e = 0; e < n; e++)
		mu += val[e];
	mu = n > 0 ? mu / n : 0;
	for (e = 0; e < n; e++)
		centred[e] = adjusted ? val[e] - mu : val[e];
	rec_knn_scores(idx, centred, n, nb_idx, nb_sim, K, nitems, scores, work);
	if (adjusted)
		for (e = 0; e < nitems; e++)
			scores[e] += mu;
	*umean = mu;
}

/*
 * User-kNN scores of a training user u: from the rows of R (by user, the
 * training values) of u's neighbours, centred on their means (umean) for the
 * adjusted cosine, plus u's mean.
 */
static void
uknn_scores(int u, const RecCsr *R, bool adjusted, const double *umean, const int *nb_idx, const double *nb_sim,
			int K, int nitems, double *scores, double *work)
{
	RecCsr		c = *R;
	int			e;

	if (adjusted)
	{
		/* a centred copy of R's values (the neighbours' rows are all that is read) */
		c.val = palloc(sizeof(double) * Max(R->ptr[R->nrows], 1));
		for (e = 0; e < K && nb_idx[(size_t) u * K + e] >= 0; e++)
		{
			int			v = nb_idx[(size_t) u * K + e],
						f;

			for (f = R->ptr[v]; f < R->ptr[v + 1]; f++)
				c.val[f] = R->val[f] - umean[v];
		}
	}
	rec_user_knn_scores(nb_idx + (size_t) u * K, nb_sim + (size_t) u * K, K, &c, nitems, scores, work);
	if (adjusted)
	{
		for (e = 0; e < nitems; e++)
			scores[e] += umean[u];
		pfree(c.val);
	}
}

static Jsonb *
train(const char *name, Jsonb *options, MemoryContext outer, Oid caller)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "dwc rec training", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RecModel	m;
	Oid			types[2];
	Datum		args[2];
	char		nulls[2];
	instr_time	t0;
	double		test_size;
	uint64		state;
	int			topk;
	double		relevant_min;
	HTAB	   *users,
			   *items;
	int			nusers = 0,
				nitems = 0,
				nt,
				ntrain = 0,
				ntest = 0,
				k = 1,
				j;
	Triple	   *t;
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
	StringInfoData metrics;
	bool		first = true;
	int32		version;
	Jsonb	   *result;

	INSTR_TIME_SET_CURRENT(t0);
	check_options(options);
	test_size = jnum_opt(options, "test_size", 0.2);
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

	resolve_model(name, caller, &m);
	owner_args(&m, types, args, nulls);
	/* the latest value of each (user, item), in a stable order for the split */
	if (SPI_execute_with_args("SELECT DISTINCT ON (user_id, item_id) user_id, item_id, value, "
							  "extract(epoch FROM now() - at) / 86400 FROM dwc.rec_interactions WHERE " OWNER_IS
							  " ORDER BY user_id, item_id, at DESC, id DESC",
							  2, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the interactions");
	nt = (int) SPI_processed;
	if (nt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("there are no interactions to train recommendation model \"%s\" on", name),
				 errhint("Record them with dwc.rec_interact().")));
	users = new_index("dwc rec users", nt / 8, cxt);
	items = new_index("dwc rec items", nt / 8, cxt);
	t = palloc(sizeof(Triple) * nt);
	uid = palloc(sizeof(char *) * nt);
	iid = palloc(sizeof(char *) * nt);
	for (j = 0; j < nt; j++)
	{
		HeapTuple	tup = SPI_tuptable->vals[j];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *u = SPI_getvalue(tup, desc, 1);
		char	   *i = SPI_getvalue(tup, desc, 2);
		double		age = DatumGetFloat8(DirectFunctionCall1(numeric_float8, SPI_getbinval(tup, desc, 4, &isnull)));
		int			before;

		CHECK_FOR_INTERRUPTS();
		before = nusers;
		t[j].u = index_of(users, u, true, &nusers);
		if (nusers > before)
			uid[t[j].u] = u;
		before = nitems;
		t[j].i = index_of(items, i, true, &nitems);
		if (nitems > before)
			iid[t[j].i] = i;
		t[j].v = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		if (m.params.algorithm == REC_POPULARITY)
			t[j].v *= pow(0.5, Max(age, 0) / m.params.half_life_days);
		t[j].test = test_size > 0 && (double) (split_random(&state) >> 11) / 9007199254740992.0 < test_size;
		if (t[j].test)
			ntest++;
		else
		{
			ntrain++;
			mean += t[j].v;
		}
	}
	if (ntrain == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no interaction is left to train on"),
				 errhint("Lower test_size.")));
	/* implicit values are weights of preferences, not ratings to centre */
	mean = m.params.algorithm == REC_ALS ? mean / ntrain : IS_KNN(m.params.algorithm) ? mean : 0;
	ucount = palloc0(sizeof(double) * nusers);
	icount = palloc0(sizeof(double) * nitems);
	for (j = 0; j < nt; j++)
		if (!t[j].test)
		{
			ucount[t[j].u] += 1;
			icount[t[j].i] += m.params.algorithm == REC_POPULARITY ? t[j].v : 1;
		}

	if (m.params.algorithm == REC_ALS)
	{
		RecCsr		bu,
					bi;
		double	   *scratch;
		int			info;

		k = m.params.rank;
		for (j = 0; j < nt; j++)
			t[j].v -= t[j].test ? 0 : mean;
		build_csr(t, nt, nusers, true, false, &bu);
		build_csr(t, nt, nitems, false, false, &bi);
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
		build_csr(t, nt, nusers, true, false, &bu);
		build_csr(t, nt, nitems, false, false, &bi);
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
		build_csr(t, nt, nusers, true, false, &bu);
		X = palloc_extended(sizeof(double) * (size_t) nusers * k, MCXT_ALLOC_HUGE);
		Y = palloc_extended(sizeof(double) * (size_t) nitems * k, MCXT_ALLOC_HUGE);
		info = rec_svd_fit(&bu, nitems, k, m.params.power_iterations, (uint64_t) m.params.seed, X, Y);
		if (info != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the truncated SVD failed (LAPACK info %d)", info)));
	}
	else if (IS_KNN(m.params.algorithm))
	{
		RecCsr		bu,
					bi;
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
		build_csr(t, nt, nusers, true, false, &bu);
		build_csr(t, nt, nitems, false, false, &bi);
		if (m.params.adjusted)
			for (j = 0; j < nt; j++)
				if (!t[j].test)
					t[j].v += umean[t[j].u];
		K = m.params.neighbors;
		nb_idx = palloc_extended(sizeof(int) * (size_t) nrows * K, MCXT_ALLOC_HUGE);
		nb_sim = palloc_extended(sizeof(double) * (size_t) nrows * K, MCXT_ALLOC_HUGE);
		/* items' neighbours through the users' rows, or users' through the items' */
		if (m.params.algorithm == REC_KNN)
			rec_item_knn(&bu, &bi, K, m.params.shrinkage, m.params.min_support, nb_idx, nb_sim,
						 palloc(sizeof(double) * Max(nrows, 1)), palloc(sizeof(int) * Max(nrows, 1)),
						 palloc(sizeof(int) * Max(nrows, 1)));
		else
			rec_item_knn(&bi, &bu, K, m.params.shrinkage, m.params.min_support, nb_idx, nb_sim,
						 palloc(sizeof(double) * Max(nrows, 1)), palloc(sizeof(int) * Max(nrows, 1)),
						 palloc(sizeof(int) * Max(nrows, 1)));
		X = NULL;
		Y = palloc0(sizeof(double) * Max(nitems, 1));	/* no factors: one zero per item */
	}
	else
	{
		X = NULL;
		Y = icount;				/* the decayed sums are the scores */
	}

	/* ---- held-out metrics ---- */
	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	put_num(&metrics, "k", topk, &first);
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

		/* kNN predictions of the held-out values, where the user's items reach them */
		if (IS_KNN(m.params.algorithm))
		{
			RecCsr		te,
						tn;
			double	   *sc = palloc(sizeof(double) * Max(nitems, 1));
			double	   *wk = palloc(sizeof(double) * Max(nitems, 1));
			double	   *cen = palloc(sizeof(double) * Max(nitems, 1));
			double		base = 0,
						mu;
			int			predicted = 0,
						u,
						e;

			build_csr(t, nt, nusers, true, true, &te);
			build_csr(t, nt, nusers, true, false, &tn);
			for (u = 0; u < nusers; u++)
			{
				if (te.ptr[u] == te.ptr[u + 1])
					continue;
				CHECK_FOR_INTERRUPTS();
				if (m.params.algorithm == REC_UKNN)
					uknn_scores(u, &tn, m.params.adjusted, umean, nb_idx, nb_sim, K, nitems, sc, wk);
				else
					knn_scores(tn.idx + tn.ptr[u], tn.val + tn.ptr[u], tn.ptr[u + 1] - tn.ptr[u], m.params.adjusted,
							   nb_idx, nb_sim, K, nitems, sc, wk, cen, &mu);
				for (e = te.ptr[u]; e < te.ptr[u + 1]; e++)
				{
					double		p = sc[te.idx[e]];

					if (isnan(p))
						continue;
					predicted++;
					se += (p - te.val[e]) * (p - te.val[e]);
					ae += fabs(p - te.val[e]);
					base += (mean / ntrain - te.val[e]) * (mean / ntrain - te.val[e]);
				}
			}
			if (predicted > 0)
			{
				put_num(&metrics, "rmse", sqrt(se / predicted), &first);
				put_num(&metrics, "mae", ae / predicted, &first);
				put_num(&metrics, "rmse_of_mean", sqrt(base / predicted), &first);
			}
			put_num(&metrics, "predicted_share", (double) predicted / ntest, &first);
		}

		/* ranking: each user's top k among the items they did not train on */
		build_csr(t, nt, nusers, true, true, &tu);
		if (m.params.algorithm == REC_ALS)
		{
			for (j = 0; j < nt; j++)
				t[j].v += t[j].test ? 0 : mean;
		}
		build_csr(t, nt, nusers, true, false, &tr);
		for (u = 0; u < nusers; u++)
		{
			int			nrel = 0,
						ntop,
						e;

			CHECK_FOR_INTERRUPTS();
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
				{
					double	   *wk = palloc(sizeof(double) * Max(nitems, 1));

					uknn_scores(u, &tr, m.params.adjusted, umean, nb_idx, nb_sim, K, nitems, scores, wk);
					pfree(wk);
				}
				else if (m.params.algorithm == REC_KNN)
				{
					double	   *wk = palloc(sizeof(double) * Max(nitems, 1));
					double	   *cen = palloc(sizeof(double) * Max(tr.ptr[u + 1] - tr.ptr[u], 1));
					double		mu;

					knn_scores(tr.idx + tr.ptr[u], tr.val + tr.ptr[u], tr.ptr[u + 1] - tr.ptr[u],
							   m.params.adjusted, nb_idx, nb_sim, K, nitems, scores, wk, cen, &mu);
					pfree(wk);
					pfree(cen);
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
		Oid			vt[10] = {INT8OID, JSONBOID, FLOAT8OID, INT4OID, INT4OID, INT4OID, INT4OID, JSONBOID,
		FLOAT8OID, OIDOID};
		Datum		va[10];
		bool		isnull;
		StringInfoData hp;

		initStringInfo(&hp);
		if (m.params.algorithm == REC_ALS)
			appendStringInfo(&hp, "{\"rank\": %d, \"lambda\": %.17g, \"iterations\": %d, \"seed\": " INT64_FORMAT "}",
							 m.params.rank, m.params.lambda, m.params.iterations, m.params.seed);
		else if (IS_KNN(m.params.algorithm))
			appendStringInfo(&hp, "{\"neighbors\": %d, \"shrinkage\": %.17g, \"min_support\": %d, "
							 "\"similarity\": \"%s\"}", m.params.neighbors, m.params.shrinkage,
							 m.params.min_support, m.params.adjusted ? "adjusted_cosine" : "cosine");
		else if (m.params.algorithm == REC_SVD)
			appendStringInfo(&hp, "{\"rank\": %d, \"power_iterations\": %d, \"seed\": " INT64_FORMAT "}",
							 k, m.params.power_iterations, m.params.seed);
		else if (m.params.algorithm == REC_IALS)
			appendStringInfo(&hp, "{\"rank\": %d, \"lambda\": %.17g, \"alpha\": %.17g, \"iterations\": %d, "
							 "\"seed\": " INT64_FORMAT "}", m.params.rank, m.params.lambda, m.params.alpha,
							 m.params.iterations, m.params.seed);
		else
			appendStringInfo(&hp, "{\"half_life_days\": %.17g}", m.params.half_life_days);
		va[0] = Int64GetDatum(m.id);
		va[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(hp.data));
		va[2] = Float8GetDatum(IS_KNN(m.params.algorithm) ? 0 : mean);
		va[3] = Int32GetDatum(nusers);
		va[4] = Int32GetDatum(nitems);
		va[5] = Int32GetDatum(ntrain);
		va[6] = Int32GetDatum(ntest);
		va[7] = DirectFunctionCall1(jsonb_in, CStringGetDatum(metrics.data));
		va[8] = Float8GetDatum(0);
		va[9] = ObjectIdGetDatum(caller);
		if (SPI_execute_with_args("INSERT INTO dwc.rec_versions (model_id, version, hyperparameters, mean, users, "
								  "items, train_interactions, test_interactions, metrics, training_ms) "
								  "SELECT $1, coalesce((SELECT max(version) FROM dwc.rec_versions WHERE model_id = $1), 0) + 1, "
								  "$2, $3, $4, $5, $6, $7, $8, $9 RETURNING version",
								  9, vt, va, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "could not store the model version");
		version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		if (HAS_FACTORS(m.params.algorithm))
			store_side(m.id, version, 'u', uid, X, ucount, nusers, k);
		store_side(m.id, version, 'i', iid, Y, icount, nitems, HAS_FACTORS(m.params.algorithm) ? k : 1);
		if (m.params.algorithm == REC_KNN)
			store_neighbors(m.id, version, 'i', iid, nb_idx, nb_sim, nitems, K);
		else if (m.params.algorithm == REC_UKNN)
			store_neighbors(m.id, version, 'u', uid, nb_idx, nb_sim, nusers, K);
		va[1] = Int32GetDatum(version);
		va[2] = Float8GetDatum(elapsed_ms(t0));
		vt[1] = INT4OID;
		vt[2] = FLOAT8OID;
		if (SPI_execute_with_args("UPDATE dwc.rec_versions SET training_ms = $3 WHERE model_id = $1 AND version = $2",
								  3, vt, va, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("UPDATE dwc.rec_models SET deployed_version = $2, updated_at = now() WHERE id = $1",
								  2, vt, va, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not deploy the model version");
		if (SPI_execute_with_args("SELECT jsonb_build_object('model', m.name, 'version', v.version, 'users', v.users, "
								  "'items', v.items, 'train_interactions', v.train_interactions, "
								  "'test_interactions', v.test_interactions, 'metrics', v.metrics, "
								  "'training_ms', round(v.training_ms::numeric, 3), 'deployed_version', m.deployed_version) "
								  "FROM dwc.rec_versions v JOIN dwc.rec_models m ON m.id = v.model_id "
								  "WHERE v.model_id = $1 AND v.version = $2",
								  2, vt, va, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read the model version back");
		MemoryContextSwitchTo(outer);
		result = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
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
	as_owner(&save);
	PG_TRY();
	{
		result = train(model, options, outer, save.caller);
	}
	PG_FINALLY();
	{
		as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

/* ---- the cached item side ------------------------------------------------- */

/* the deployed version's items, loaded unless cached; SPI connected, as owner */
static ItemCache *
load_items(const RecModel *m)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(m->id), Int32GetDatum(m->deployed)};
	MemoryContext cxt,
				old;
	int			j,
				count = 0;
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

	if (SPI_execute_with_args("SELECT id, factors, n, (SELECT mean FROM dwc.rec_versions WHERE model_id = $1 AND version = $2) "
							  "FROM dwc.rec_factors WHERE model_id = $1 AND version = $2 AND side = 'i' ORDER BY id",
							  2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the model's items");
	cxt = AllocSetContextCreate(TopMemoryContext, "dwc rec items", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	slot->nitems = (int) SPI_processed;
	slot->ids = palloc(sizeof(char *) * Max(slot->nitems, 1));
	slot->n = palloc(sizeof(double) * Max(slot->nitems, 1));
	slot->index = new_index("dwc rec item index", slot->nitems, cxt);
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
			slot->Y = palloc_extended(sizeof(double) * (size_t) slot->nitems * k, MCXT_ALLOC_HUGE);
			slot->norm = palloc(sizeof(double) * slot->nitems);
		}
		if (k != slot->k || ARR_HASNULL(a))
			elog(ERROR, "item %s of the model has malformed factors", SPI_getvalue(tup, desc, 1));
		memcpy(slot->Y + (size_t) j * k, ARR_DATA_PTR(a), sizeof(double) * k);
		slot->norm[j] = cblas_dnrm2(k, slot->Y + (size_t) j * k, 1);
		slot->ids[j] = SPI_getvalue(tup, desc, 1);
		slot->n[j] = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		(void) index_of(slot->index, slot->ids[j], true, &count);
	}
	if (slot->nitems > 0)
	{
		slot->YtY = palloc(sizeof(double) * slot->k * slot->k);
		rec_gram(slot->Y, slot->nitems, slot->k, slot->YtY);
	}
	if (m->params.algorithm == REC_KNN)
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
			int			dummy = 0;
			int			pos = index_of(slot->index, SPI_getvalue(tup, desc, 1), false, &dummy);
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
				char	   *id = TextDatumGetCString(nbs[e]);
				int			q = strlen(id) < sizeof(((IndexEntry *) NULL)->key) ? index_of(slot->index, id, false, &dummy) : -1;

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
static double *
user_factors(const RecModel *m, const char *user, int k)
{
	Oid			types[3] = {INT8OID, INT4OID, TEXTOID};
	Datum		args[3] = {Int64GetDatum(m->id), Int32GetDatum(m->deployed), CStringGetTextDatum(user)};
	ArrayType  *a;
	bool		isnull;
	double	   *x;

	if (run_prepared(USER_SQL, 3, types, args, NULL, true, 1) != SPI_OK_SELECT)
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

/* a user's latest value of each item */
static const char USER_VALUES_SQL[] =
"SELECT DISTINCT ON (item_id) item_id, value FROM dwc.rec_interactions WHERE " OWNER_IS
" AND user_id = $3 ORDER BY item_id, at DESC, id DESC";

static const char THEIRS_SQL[] =
"SELECT DISTINCT item_id FROM dwc.rec_interactions WHERE " OWNER_IS " AND user_id = $3";
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
	int			dummy = 0;

	owner_args(m, types, args, nulls);
	types[2] = type3;
	args[2] = arg3;
	nulls[2] = ' ';
	if (run_prepared(query, 3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not select items");
	for (j = 0; j < SPI_processed; j++)
	{
		int			pos = index_of(c->index, SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1),
								   false, &dummy);

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

/*
 * A user's kNN scores of every item (NaN where none of their items reaches
 * it), from their interactions as they are now; false when the model knows
 * none of their items.
 */
static bool
user_knn_scores(const RecModel *m, ItemCache *c, const char *user, double *scores)
{
	Oid			types[3];
	Datum		args[3];
	char		nulls[3];
	int		   *idx;
	double	   *val;
	int			n = 0,
				dummy = 0;
	uint64		j;
	double		mu;

	owner_args(m, types, args, nulls);
	types[2] = TEXTOID;
	args[2] = CStringGetTextDatum(user);
	nulls[2] = ' ';
	if (run_prepared(USER_VALUES_SQL, 3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the user's interactions");
	idx = palloc(sizeof(int) * Max(SPI_processed, 1));
	val = palloc(sizeof(double) * Max(SPI_processed, 1));
	for (j = 0; j < SPI_processed; j++)
	{
		bool		isnull;
		char	   *id = SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1);
		int			pos = strlen(id) < sizeof(((IndexEntry *) NULL)->key) ? index_of(c->index, id, false, &dummy) : -1;

		if (pos < 0)
			continue;
		idx[n] = pos;
		val[n] = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2, &isnull));
		n++;
	}
	if (n == 0)
		return false;
	knn_scores(idx, val, n, m->params.adjusted, c->nb_idx, c->nb_sim, c->K, c->nitems, scores,
			   palloc(sizeof(double) * Max(c->nitems, 1)), palloc(sizeof(double) * n), &mu);
	return true;
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

	if (run_prepared(USER_NEIGHBORS_SQL, 3, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the user's neighbours");
	if (SPI_processed == 0)
		return false;
	names = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	sims = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &nbs, &nbnull, &nnb);
	if (nnb == 0 || nnb != ArrayGetNItems(ARR_NDIM(sims), ARR_DIMS(sims)) || ARR_HASNULL(sims))
		return false;
	sim = (double *) ARR_DATA_PTR(sims);
	pos = new_index("dwc rec neighbours", nnb, CurrentMemoryContext);
	for (t = 0; t < nnb; t++)
	{
		char	   *id = TextDatumGetCString(nbs[t]);

		if (strlen(id) < sizeof(((IndexEntry *) NULL)->key))
			(void) index_of(pos, id, true, &count);
	}
	/* the neighbours' latest values, as rows of R in the neighbours' order */
	owner_args(m, types, args, nulls);
	types[2] = TEXTARRAYOID;
	args[2] = PointerGetDatum(names);
	nulls[2] = ' ';
	if (run_prepared(NEIGHBOR_VALUES_SQL, 3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the neighbours' interactions");
	R.nrows = nnb;
	R.ptr = palloc0(sizeof(int) * (nnb + 1));
	R.idx = palloc(sizeof(int) * Max(SPI_processed, 1));
	R.val = palloc(sizeof(double) * Max(SPI_processed, 1));
	sum = palloc0(sizeof(double) * nnb);
	cnt = palloc0(sizeof(int) * nnb);
	for (j = 0; j < SPI_processed; j++)
	{
		int			v = index_of(pos, SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1), false, &dummy);

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
		int			v = index_of(pos, SPI_getvalue(tup, desc, 1), false, &dummy);
		char	   *item = SPI_getvalue(tup, desc, 2);
		int			i = strlen(item) < sizeof(((IndexEntry *) NULL)->key) ? index_of(c->index, item, false, &dummy) : -1;
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
		double		mu = 0;
		int			k = 0,
					e;

		owner_args(m, types, args, nulls);
		types[2] = TEXTOID;
		args[2] = CStringGetTextDatum(user);
		nulls[2] = ' ';
		if (run_prepared(USER_VALUES_SQL, 3, types, args, nulls, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the user's interactions");
		for (j = 0; j < SPI_processed; j++, k++)
			mu += DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2, &isnull));
		mu = k > 0 ? mu / k : 0;
		for (e = 0; e < c->nitems; e++)
			scores[e] += mu;
	}
	return true;
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
	double	   *x = NULL;

	resolve_model(r->model, r->caller, &m);
	require_deployed(&m, r->model);
	c = load_items(&m);
	scores = palloc(sizeof(double) * Max(c->nitems, 1));
	excluded = palloc0(Max(c->nitems, 1));
	if (HAS_FACTORS(m.params.algorithm))
		x = user_factors(&m, r->user, c->k);
	if (m.params.algorithm == REC_KNN && user_knn_scores(&m, c, r->user, scores))
		;						/* the user's items reached some others */
	else if (m.params.algorithm == REC_UKNN && user_uknn_scores(&m, c, r->user, scores))
		;						/* the user has neighbours */
	else if (x != NULL)
	{
		cblas_dgemv(CblasRowMajor, CblasNoTrans, c->nitems, c->k, 1.0, c->Y, c->k, x, 1, 0.0, scores, 1);
		for (j = 0; j < c->nitems; j++)
			scores[j] += c->mean;
	}
	else if (HAS_FACTORS(m.params.algorithm) || IS_KNN(m.params.algorithm))
	{
		/* a user the model does not know: the items most interacted with */
		for (j = 0; j < c->nitems; j++)
			scores[j] = c->n[j];
	}
	else
		memcpy(scores, c->Y, sizeof(double) * c->nitems);
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
	as_owner(&save);
	PG_TRY();
	{
		r.caller = save.caller;
		recommend(fcinfo, &r);
	}
	PG_FINALLY();
	{
		as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_NULL();
}

/* the item's position in an ALS model's cache, or an error */
static int
known_item(const RecModel *m, ItemCache *c, const char *item, const char *model)
{
	int			dummy = 0;
	int			pos;

	if (!HAS_FACTORS(m->params.algorithm) && m->params.algorithm != REC_KNN)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recommendation model \"%s\" has no item factors to compare", model),
				 errhint("Similar items and explanations need an als, implicit_als, svd or item_knn model.")));
	pos = strlen(item) < sizeof(((IndexEntry *) NULL)->key) ? index_of(c->index, item, false, &dummy) : -1;
	if (pos < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("item \"%s\" is not known to recommendation model \"%s\"", item, model)));
	return pos;
}

/* cosine of every item with item p: of the factors, or kNN's similarities (-inf past them) */
static void
cosines(ItemCache *c, int p, double *scores)
{
	int			j;

	if (c->nb_idx != NULL)
	{
		for (j = 0; j < c->nitems; j++)
			scores[j] = -INFINITY;
		for (j = 0; j < c->K && c->nb_idx[(size_t) p * c->K + j] >= 0; j++)
			scores[c->nb_idx[(size_t) p * c->K + j]] = c->nb_sim[(size_t) p * c->K + j];
		return;
	}

	cblas_dgemv(CblasRowMajor, CblasNoTrans, c->nitems, c->k, 1.0, c->Y, c->k, c->Y + (size_t) p * c->k, 1, 0.0,
				scores, 1);
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
	as_owner(&save);
	PG_TRY();
	{
		RecModel	m;
		ItemCache  *c;
		int			p;
		double	   *scores;
		unsigned char *self;
		int		   *top;

		resolve_model(model, save.caller, &m);
		require_deployed(&m, model);
		c = load_items(&m);
		p = known_item(&m, c, item, model);
		scores = palloc(sizeof(double) * c->nitems);
		cosines(c, p, scores);
		self = palloc0(c->nitems);
		self[p] = 1;
		top = palloc(sizeof(int) * n);
		emit(fcinfo, c, top, rec_top_n(scores, c->nitems, self, n, top), scores);
	}
	PG_FINALLY();
	{
		as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_NULL();
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
	as_owner(&save);
	PG_TRY();
	{
		RecModel	m;
		ItemCache  *c;
		int			p,
					j,
					ntop;
		double	   *x;
		double	   *scores;
		unsigned char *not_theirs;
		int			top[5];
		StringInfoData b;

		resolve_model(model, save.caller, &m);
		require_deployed(&m, model);
		c = load_items(&m);
		p = known_item(&m, c, item, model);
		x = user_factors(&m, user, c->k);
		scores = palloc(sizeof(double) * c->nitems);
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
		if (m.params.algorithm == REC_KNN)
		{
			double	   *ks = palloc(sizeof(double) * c->nitems);
			bool		known = user_knn_scores(&m, c, user, ks);

			if (known && !isnan(ks[p]))
				appendStringInfo(&b, ", \"predicted\": %.6g, \"known_user\": true", ks[p]);
			else
				appendStringInfo(&b, ", \"predicted\": null, \"known_user\": %s", known ? "true" : "false");
		}
		else if (x)
			appendStringInfo(&b, ", \"predicted\": %.6g, \"known_user\": true",
							 c->mean + cblas_ddot(c->k, x, 1, c->Y + (size_t) p * c->k, 1));
		else
			appendStringInfoString(&b, ", \"predicted\": null, \"known_user\": false");
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
	}
	PG_FINALLY();
	{
		as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

/* ---- fold-in -------------------------------------------------------------- */

static const char FOLD_READ_SQL[] =
"SELECT DISTINCT ON (item_id) item_id, value FROM dwc.rec_interactions WHERE " OWNER_IS
" AND user_id = $3 ORDER BY item_id, at DESC, id DESC";
static const char FOLD_WRITE_SQL[] =
"INSERT INTO dwc.rec_factors (model_id, version, side, id, factors, n) VALUES ($1, $2, 'u', $3, $4, $5) "
"ON CONFLICT (model_id, version, side, id) DO UPDATE SET factors = excluded.factors, n = excluded.n";

/*
 * Re-solve one user's factors in a deployed ALS model from all their
 * interactions with the model's items, and store them.
 */
static void
fold_in(const RecModel *m, const char *user)
{
	ItemCache  *c = load_items(m);
	Oid			types[6];
	Datum		args[6];
	char		nulls[6];
	int		   *idx;
	double	   *val;
	double	   *scratch;
	double	   *x;
	int			n = 0,
				dummy = 0,
				info;
	uint64		j;
	Datum	   *fd;

	/* not read-only: a fresh snapshot, which sees the rows of the statement that fired us */
	owner_args(m, types, args, nulls);
	types[2] = TEXTOID;
	args[2] = CStringGetTextDatum(user);
	nulls[2] = ' ';
	if (run_prepared(FOLD_READ_SQL, 3, types, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the user's interactions");
	idx = palloc(sizeof(int) * Max(SPI_processed, 1));
	val = palloc(sizeof(double) * Max(SPI_processed, 1));
	for (j = 0; j < SPI_processed; j++)
	{
		bool		isnull;
		int			pos = index_of(c->index, SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1),
								   false, &dummy);

		if (pos < 0)
			continue;			/* an item the model has not seen */
		idx[n] = pos;
		val[n] = DatumGetFloat8(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2, &isnull)) - c->mean;
		n++;
	}
	if (n == 0)
		return;
	x = palloc(sizeof(double) * c->k);
	if (m->params.algorithm == REC_SVD)
	{
		/* PureSVD's user factors are R V: the user's row times the item factors */
		memset(x, 0, sizeof(double) * c->k);
		for (j = 0; j < (uint64) n; j++)
			cblas_daxpy(c->k, val[j], c->Y + (size_t) idx[j] * c->k, 1, x, 1);
		info = 0;
	}
	else if (m->params.algorithm == REC_IALS)
	{
		scratch = palloc(sizeof(double) * rec_ials_scratch(c->k, n));
		info = rec_solve_row_implicit(idx, val, n, c->Y, c->YtY, c->k, m->params.lambda, m->params.alpha, x,
									  scratch);
	}
	else
	{
		scratch = palloc(sizeof(double) * rec_als_scratch(c->k, n));
		info = rec_solve_row(idx, val, n, c->Y, c->k, m->params.lambda, x, scratch);
	}
	if (info != 0)
		return;					/* keep the previous factors */
	fd = palloc(sizeof(Datum) * c->k);
	for (j = 0; j < (uint64) c->k; j++)
		fd[j] = Float8GetDatum(x[j]);
	types[0] = INT8OID;
	types[1] = INT4OID;
	types[2] = TEXTOID;
	types[3] = FLOAT8ARRAYOID;
	types[4] = INT4OID;
	args[0] = Int64GetDatum(m->id);
	args[1] = Int32GetDatum(m->deployed);
	args[2] = CStringGetTextDatum(user);
	args[3] = PointerGetDatum(construct_array(fd, c->k, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[4] = Int32GetDatum(n);
	if (run_prepared(FOLD_WRITE_SQL, 5, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the user's factors");
}

/* trigger dwc._rec_fold_in(), AFTER INSERT ... FOR EACH STATEMENT with NEW TABLE added */
Datum
dwc__rec_fold_in(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	AsOwner		save;

	if (!CALLED_AS_TRIGGER(fcinfo) || td->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dwc._rec_fold_in() must be an AFTER INSERT statement trigger with a NEW TABLE")));
	SPI_connect();
	SPI_register_trigger_data(td);
	as_owner(&save);
	PG_TRY();
	{
		SPITupleTable *pairs;
		uint64		npairs,
					j;

		/* each (owner, user) of the statement once, with the deployed ALS models of that owner */
		if (SPI_execute("SELECT DISTINCT a.user_id, m.algorithm, m.owner, m.owner_user, m.id, m.hyperparameters, "
						"m.deployed_version FROM added a JOIN dwc.rec_models m ON m.owner = a.owner "
						"AND m.owner_user IS NOT DISTINCT FROM a.owner_user "
						"WHERE m.algorithm IN ('als', 'implicit_als', 'svd') AND m.deployed_version IS NOT NULL", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the new interactions");
		pairs = SPI_tuptable;
		npairs = SPI_processed;
		for (j = 0; j < npairs; j++)
		{
			HeapTuple	tup = pairs->vals[j];
			TupleDesc	desc = pairs->tupdesc;
			bool		isnull;
			RecModel	m;

			CHECK_FOR_INTERRUPTS();
			m.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
			m.owner_user = SPI_getvalue(tup, desc, 4);
			m.id = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
			parse_params(SPI_getvalue(tup, desc, 2), DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 6, &isnull)),
						 &m.params);
			m.deployed = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
			fold_in(&m, SPI_getvalue(tup, desc, 1));
		}
	}
	PG_FINALLY();
	{
		as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	return PointerGetDatum(NULL);
}
