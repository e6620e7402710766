/*-------------------------------------------------------------------------
 *
 * ml_predict.c
 *		Predictions from SQL: dwc.ml_predict(), dwc.ml_predict_proba(),
 *		dwc.ml_predict_batch(), dwc.ml_predict_query().
 *
 * A row of features is a jsonb object keyed by column name, encoded with
 * the model's schema: numbers as they are, text one-hot, NULL or absent
 * values imputed when the model was trained with imputation and refused
 * otherwise, and a key the model does not know refused (a misspelt
 * feature would otherwise be silently ignored).  Predictions come back as
 * the target's own type: class labels as text, numbers or booleans,
 * regression values as numbers, clusters as their number.
 *
 * src/ml/ml_predict.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/typcache.h"

#include "core/dbworker.h"
#include "ml/ml_cache.h"
#include "ml/ml_pg.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc_ml_predict);
PG_FUNCTION_INFO_V1(dwc_ml_predict_array);
PG_FUNCTION_INFO_V1(dwc_ml_predict_proba);
PG_FUNCTION_INFO_V1(dwc_ml_predict_batch);
PG_FUNCTION_INFO_V1(dwc_ml_predict_query);

static double
json_number(const char *col, JsonbValue *v)
{
	double		d;

	if (v->type == jbvBool)
		return v->val.boolean ? 1 : 0;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature \"%s\" must be a number", col)));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (!isfinite(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature \"%s\" must be a finite number", col)));
	return d;
}

static int
level_index(const MlColumn *c, const char *s, int len)
{
	int			lo = 0,
				hi = c->nlevels - 1;

	/* levels are sorted bytewise (strcmp): binary search */
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			cmp = strncmp(c->levels[mid], s, len);

		if (cmp == 0 && c->levels[mid][len] != '\0')
			cmp = 1;
		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * A feature with no value: its training mean, or its most frequent level; or,
 * kept missing (impute NaN), NaN for a number and no level for text.
 */
static inline void
put_imputed(const MlColumn *c, double *x)
{
	if (c->kind == ML_COL_NUMERIC || c->native)
		x[c->offset] = c->impute;
	else if (!isnan(c->impute))
		x[c->offset + (int) c->impute] = 1.0;
}

/* encoded inputs on the training data's scale (when the model was standardised) */
static inline void
standardize(const MlSchema *s, double *x)
{
	int			i;

	if (s->mean)
		for (i = 0; i < s->p; i++)
			x[i] = (x[i] - s->mean[i]) / s->scale[i];
}

/* the features of a row (jsonb object) as the model's encoded, standardised inputs */
void
DwcMlEncodeJsonb(const MlSchema *s, Jsonb *row, double *x, bool ignore_extra)
{
	int			found = 0;
	int			i;

	if (!JB_ROOT_IS_OBJECT(row) || JB_ROOT_IS_SCALAR(row))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be a JSON object of column names and values")));
	for (i = 0; i < s->p; i++)
		x[i] = 0;
	for (i = 0; i < s->ncols; i++)
	{
		const MlColumn *c = &s->cols[i];
		JsonbValue *v = DwcMlJsonbKey(&row->root, c->name);
		if (v != NULL)
			found++;
		if (v == NULL || v->type == jbvNull)
		{
			if (!c->has_impute)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" is %s", c->name, v == NULL ? "missing" : "NULL"),
						 errhint("The model was trained without imputation; give every feature a value.")));
			put_imputed(c, x);
			continue;
		}
		if (c->kind == ML_COL_NUMERIC)
			x[c->offset] = json_number(c->name, v);
		else
		{
			int			l;

			if (v->type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" must be text", c->name)));
			l = level_index(c, v->val.string.val, v->val.string.len);
			if (l < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" has the value \"%.*s\", which the model did not see in training",
								c->name, v->val.string.len, v->val.string.val)));
			if (c->native)
				x[c->offset] = l;
			else
				x[c->offset + l] = 1.0;
		}
	}
	if (!ignore_extra && found != (int) JsonContainerSize(&row->root))
	{
		/* a key that is no feature: name it */
		JsonbIterator *it = JsonbIteratorInit(&row->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				bool		known = false;

				for (i = 0; i < s->ncols && !known; i++)
					known = strlen(s->cols[i].name) == (size_t) v.val.string.len &&
						memcmp(s->cols[i].name, v.val.string.val, v.val.string.len) == 0;
				if (!known)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("\"%.*s\" is not a feature of the model", v.val.string.len, v.val.string.val),
							 errhint("Leave it out; see the model's features with dwc.ml_model().")));
			}
		}
	}
	standardize(s, x);
}

