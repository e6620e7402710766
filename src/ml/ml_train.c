/*-------------------------------------------------------------------------
 *
 * ml_train.c
 *		dwc.ml_train(), dwc.ml_retrain(), dwc.ml_train_async() and the
 *		small C helpers of src/ml/ml.sql.
 *
 * Training runs in the caller's own function call, as the caller, so that
 * the training source is read with the caller's rights and search_path;
 * only the model's row and the new version go through private SECURITY
 * DEFINER functions (_ml_train_begin, _ml_train_store), called through
 * fmgr with the caller's OID like the trampoline does.  Everything the
 * training allocates lives in one memory context, gone when it returns.
 *
 * src/ml/ml_train.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/regproc.h"

#include "core/timing.h"
#include "core/shmem.h"
#include "queue/queue.h"
#include "security/trampoline.h"
#include "ml/ml_pg.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc_ml_train);
PG_FUNCTION_INFO_V1(dwc_ml_retrain);
PG_FUNCTION_INFO_V1(dwc_ml_train_async);
PG_FUNCTION_INFO_V1(dwc__ml_models_changed);
PG_FUNCTION_INFO_V1(dwc__ml_check_hyperparameters);
PG_FUNCTION_INFO_V1(dwc_ml_artifact_info);

/* call private function dwc.<name>(...) for the caller, as the trampoline does */
static Datum
call_private(const char *name, int nargs, Oid *types, Datum *args, Oid caller)
{
	Oid			fn = LookupFuncName(list_make2(makeString("dwc"), makeString(pstrdup(name))), nargs, types, false);
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 4);
	Datum		result;
	int			i;

	Assert(nargs <= 4);
	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, nargs, InvalidOid, NULL, NULL);
	for (i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = args[i];
		fcinfo->args[i].isnull = false;
	}
	result = DwcCallAs(fcinfo, caller);
	if (fcinfo->isnull)
		elog(ERROR, "dwc.%s returned NULL", name);
	return result;
}

/* a key's value in a jsonb object; NULL when absent or JSON null */
static JsonbValue *
jfind(Jsonb *j, const char *key)
{
	JsonbValue *v = DwcMlJsonbKey(&j->root, key);

	return v == NULL || v->type == jbvNull ? NULL : v;
}

