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

/* ---- building the version's record (helpers in ml_describe.c) ---- */

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
	ml_put_str(&st, "evaluated_on", on);
	ml_put_num(&st, "rows", d->n);
	if (m->task == ML_CLASSIFICATION)
	{
		MlClassMetrics cm;
		int			i,
					j;

		ml_class_metrics(d->y, pred, proba, d->n, K, &cm);
		ml_put_num(&st, "accuracy", cm.accuracy);
		ml_put_num(&st, "precision_macro", cm.precision_macro);
		ml_put_num(&st, "recall_macro", cm.recall_macro);
		ml_put_num(&st, "f1_macro", cm.f1_macro);
		ml_put_num(&st, "precision_weighted", cm.precision_weighted);
		ml_put_num(&st, "recall_weighted", cm.recall_weighted);
		ml_put_num(&st, "f1_weighted", cm.f1_weighted);
		if (cm.has_auc)
			ml_put_num(&st, "roc_auc", cm.roc_auc);
		if (cm.has_log_loss)
			ml_put_num(&st, "log_loss", cm.log_loss);
		ml_put_key(&st, "confusion_matrix");
		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		ml_put_labels(&st, "labels", m, sch);
		ml_put_key(&st, "matrix");
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
		ml_put_num(&st, "rmse", rm.rmse);
		ml_put_num(&st, "mae", rm.mae);
		ml_put_num(&st, "r2", rm.r2);
		*score = rm.r2;
	}
	else
	{
		MlClusterMetrics km;

		ml_cluster_metrics(m, d->x, pred, d->n, 2000, &km);
		ml_put_num(&st, "inertia", km.inertia);
		if (km.has_silhouette)
			ml_put_num(&st, "silhouette", km.silhouette);
		ml_put_num(&st, "clusters", m->nclusters);
		*score = km.has_silhouette ? km.silhouette : -km.inertia;
	}
	if (m->n_iter > 0)
		ml_put_num(&st, "iterations", m->n_iter);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* the training options, as the version records them */
static Jsonb *
options_jsonb(const MlOptions *o)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	ml_put_num(&st, "test_size", o->test_size);
	ml_put_num(&st, "seed", (double) o->seed);
	ml_put_bool(&st, "stratify", o->stratify);
	ml_put_str(&st, "nulls", o->missing ? "missing" : o->impute ? "impute" : "error");
	ml_put_num(&st, "max_categories", o->max_categories);
	if (o->test_column)
		ml_put_str(&st, "test_column", o->test_column);
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
	ml_put_str(&st, "source", source);
	ml_put_jsonb(&st, "training_data", rows);
	ml_put_str(&st, "target", target);
	ml_put_strings(&st, "features", pr->features, pr->nfeatures);
	ml_put_jsonb(&st, "options", options_jsonb(&opts));
	ml_put_jsonb(&st, "hyperparameters", ml_params_jsonb(m));
	ml_put_num(&st, "train_rows", pr->train.n);
	ml_put_num(&st, "test_rows", pr->test.n);
	ml_put_jsonb(&st, "metrics", metrics);
	ml_put_num(&st, "score", score);
	ml_put_num(&st, "training_ms", dwc_ms_since(t0));
	ml_put_num(&st, "fit_ms", fit_ms);
	ml_put_num(&st, "artifact_format", ML_ARTIFACT_FORMAT);
	ml_put_str(&st, "deploy", deploy);
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
	ml_put_str(&st, "source", source);
	ml_put_jsonb(&st, "training_data", rows);
	ml_put_str(&st, "target", text_arg(fcinfo, 3));
	ml_put_key(&st, "features");
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
	ml_put_jsonb(&st, "options", PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5));
	ml_put_str(&st, "deploy", deploy);
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