static Jsonb *
number_jsonb(double v)
{
	JsonbValue	jv;

	jv.type = jbvNumeric;
	jv.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(v)));
	return JsonbValueToJsonb(&jv);
}

static void
label_value(const MlSchema *s, int cls, JsonbValue *jv)
{
	const char *label = s->classes[cls];

	switch (s->label_kind)
	{
		case ML_LABEL_BOOL:
			jv->type = jbvBool;
			jv->val.boolean = strcmp(label, "true") == 0;
			break;
		case ML_LABEL_NUMBER:
			jv->type = jbvNumeric;
			jv->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(label),
																  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
			break;
		default:
			jv->type = jbvString;
			jv->val.string.val = unconstify(char *, label);
			jv->val.string.len = strlen(label);
			break;
	}
}

/* a prediction as jsonb: the class label, the value, or the cluster */
Jsonb *
DwcMlLabelJsonb(const MlModel *m, const MlSchema *s, double prediction)
{
	JsonbValue	jv;

	if (m->task != ML_CLASSIFICATION)
		return number_jsonb(prediction);
	label_value(s, (int) prediction, &jv);
	return JsonbValueToJsonb(&jv);
}

static Jsonb *
proba_jsonb(const MlSchema *s, const double *proba)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	int			k;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (k = 0; k < s->nclasses; k++)
	{
		JsonbValue	key;
		JsonbValue	val;

		key.type = jbvString;
		key.val.string.val = s->classes[k];
		key.val.string.len = strlen(s->classes[k]);
		pushJsonbValue(&st, WJB_KEY, &key);
		val.type = jbvNumeric;
		val.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(proba[k])));
		pushJsonbValue(&st, WJB_VALUE, &val);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

static char *
model_name(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model name must not be NULL")));
	return text_to_cstring(PG_GETARG_TEXT_PP(0));
}

/* dwc.ml_predict(model text, features jsonb) -> jsonb */
Datum
dwc_ml_predict(PG_FUNCTION_ARGS)
{
	MlCached   *mc = DwcMlCachedModel(model_name(fcinfo));
	double		xs[256];
	double	   *x = mc->schema->p <= 256 ? xs : palloc(sizeof(double) * mc->schema->p);
	double		pred;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	DwcMlEncodeJsonb(mc->schema, PG_GETARG_JSONB_P(1), x, false);
	pred = ml_predict_one(mc->model, x);
	PG_RETURN_JSONB_P(DwcMlLabelJsonb(mc->model, mc->schema, pred));
}

/* dwc.ml_predict_array(model text, inputs float8[]) -> float8: encoded inputs in the model's order */
Datum
dwc_ml_predict_array(PG_FUNCTION_ARGS)
{
	MlCached   *mc = DwcMlCachedModel(model_name(fcinfo));
	ArrayType  *a;
	int			p = mc->schema->p;
	double		xs[256];
	double	   *x = p <= 256 ? xs : palloc(sizeof(double) * p);
	const double *in;
	int			i;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	a = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("inputs must be a one-dimensional float8 array without NULLs")));
	if (ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model takes %d inputs, not %d", p, ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a))),
				 errhint("The array form takes encoded inputs in the model's order; a jsonb object takes column names.")));
	in = (const double *) ARR_DATA_PTR(a);
	for (i = 0; i < p; i++)
	{
		if (!isfinite(in[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("input %d is not a finite number", i + 1)));
		x[i] = mc->schema->mean ? (in[i] - mc->schema->mean[i]) / mc->schema->scale[i] : in[i];
	}
	PG_RETURN_FLOAT8(ml_predict_one(mc->model, x));
}