/* a string (or a number, as text) at key */
static char *
jstr(Jsonb *j, const char *key)
{
	JsonbValue *v = jfind(j, key);

	if (v != NULL && v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v != NULL && v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

static Jsonb *
jsub(Jsonb *j, const char *key)
{
	JsonbValue *v = jfind(j, key);

	return v ? JsonbValueToJsonb(v) : NULL;
}

/* ---- building the version's record ---- */

static void
put_key(JsonbParseState **st, const char *k)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = unconstify(char *, k);
	v.val.string.len = strlen(k);
	pushJsonbValue(st, WJB_KEY, &v);
}

static void
put_num(JsonbParseState **st, const char *k, double d)
{
	JsonbValue	v;

	put_key(st, k);
	if (isfinite(d))
	{
		v.type = jbvNumeric;
		v.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(d)));
	}
	else
		v.type = jbvNull;
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
put_str(JsonbParseState **st, const char *k, const char *s)
{
	JsonbValue	v;

	put_key(st, k);
	if (s)
	{
		v.type = jbvString;
		v.val.string.val = unconstify(char *, s);
		v.val.string.len = strlen(s);
	}
	else
		v.type = jbvNull;
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
put_jsonb(JsonbParseState **st, const char *k, Jsonb *j)
{
	JsonbValue	v;

	put_key(st, k);
	if (j)
	{
		v.type = jbvBinary;
		v.val.binary.data = &j->root;
		v.val.binary.len = VARSIZE(j) - VARHDRSZ;
	}
	else
		v.type = jbvNull;
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
put_bool(JsonbParseState **st, const char *k, bool b)
{
	JsonbValue	v;

	put_key(st, k);
	v.type = jbvBool;
	v.val.boolean = b;
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
put_strings(JsonbParseState **st, const char *k, char **strs, int n)
{
	int			i;

	put_key(st, k);
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		JsonbValue	v;

		v.type = jbvString;
		v.val.string.val = strs[i];
		v.val.string.len = strlen(strs[i]);
		pushJsonbValue(st, WJB_ELEM, &v);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/* metrics of the model on rows x (column-major) with truth y, and the version's score */
static Jsonb *
evaluate(MlModel *m, MlSchema *sch, const MlData *d, const char *on, double *score)
{
	JsonbParseState *st = NULL;
	double	   *pred = palloc_extended(sizeof(double) * Max(d->n, 1), MCXT_ALLOC_HUGE);
	double	   *proba = NULL;
	int			K = m->nclasses;

	if (m->task == ML_CLASSIFICATION && ml_has_proba(m))
		proba = palloc_extended(sizeof(double) * (size_t) Max(d->n, 1) * K, MCXT_ALLOC_HUGE);
	ml_predict_many(m, d->x, d->n, pred, proba);
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	put_str(&st, "evaluated_on", on);
	put_num(&st, "rows", d->n);
	if (m->task == ML_CLASSIFICATION)
	{
		MlClassMetrics cm;
		int			i,
					j;

		ml_class_metrics(d->y, pred, proba, d->n, K, &cm);
		put_num(&st, "accuracy", cm.accuracy);
		put_num(&st, "precision_macro", cm.precision_macro);
		put_num(&st, "recall_macro", cm.recall_macro);
		put_num(&st, "f1_macro", cm.f1_macro);
		put_num(&st, "precision_weighted", cm.precision_weighted);
		put_num(&st, "recall_weighted", cm.recall_weighted);
		put_num(&st, "f1_weighted", cm.f1_weighted);
		if (cm.has_auc)
			put_num(&st, "roc_auc", cm.roc_auc);
		if (cm.has_log_loss)
			put_num(&st, "log_loss", cm.log_loss);
		put_key(&st, "confusion_matrix");
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		put_key(&st, "labels");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < K; i++)
		{
			Jsonb	   *lj = DwcMlLabelJsonb(m, sch, i);
			JsonbValue	v;

			v.type = jbvBinary;
			v.val.binary.data = &lj->root;
			v.val.binary.len = VARSIZE(lj) - VARHDRSZ;
			pushJsonbValue(&st, WJB_ELEM, &v);
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		put_key(&st, "matrix");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < K; i++)
		{
			pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
			for (j = 0; j < K; j++)
			{
				JsonbValue	v;

				v.type = jbvNumeric;
				v.val.numeric = int64_to_numeric(cm.confusion[(size_t) i * K + j]);
				pushJsonbValue(&st, WJB_ELEM, &v);
			}
			pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		*score = cm.accuracy;
	}
	else if (m->task == ML_REGRESSION)
	{
		MlRegMetrics rm;

		ml_reg_metrics(d->y, pred, d->n, &rm);
		put_num(&st, "rmse", rm.rmse);
		put_num(&st, "mae", rm.mae);
		put_num(&st, "r2", rm.r2);
		*score = rm.r2;
	}
	else
	{
		MlClusterMetrics km;

		ml_cluster_metrics(m, d->x, pred, d->n, 2000, &km);
		put_num(&st, "inertia", km.inertia);
		if (km.has_silhouette)
			put_num(&st, "silhouette", km.silhouette);
		put_num(&st, "clusters", m->nclusters);
		*score = km.has_silhouette ? km.silhouette : -km.inertia;
	}
	if (m->n_iter > 0)
		put_num(&st, "iterations", m->n_iter);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* the hyperparameters as trained (the model's, with what the algorithm took by default) */
static Jsonb *
params_jsonb(const MlModel *m)
{
	JsonbParseState *st = NULL;
	const MlParams *p = &m->params;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	switch (m->algorithm)
	{
		case ML_RIDGE:
			put_num(&st, "alpha", p->alpha);
			put_bool(&st, "fit_intercept", p->fit_intercept);
			break;
		case ML_LINEAR_REGRESSION:
			put_bool(&st, "fit_intercept", p->fit_intercept);
			break;
		case ML_LASSO:
		case ML_ELASTIC_NET:
			put_num(&st, "alpha", p->alpha);
			if (m->algorithm == ML_ELASTIC_NET)
				put_num(&st, "l1_ratio", p->l1_ratio);
			put_bool(&st, "fit_intercept", p->fit_intercept);
			put_num(&st, "max_iter", p->max_iter > 0 ? p->max_iter : 1000);
			put_num(&st, "tol", p->tol >= 0 ? p->tol : 1e-4);
			break;
		case ML_LOGISTIC_REGRESSION:
			put_num(&st, "C", p->C);
			put_bool(&st, "fit_intercept", p->fit_intercept);
			put_num(&st, "max_iter", p->max_iter > 0 ? p->max_iter : 100);
			put_num(&st, "tol", p->tol >= 0 ? p->tol : 1e-4);
			break;
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
			put_str(&st, "criterion", p->criterion == ML_ENTROPY ? "entropy" :
					(m->task == ML_CLASSIFICATION ? "gini" : "squared_error"));
			put_key(&st, "max_depth");
			if (p->max_depth > 0)
			{
				JsonbValue	v;

				v.type = jbvNumeric;
				v.val.numeric = int64_to_numeric(p->max_depth);
				pushJsonbValue(&st, WJB_VALUE, &v);
			}
			else
			{
				JsonbValue	v;

				v.type = jbvNull;
				pushJsonbValue(&st, WJB_VALUE, &v);
			}
			put_num(&st, "min_samples_split", p->min_samples_split);
			put_num(&st, "min_samples_leaf", p->min_samples_leaf);
			if (p->max_features == -1)
				put_str(&st, "max_features", "sqrt");
			else if (p->max_features == -2)
				put_str(&st, "max_features", "log2");
			else if (p->max_features > 0)
				put_num(&st, "max_features", p->max_features);
			else
				put_str(&st, "max_features", m->algorithm == ML_RANDOM_FOREST && m->task == ML_CLASSIFICATION
						? "sqrt" : NULL);
			if (m->algorithm == ML_RANDOM_FOREST)
			{
				put_num(&st, "n_estimators", p->n_estimators);
				put_bool(&st, "bootstrap", p->bootstrap);
			}
			put_num(&st, "random_state", (double) p->seed);
			break;
		case ML_GRADIENT_BOOSTING:
			put_num(&st, "learning_rate", p->learning_rate);
			put_num(&st, "max_iter", p->max_iter > 0 ? p->max_iter : 100);
			put_num(&st, "max_leaf_nodes", p->max_leaf_nodes);
			put_key(&st, "max_depth");
			{
				JsonbValue	v;

				v.type = p->max_depth > 0 ? jbvNumeric : jbvNull;
				if (p->max_depth > 0)
					v.val.numeric = int64_to_numeric(p->max_depth);
				pushJsonbValue(&st, WJB_VALUE, &v);
			}
			put_num(&st, "min_samples_leaf", p->min_samples_leaf);
			put_num(&st, "l2_regularization", p->l2_regularization);
			put_num(&st, "max_bins", p->max_bins);
			put_str(&st, "categorical", p->native_categorical ? "native" : "one_hot");
			put_str(&st, "early_stopping", p->early_stopping < 0 ? "auto" : p->early_stopping ? "true" : "false");
			put_num(&st, "validation_fraction", p->validation_fraction);
			put_num(&st, "n_iter_no_change", p->n_iter_no_change);
			put_num(&st, "tol", p->tol >= 0 ? p->tol : 1e-7);
			put_num(&st, "random_state", (double) p->seed);
			break;
		case ML_NAIVE_BAYES:
			put_num(&st, "var_smoothing", p->var_smoothing);
			break;
		case ML_KNN:
			put_num(&st, "n_neighbors", p->n_neighbors);
			put_str(&st, "weights", p->distance_weights ? "distance" : "uniform");
			break;
		case ML_KMEANS:
			put_num(&st, "n_clusters", p->n_clusters);
			put_num(&st, "n_init", p->n_init);
			put_num(&st, "max_iter", p->max_iter > 0 ? p->max_iter : 300);
			put_num(&st, "tol", p->tol >= 0 ? p->tol : 1e-4);
			put_num(&st, "random_state", (double) p->seed);
			break;
	}
	put_bool(&st, "standardize", p->standardize);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

static Jsonb *
options_jsonb(const MlOptions *o)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	put_num(&st, "test_size", o->test_size);
	put_num(&st, "seed", (double) o->seed);
	put_bool(&st, "stratify", o->stratify);
	put_str(&st, "nulls", o->missing ? "missing" : o->impute ? "impute" : "error");
	put_num(&st, "max_categories", o->max_categories);
	if (o->test_column)
		put_str(&st, "test_column", o->test_column);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

static Datum
text_array(char **names, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(names[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* the arguments dwc.ml_train() and dwc.ml_train_async() check before any work */
static void
check_train_args(const char *model, const char *source, Jsonb *rows, const char *deploy)
{
	if (model == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model name must not be NULL")));
	if ((source == NULL) == (rows == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give either source (a table, a view or a query) or training_data (a JSON array), not %s",
						source ? "both" : "neither")));
	if (deploy == NULL || (strcmp(deploy, "best") != 0 && strcmp(deploy, "always") != 0 && strcmp(deploy, "never") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("deploy must be best, always or never, not \"%s\"", deploy ? deploy : "NULL")));
}

/*
 * Train a version of a model and store it: the whole of dwc.ml_train().
 * source or rows says what to train on; the rest as dwc.ml_train() takes it.
 */
static Jsonb *
train(const char *model, const char *source, Jsonb *rows, const char *target, ArrayType *features,
	  Jsonb *options, const char *deploy)
{
	Oid			caller = DwcEffectiveUserId();
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "dwc ml training", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	Jsonb	   *info;
	Jsonb	   *result;
	MlTask		task;
	MlAlgorithm algorithm;
	MlParams	params;
	MlOptions	opts;
	MlPrepared *pr;
	MlModel    *m;
	MlBuffer	art = {NULL, 0, 0};
	instr_time	t0,
				tfit;
	double		fit_ms,
				score = 0;
	Jsonb	   *metrics;
	int64		model_id;
	bytea	   *artifact;
	JsonbParseState *st = NULL;
	char	   *s;

	check_train_args(model, source, rows, deploy);
	INSTR_TIME_SET_CURRENT(t0);

	/* the model, locked for the rest of the transaction */
	{
		Oid			types[2] = {TEXTOID, OIDOID};
		Datum		args[2] = {CStringGetTextDatum(model), ObjectIdGetDatum(caller)};

		info = DatumGetJsonbP(call_private("_ml_train_begin", 2, types, args, caller));
	}
	s = jstr(info, "id");
	model_id = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(s)));
	task = DwcMlParseTask(jstr(info, "task"));
	algorithm = DwcMlParseAlgorithm(jstr(info, "algorithm"));
	if (task != ML_CLUSTERING && target == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a %s model needs a target column", ml_task_name(task))));
	if (task == ML_CLUSTERING && target != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a clustering model has no target column"),
				 errhint("Leave target out; every feature column is clustered on.")));

	old = MemoryContextSwitchTo(cxt);
	DwcMlParseHyperparameters(algorithm, task, jsub(info, "hyperparameters"), &params);
	DwcMlParseOptions(options, task, &opts);
	/* gradient boosting learns where missing values go; the others are given values or refuse */
	if (algorithm == ML_GRADIENT_BOOSTING && !opts.nulls_given)
		opts.missing = true;
	if (opts.missing && algorithm != ML_GRADIENT_BOOSTING)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("only gradient_boosting learns from missing values"),
				 errhint("Train %s with the option nulls => 'impute', or fill the NULLs in the source.",
						 ml_algorithm_name(algorithm))));
	opts.native_categorical = algorithm == ML_GRADIENT_BOOSTING && params.native_categorical;
	(void) DwcJobProgress("reading the training data", -1, -1);
	pr = DwcMlPrepare(source, rows, target, features, task, &opts, params.standardize, caller);
	if (algorithm == ML_KNN && params.n_neighbors > pr->train.n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_neighbors is %d, but there are only %d training rows", params.n_neighbors, pr->train.n)));
	if (algorithm == ML_KMEANS && params.n_clusters > pr->train.n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_clusters is %d, but there are only %d training rows", params.n_clusters, pr->train.n)));

	INSTR_TIME_SET_CURRENT(tfit);
	(void) DwcJobProgress("training", -1, -1);
	m = ml_train(&pr->train, algorithm, task, pr->schema->nclasses, &params);
	fit_ms = dwc_ms_since(tfit);
	(void) DwcJobProgress("evaluating", -1, -1);
	metrics = pr->test.n > 0 ? evaluate(m, pr->schema, &pr->test, "test", &score)
		: evaluate(m, pr->schema, &pr->train, "train", &score);
	ml_artifact_write(m, pr->schema, &art);
	artifact = palloc_extended(VARHDRSZ + art.len, MCXT_ALLOC_HUGE);
	SET_VARSIZE(artifact, VARHDRSZ + art.len);
	memcpy(VARDATA(artifact), art.data, art.len);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	put_str(&st, "source", source);
	put_jsonb(&st, "training_data", rows);
	put_str(&st, "target", target);
	put_strings(&st, "features", pr->features, pr->nfeatures);
	put_jsonb(&st, "options", options_jsonb(&opts));
	put_jsonb(&st, "hyperparameters", params_jsonb(m));
	put_num(&st, "train_rows", pr->train.n);
	put_num(&st, "test_rows", pr->test.n);
	put_jsonb(&st, "metrics", metrics);
	put_num(&st, "score", score);
	put_num(&st, "training_ms", dwc_ms_since(t0));
	put_num(&st, "fit_ms", fit_ms);
	put_num(&st, "artifact_format", ML_ARTIFACT_FORMAT);
	put_str(&st, "deploy", deploy);
	info = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
	MemoryContextSwitchTo(old);
	(void) DwcJobProgress("storing the version", -1, -1);

	{
		Oid			types[4] = {INT8OID, JSONBOID, BYTEAOID, OIDOID};
		Datum		args[4] = {Int64GetDatum(model_id), JsonbPGetDatum(info), PointerGetDatum(artifact),
		ObjectIdGetDatum(caller)};
		Jsonb	   *r = DatumGetJsonbP(call_private("_ml_train_store", 4, types, args, caller));

		result = palloc(VARSIZE(r));
		memcpy(result, r, VARSIZE(r));
	}
	MemoryContextDelete(cxt);
	return result;
}

static char *
text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* dwc.ml_train(model, source, training_data, target, features, options, deploy) */
Datum
dwc_ml_train(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(train(text_arg(fcinfo, 0), text_arg(fcinfo, 1),
							PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), text_arg(fcinfo, 3),
							PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4),
							PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5), text_arg(fcinfo, 6)));
}

/* dwc.ml_retrain(model, deploy): the latest version's spec on today's data */
Datum
dwc_ml_retrain(PG_FUNCTION_ARGS)
{
	Oid			caller = DwcEffectiveUserId();
	char	   *model = text_arg(fcinfo, 0);
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		args[2];
	Jsonb	   *spec;
	Jsonb	   *feats;
	ArrayType  *features = NULL;

	if (model == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model name must not be NULL")));
	args[0] = CStringGetTextDatum(model);
	args[1] = ObjectIdGetDatum(caller);
	spec = DatumGetJsonbP(call_private("_ml_retrain_spec", 2, types, args, caller));
	feats = jsub(spec, "features");
	if (feats != NULL && JB_ROOT_IS_ARRAY(feats))
	{
		int			n = JB_ROOT_COUNT(feats);
		char	  **names = palloc(sizeof(char *) * Max(n, 1));
		int			i;

		for (i = 0; i < n; i++)
		{
			JsonbValue *v = getIthJsonbValueFromContainer(&feats->root, i);

			names[i] = pnstrdup(v->val.string.val, v->val.string.len);
		}
		features = DatumGetArrayTypeP(text_array(names, n));
	}
	PG_RETURN_JSONB_P(train(jstr(spec, "model"), jstr(spec, "source"), jsub(spec, "training_data"),
							jstr(spec, "target"), features, jsub(spec, "options"), text_arg(fcinfo, 1)));
}

/*
 * dwc.ml_train_async(model, source, training_data, target, features,
 * options, deploy, priority): the job's payload, with a relation name
 * resolved now, in the caller's search_path (the job's worker has its own).
 */
Datum
dwc_ml_train_async(PG_FUNCTION_ARGS)
{
	Oid			caller = DwcEffectiveUserId();
	char	   *model = text_arg(fcinfo, 0);
	char	   *source = text_arg(fcinfo, 1);
	Jsonb	   *rows = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	char	   *deploy = text_arg(fcinfo, 6);
	JsonbParseState *st = NULL;
	Jsonb	   *payload;
	Oid			types[4] = {TEXTOID, JSONBOID, TEXTOID, OIDOID};
	Datum		args[4];

	check_train_args(model, source, rows, deploy);
	if (source != NULL)
		source = DwcMlResolveSource(source);
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	put_str(&st, "source", source);
	put_jsonb(&st, "training_data", rows);
	put_str(&st, "target", text_arg(fcinfo, 3));
	put_key(&st, "features");
	if (PG_ARGISNULL(4))
	{
		JsonbValue	v;

		v.type = jbvNull;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	else
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(4);
		Datum	   *elems;
		bool	   *nulls;
		int			n,
					i;

		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < n; i++)
		{
			JsonbValue	v;
			char	   *f;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("feature names must not be NULL")));
			f = TextDatumGetCString(elems[i]);
			v.type = jbvString;
			v.val.string.val = f;
			v.val.string.len = strlen(f);
			pushJsonbValue(&st, WJB_ELEM, &v);
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	put_jsonb(&st, "options", PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5));
	put_str(&st, "deploy", deploy);
	payload = JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));

	args[0] = CStringGetTextDatum(model);
	args[1] = JsonbPGetDatum(payload);
	args[2] = CStringGetTextDatum(PG_ARGISNULL(7) ? "normal" : text_to_cstring(PG_GETARG_TEXT_PP(7)));
	args[3] = ObjectIdGetDatum(caller);
	PG_RETURN_DATUM(call_private("_ml_train_async", 4, types, args, caller));
}

/* AFTER ... FOR EACH STATEMENT on dwc.ml_models */
Datum
dwc__ml_models_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dwc._ml_models_changed() must be called as a trigger")));
	DwcBumpCounterAtCommit(DwcMlCounter);
	return PointerGetDatum(NULL);
}

/* dwc._ml_check_hyperparameters(task, algorithm, hyperparameters) */
Datum
dwc__ml_check_hyperparameters(PG_FUNCTION_ARGS)
{
	MlTask		task = DwcMlParseTask(PG_ARGISNULL(0) ? "" : text_arg(fcinfo, 0));
	MlAlgorithm algorithm = DwcMlParseAlgorithm(PG_ARGISNULL(1) ? "" : text_arg(fcinfo, 1));
	MlParams	p;

	if (!ml_algorithm_supports(algorithm, task))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not do %s", ml_algorithm_name(algorithm), ml_task_name(task)),
				 errhint("classification: logistic_regression, decision_tree, random_forest, gradient_boosting, "
						 "naive_bayes, knn; regression: linear_regression, ridge, lasso, elastic_net, decision_tree, "
						 "random_forest, gradient_boosting, knn; "
						 "clustering: kmeans.")));
	DwcMlParseHyperparameters(algorithm, task, PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), &p);
	PG_RETURN_VOID();
}