/* dwc.ml_predict_proba(model text, features jsonb) -> jsonb {label: probability} */
Datum
dwc_ml_predict_proba(PG_FUNCTION_ARGS)
{
	MlCached   *mc = DwcMlCachedModel(model_name(fcinfo));
	double	   *x = palloc(sizeof(double) * mc->schema->p);
	double	   *proba;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (!ml_has_proba(mc->model))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s %s gives no class probabilities", ml_algorithm_name(mc->model->algorithm),
						ml_task_name(mc->model->task)),
				 errhint("Probabilities come from classifiers: logistic_regression, decision_tree, random_forest, gradient_boosting, naive_bayes and knn.")));
	proba = palloc(sizeof(double) * mc->model->nclasses);
	DwcMlEncodeJsonb(mc->schema, PG_GETARG_JSONB_P(1), x, false);
	ml_predict_proba(mc->model, x, proba);
	PG_RETURN_JSONB_P(proba_jsonb(mc->schema, proba));
}

/* many rows (column-major), predicted at once; a jsonb array of predictions or of {prediction, probabilities} */
static Jsonb *
predict_rows(MlCached *mc, double *x, int n, bool with_proba)
{
	double	   *out = palloc_extended(sizeof(double) * Max(n, 1), MCXT_ALLOC_HUGE);
	double	   *proba = NULL;
	JsonbParseState *st = NULL;
	JsonbValue *res;
	int			i;

	if (with_proba && !ml_has_proba(mc->model))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s %s gives no class probabilities", ml_algorithm_name(mc->model->algorithm),
						ml_task_name(mc->model->task))));
	if (with_proba)
		proba = palloc_extended(sizeof(double) * (size_t) Max(n, 1) * mc->model->nclasses, MCXT_ALLOC_HUGE);
	ml_predict_many(mc->model, x, n, out, proba);
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		Jsonb	   *j;
		JsonbValue	jv;

		if (with_proba)
		{
			JsonbValue	key;
			Jsonb	   *pj = proba_jsonb(mc->schema, proba + (size_t) i * mc->model->nclasses);

			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			key.type = jbvString;
			key.val.string.val = "prediction";
			key.val.string.len = 10;
			pushJsonbValue(&st, WJB_KEY, &key);
			j = DwcMlLabelJsonb(mc->model, mc->schema, out[i]);
			jv.type = jbvBinary;
			jv.val.binary.data = &j->root;
			jv.val.binary.len = VARSIZE(j) - VARHDRSZ;
			pushJsonbValue(&st, WJB_VALUE, &jv);
			key.val.string.val = "probabilities";
			key.val.string.len = 13;
			pushJsonbValue(&st, WJB_KEY, &key);
			jv.val.binary.data = &pj->root;
			jv.val.binary.len = VARSIZE(pj) - VARHDRSZ;
			pushJsonbValue(&st, WJB_VALUE, &jv);
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		}
		else
		{
			if (mc->model->task == ML_CLASSIFICATION)
				label_value(mc->schema, (int) out[i], &jv);
			else
			{
				jv.type = jbvNumeric;
				jv.val.numeric = DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(out[i])));
			}
			pushJsonbValue(&st, WJB_ELEM, &jv);
		}
	}
	res = pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(res);
}

/* dwc.ml_predict_batch(model text, rows jsonb, probabilities bool) -> jsonb array */
Datum
dwc_ml_predict_batch(PG_FUNCTION_ARGS)
{
	MlCached   *mc = DwcMlCachedModel(model_name(fcinfo));
	Jsonb	   *rows;
	bool		with_proba = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	int			p = mc->schema->p;
	double	   *row = palloc(sizeof(double) * p);
	double	   *x;
	int			n,
				i,
				j;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	rows = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(rows) || JB_ROOT_IS_SCALAR(rows))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rows must be a JSON array of objects")));
	n = JB_ROOT_COUNT(rows);
	x = palloc_extended(sizeof(double) * (size_t) Max(n, 1) * p, MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&rows->root, i);
		Jsonb	   *obj;

		DWC_CHECK_FOR_INTERRUPTS();
		if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row %d is not a JSON object", i + 1)));
		obj = JsonbValueToJsonb(v);
		DwcMlEncodeJsonb(mc->schema, obj, row, false);
		for (j = 0; j < p; j++)
			x[(size_t) j * n + i] = row[j];
		pfree(obj);
	}
	PG_RETURN_JSONB_P(predict_rows(mc, x, n, with_proba));
}