/* dwc.ml_artifact_info(bytea) -> jsonb */
Datum
dwc_ml_artifact_info(PG_FUNCTION_ARGS)
{
	bytea	   *a = PG_GETARG_BYTEA_PP(0);
	MlModel    *m;
	MlSchema   *s;
	JsonbParseState *st = NULL;
	int			i;

	ml_artifact_read((const unsigned char *) VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a), &m, &s);
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	/* the artifact's own (read checked the header): an older one is read as it is */
	put_num(&st, "format", ((const unsigned char *) VARDATA_ANY(a))[5]);
	put_num(&st, "bytes", VARSIZE_ANY_EXHDR(a));
	put_str(&st, "algorithm", ml_algorithm_name(m->algorithm));
	put_str(&st, "task", ml_task_name(m->task));
	put_num(&st, "inputs", m->p);
	put_str(&st, "target", s->target);
	put_bool(&st, "standardized", s->mean != NULL);
	put_key(&st, "columns");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < s->ncols; i++)
	{
		MlColumn   *c = &s->cols[i];

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		put_str(&st, "name", c->name);
		put_str(&st, "encoding", c->kind == ML_COL_NUMERIC ? "number" : c->native ? "level" : "one-hot");
		put_num(&st, "input", c->offset);
		if (c->kind == ML_COL_CATEGORICAL)
			put_strings(&st, "levels", c->levels, c->nlevels);
		if (c->has_impute)
		{
			if (isnan(c->impute))
				put_str(&st, "impute", "missing");	/* kept missing (gradient boosting) */
			else if (c->kind == ML_COL_NUMERIC)
				put_num(&st, "impute", c->impute);
			else
				put_str(&st, "impute", c->levels[(int) c->impute]);
		}
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	if (m->task == ML_CLASSIFICATION)
	{
		put_key(&st, "classes");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < m->nclasses; i++)
		{
			Jsonb	   *lj = DwcMlLabelJsonb(m, s, i);
			JsonbValue	v;

			v.type = jbvBinary;
			v.val.binary.data = &lj->root;
			v.val.binary.len = VARSIZE(lj) - VARHDRSZ;
			pushJsonbValue(&st, WJB_ELEM, &v);
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	switch (m->algorithm)
	{
		case ML_DECISION_TREE:
		case ML_RANDOM_FOREST:
		case ML_GRADIENT_BOOSTING:
			{
				int64		nodes = 0;

				for (i = 0; i < m->ntrees; i++)
					nodes += m->trees[i].nnodes;
				put_num(&st, "trees", m->ntrees);
				put_num(&st, "nodes", (double) nodes);
				break;
			}
		case ML_KNN:
			put_num(&st, "training_rows", m->ntrain);
			break;
		case ML_KMEANS:
			put_num(&st, "clusters", m->nclusters);
			break;
		default:
			break;
	}
	PG_RETURN_JSONB_P(JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
}