/* the model's column of each result column of a query (-1: none), checked once per query */
static int *
map_columns(const MlSchema *s, TupleDesc desc, bool ignore_extra)
{
	int		   *map = palloc(sizeof(int) * Max(desc->natts, 1));
	bool	   *seen = palloc0(sizeof(bool) * s->ncols);
	int			i,
				c;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		map[i] = -1;
		if (a->attisdropped)
			continue;
		for (c = 0; c < s->ncols; c++)
			if (strcmp(s->cols[c].name, NameStr(a->attname)) == 0)
				map[i] = c;
		if (map[i] < 0 && ignore_extra)
			continue;
		if (map[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" of the query is not a feature of the model", NameStr(a->attname)),
					 errhint("Select the model's features only; see them with dwc.ml_model().")));
		seen[map[i]] = true;
	}
	for (c = 0; c < s->ncols; c++)
		if (!seen[c] && !s->cols[c].has_impute)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature \"%s\" is not among the columns", s->cols[c].name)));
	return map;
}

/* one result row of a query into x (the model's inputs), by the column map */
static void
encode_tuple(const MlSchema *s, HeapTuple tup, TupleDesc desc, const int *map, Datum *values, bool *nulls,
			 double *x)
{
	int			i;

	heap_deform_tuple(tup, desc, values, nulls);
	for (i = 0; i < s->p; i++)
		x[i] = 0;
	/* absent or NULL below: the imputed value */
	for (i = 0; i < s->ncols; i++)
		if (s->cols[i].has_impute)
			put_imputed(&s->cols[i], x);
	for (i = 0; i < desc->natts; i++)
	{
		const MlColumn *c;
		Oid			type = TupleDescAttr(desc, i)->atttypid;
		double		v;

		if (map[i] < 0)
			continue;
		c = &s->cols[map[i]];
		if (nulls[i])
		{
			if (!c->has_impute)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" is NULL", c->name),
						 errhint("The model was trained without imputation; give every feature a value.")));
			continue;
		}
		if (c->kind == ML_COL_CATEGORICAL)
		{
			char	   *str;
			int			l;

			if (type == TEXTOID || type == VARCHAROID || type == BPCHAROID)
			{
				text	   *t = DatumGetTextPP(values[i]);

				l = level_index(c, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				str = l < 0 ? text_to_cstring(t) : NULL;
			}
			else
			{
				Oid			outfn;
				bool		varlena;

				getTypeOutputInfo(type, &outfn, &varlena);
				str = OidOutputFunctionCall(outfn, values[i]);
				l = level_index(c, str, strlen(str));
			}
			if (l < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature \"%s\" has the value \"%s\", which the model did not see in training",
								c->name, str)));
			if (c->native)
			{
				x[c->offset] = l;
				continue;
			}
			x[c->offset] = 0;	/* an imputed level set above gives way */
			if (c->has_impute && !isnan(c->impute))
				x[c->offset + (int) c->impute] = 0;
			x[c->offset + l] = 1.0;
			continue;
		}
		if (!DwcMlDatumNumber(values[i], type, &v))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("feature \"%s\" must be a number, not %s", c->name, format_type_be(type))));
		if (!isfinite(v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature \"%s\" must be a finite number", c->name)));
		x[c->offset] = v;
	}
	standardize(s, x);
}

/*
 * dwc.ml_predict_query(model text, query text, probabilities bool) -> jsonb
 * array: the rows of a query (run as the caller; its columns are the
 * model's features, by name), in the query's order.  Columns are matched
 * once per query and read straight from the tuples.
 */
Datum
dwc_ml_predict_query(PG_FUNCTION_ARGS)
{
	MlCached   *mc = DwcMlCachedModel(model_name(fcinfo));
	bool		with_proba = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	const MlSchema *s = mc->schema;
	int			p = s->p;
	MemoryContext cxt = CurrentMemoryContext;
	/* what encoding a row leaves behind (text of a level, a detoasted value) goes with it */
	MemoryContext rowcxt = AllocSetContextCreate(cxt, "dwc ml_predict_query row", ALLOCSET_SMALL_SIZES);
	double	   *row = palloc(sizeof(double) * p);
	double	   *rows = NULL;
	double	   *x;
	int		   *map = NULL;
	Datum	   *values = NULL;
	bool	   *nulls = NULL;
	int			n = 0,
				cap = 0;
	char	   *sql;
	SPIPlanPtr	plan;
	List	   *sources;
	Portal		portal;
	int			i,
				j;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	sql = text_to_cstring(PG_GETARG_TEXT_PP(1));
	SPI_connect();

	/*
	 * The query runs as written, not as a subquery: the predictions come in
	 * its order, which an outer SELECT need not keep (Citus, for one, merges
	 * the shards of a subquery in any order).  Read-only, one SELECT.
	 */
	plan = SPI_prepare_cursor(sql, 0, NULL, CURSOR_OPT_NO_SCROLL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
	sources = SPI_plan_get_plan_sources(plan);
	if (list_length(sources) != 1 ||
		((CachedPlanSource *) linitial(sources))->commandTag != CMDTAG_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the query of ml_predict_query must be one SELECT")));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		uint64		k;

		DWC_CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, 10000);
		if (SPI_processed == 0)
			break;
		if (map == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);
			TupleDesc	desc = SPI_tuptable->tupdesc;

			map = map_columns(s, desc, false);
			values = palloc(sizeof(Datum) * Max(desc->natts, 1));
			nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
			MemoryContextSwitchTo(old);
		}
		for (k = 0; k < SPI_processed; k++)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			if (n == cap)
			{
				cap = cap ? cap * 2 : 1024;
				rows = rows ? repalloc_huge(rows, sizeof(double) * (size_t) cap * p)
					: palloc_extended(sizeof(double) * (size_t) cap * p, MCXT_ALLOC_HUGE);
			}
			MemoryContextSwitchTo(rowcxt);
			encode_tuple(s, SPI_tuptable->vals[k], SPI_tuptable->tupdesc, map, values, nulls, row);
			MemoryContextSwitchTo(old);
			MemoryContextReset(rowcxt);
			memcpy(rows + (size_t) n * p, row, sizeof(double) * p);
			n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	/* rows are row-major here; the predictors take column-major */
	x = palloc_extended(sizeof(double) * (size_t) Max(n, 1) * p, MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
		for (j = 0; j < p; j++)
			x[(size_t) j * n + i] = rows[(size_t) i * p + j];
	PG_RETURN_JSONB_P(predict_rows(mc, x, n, with_proba));
}

PG_FUNCTION_INFO_V1(dwc_ml_predict_row);

/*
 * dwc.ml_predict_row(model text, row record) -> jsonb: the prediction for a
 * row of a table or query; its columns that are not features (a key, the
 * target) are left aside, but every feature must be there.
 */
Datum
dwc_ml_predict_row(PG_FUNCTION_ARGS)
{
	MlCached   *mc = DwcMlCachedModel(model_name(fcinfo));
	HeapTupleHeader th;
	TupleDesc	desc;
	HeapTupleData tuple;
	int		   *map;
	Datum	   *values;
	bool	   *nulls;
	double	   *x = palloc(sizeof(double) * mc->schema->p);
	double		pred;

	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	th = PG_GETARG_HEAPTUPLEHEADER(1);
	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(th), HeapTupleHeaderGetTypMod(th));
	tuple.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = th;
	values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	map = map_columns(mc->schema, desc, true);
	encode_tuple(mc->schema, &tuple, desc, map, values, nulls, x);
	ReleaseTupleDesc(desc);
	pred = ml_predict_one(mc->model, x);
	PG_RETURN_JSONB_P(DwcMlLabelJsonb(mc->model, mc->schema, pred));
}
