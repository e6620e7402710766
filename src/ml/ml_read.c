/*-------------------------------------------------------------------------
 *
 * ml_read.c
 *		Reading training data: a table, view or query as the caller, or a
 *		JSON array, into columns.
 *
 * A query runs as the caller (the role that asked for the training, never
 * dwc's owner), through a cursor a chunk of rows at a time.  Columns are
 * read by type: numbers and booleans as they are, text as levels (at most
 * max_categories of them); other types are refused with the column's name.
 *
 * src/ml/ml_read.c
 *
 *-------------------------------------------------------------------------
 */

#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "core/dbworker.h"
#include "ml/ml_pg.h"
#include "ml/ml_raw.h"

static bool
is_numeric_type(Oid t)
{
	switch (t)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
		case BOOLOID:
			return true;
		default:
			return false;
	}
}

static bool
is_text_type(Oid t)
{
	switch (t)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case CHAROID:
			return true;
		default:
			return type_is_enum(t);
	}
}

static void
grow(RawTable *t)
{
	int			cap = t->capacity ? t->capacity * 2 : 16384;
	int			i;

	for (i = 0; i <= t->ncols; i++)
	{
		RawColumn  *c = i < t->ncols ? &t->cols[i] : t->target;

		if (c == NULL)
			continue;
		if (c->capacity == 0)
		{
			c->num = palloc_extended(sizeof(double) * cap, MCXT_ALLOC_HUGE);
			c->null = palloc_extended(sizeof(bool) * cap, MCXT_ALLOC_HUGE);
		}
		else
		{
			c->num = repalloc_huge(c->num, sizeof(double) * cap);
			c->null = repalloc_huge(c->null, sizeof(bool) * cap);
		}
		c->capacity = cap;
	}
	t->holdout = t->holdout ? repalloc_huge(t->holdout, sizeof(bool) * cap)
		: palloc_extended(sizeof(bool) * cap, MCXT_ALLOC_HUGE);
	t->capacity = cap;
}

/* level number of a text value in a categorical column (new levels numbered in order of appearance) */
static int
level_of(RawColumn *c, const char *s, int len, int max_categories)
{
	LevelEntry *e;
	bool		found;
	char		key[sizeof(((LevelEntry *) 0)->key)];

	if (len >= (int) sizeof(key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" has a value of %d bytes; text features are at most %d bytes",
						c->name, len, (int) sizeof(key) - 1)));
	memset(key, 0, sizeof(key));
	memcpy(key, s, len);
	if (c->levels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(LevelEntry);
		ctl.hcxt = CurrentMemoryContext;
		c->levels = hash_create("dwc ml levels", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	e = hash_search(c->levels, key, HASH_ENTER, &found);
	if (!found)
	{
		if (c->nlevels >= max_categories)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" has more than %d distinct values and cannot be one-hot encoded",
							c->name, max_categories),
					 errhint("Leave it out of the features, map it to fewer values, or raise the option max_categories.")));
		e->index = c->nlevels;
		if (c->nlevels % 64 == 0)
			c->level_text = c->level_text ? repalloc(c->level_text, sizeof(char *) * (c->nlevels + 64))
				: palloc(sizeof(char *) * 64);
		c->level_text[c->nlevels++] = pnstrdup(s, len);
	}
	return e->index;
}

static double
datum_number(Datum d, Oid type, RawColumn *c, int row)
{
	double		v = 0;

	/* the column's type passed is_numeric_type() */
	(void) DwcMlDatumNumber(d, type, &v);
	if (!isfinite(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" has a value that is not a finite number (%g) in row %d", c->name, v, row + 1)));
	return v;
}

/* one value of a column, from SQL */
static void
store_datum(RawTable *t, RawColumn *c, Datum d, bool isnull, int max_categories)
{
	int			row = t->nrows;

	c->null[row] = isnull;
	c->num[row] = 0;
	if (isnull)
	{
		c->nnull++;
		return;
	}
	if (c->kind == ML_COL_NUMERIC)
		c->num[row] = datum_number(d, c->type, c, row);
	else
	{
		char	   *s;
		Oid			outfn;
		bool		varlena;

		if (c->type == TEXTOID || c->type == VARCHAROID || c->type == BPCHAROID)
		{
			text	   *tx = DatumGetTextPP(d);

			c->num[row] = level_of(c, VARDATA_ANY(tx), VARSIZE_ANY_EXHDR(tx), max_categories);
			return;
		}
		getTypeOutputInfo(c->type, &outfn, &varlena);
		s = OidOutputFunctionCall(outfn, d);
		c->num[row] = level_of(c, s, strlen(s), max_categories);
	}
}

/* one value from JSON input: numbers, booleans and strings */
static void
store_json(RawTable *t, RawColumn *c, JsonbValue *v, bool is_target, int max_categories)
{
	int			row = t->nrows;

	c->null[row] = v == NULL || v->type == jbvNull;
	c->num[row] = 0;
	if (c->null[row])
	{
		c->nnull++;
		return;
	}
	if (v->type != jbvNumeric && v->type != jbvBool && v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" in row %d is not a number, a boolean or a string, and cannot be encoded",
						c->name, row + 1)));
	/* the first non-NULL value decides the column's kind */
	if (c->kind == 0)
		c->kind = v->type == jbvString ? ML_COL_CATEGORICAL : ML_COL_NUMERIC;
	if (is_target && c->kind == ML_COL_CATEGORICAL)
		t->label_kind = ML_LABEL_TEXT;
	else if (is_target && t->label_kind == 0)
		t->label_kind = v->type == jbvBool ? ML_LABEL_BOOL : ML_LABEL_NUMBER;
	if (c->kind == ML_COL_CATEGORICAL)
	{
		if (v->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is text in some rows and not in row %d", c->name, row + 1)));
		c->num[row] = level_of(c, v->val.string.val, v->val.string.len, max_categories);
	}
	else if (v->type == jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is a number in some rows and text in row %d", c->name, row + 1)));
	else if (v->type == jbvBool)
		c->num[row] = v->val.boolean ? 1 : 0;
	else
	{
		double		d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));

		if (!isfinite(d))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" in row %d is not a finite number", c->name, row + 1)));
		c->num[row] = d;
	}
}

/* does s start with keyword kw, as a whole word? */
static bool
starts_with_keyword(const char *s, const char *kw)
{
	size_t		n = strlen(kw);

	return pg_strncasecmp(s, kw, n) == 0 &&
		(s[n] == '\0' || s[n] == ' ' || s[n] == '\t' || s[n] == '\n' || s[n] == '\r' || s[n] == '(' || s[n] == '*');
}

static bool
looks_like_query(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '(')
		s++;
	return starts_with_keyword(s, "select") || starts_with_keyword(s, "with") ||
		starts_with_keyword(s, "values") || starts_with_keyword(s, "table");
}

/*
 * A training source as it will be read: a query as given, a table or view
 * name qualified as the caller's search_path resolves it now (so that a
 * job running later, with another search_path, reads the same relation).
 */
char *
DwcMlResolveSource(const char *source)
{
	List	   *names;
	Oid			relid;

	if (looks_like_query(source))
		return pstrdup(source);
	names = stringToQualifiedNameList(source);
	relid = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" does not exist", source),
				 errhint("The training source is a table, a view or a query (SELECT ...).")));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
}

/* The statement that reads the training source: a query is wrapped as a subquery (so it is one SELECT, whatever it says) */
static char *
source_query(const char *source)
{
	char	   *q;
	int			len;

	if (!looks_like_query(source))
		return psprintf("SELECT * FROM %s", DwcMlResolveSource(source));
	q = pstrdup(source);
	len = strlen(q);
	/* a trailing semicolon would end the subquery */
	while (len > 0 && (q[len - 1] == ';' || q[len - 1] == ' ' || q[len - 1] == '\n' ||
					   q[len - 1] == '\t' || q[len - 1] == '\r'))
		q[--len] = '\0';
	return psprintf("SELECT * FROM (%s\n) AS dwc_training_data", q);
}

static int
find_column(TupleDesc desc, const char *name)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return i + 1;
	}
	return 0;
}

static char *
column_list(TupleDesc desc)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			appendStringInfo(&s, "%s%s", s.len ? ", " : "", NameStr(TupleDescAttr(desc, i)->attname));
	return s.data;
}

static char **
feature_names(ArrayType *features, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;
	int			i;

	deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("feature names must not be NULL")));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

/* what the training query's rows are read into, straight from the executor's slots */
typedef struct TrainDest
{
	DestReceiver pub;
	RawTable   *t;
	const char *target;
	ArrayType  *features;
	MlTask		task;
	const MlOptions *opts;
	MemoryContext cxt;
} TrainDest;

/* the columns: features given, or all but the target (and the test column) */
static void
setup_columns(RawTable *t, TupleDesc desc, const char *target, ArrayType *features, MlTask task,
			  const MlOptions *opts)
{
	int			i;
	int			nf = 0;
	char	  **names = NULL;
	int			tattno = 0;

	if (task != ML_CLUSTERING)
	{
		tattno = find_column(desc, target);
		if (tattno == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target column \"%s\" is not in the training data", target),
					 errdetail("The columns are: %s.", column_list(desc))));
	}
	if (opts->test_column)
	{
		t->holdout_attno = find_column(desc, opts->test_column);
		if (t->holdout_attno == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("test_column \"%s\" is not in the training data", opts->test_column),
					 errdetail("The columns are: %s.", column_list(desc))));
		if (getBaseType(TupleDescAttr(desc, t->holdout_attno - 1)->atttypid) != BOOLOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("test_column \"%s\" must be boolean", opts->test_column)));
		if (t->holdout_attno == tattno)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("test_column \"%s\" is the target", opts->test_column)));
	}
	if (features != NULL)
		names = feature_names(features, &nf);
	else
	{
		names = palloc(sizeof(char *) * Max(desc->natts, 1));
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (!a->attisdropped && i + 1 != tattno && i + 1 != t->holdout_attno)
				names[nf++] = pstrdup(NameStr(a->attname));
		}
	}
	if (nf == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training data has no feature columns")));
	t->ncols = nf;
	t->cols = palloc0(sizeof(RawColumn) * nf);
	for (i = 0; i < nf; i++)
	{
		RawColumn  *c = &t->cols[i];
		int			j;

		c->name = names[i];
		c->attno = find_column(desc, names[i]);
		if (c->attno == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("feature column \"%s\" is not in the training data", names[i]),
					 errdetail("The columns are: %s.", column_list(desc))));
		if (c->attno == tattno)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is the target and cannot be a feature too", names[i])));
		if (c->attno == t->holdout_attno)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" is the test_column and cannot be a feature too", names[i])));
		for (j = 0; j < i; j++)
			if (strcmp(t->cols[j].name, names[i]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("feature column \"%s\" is named twice", names[i])));
		c->type = getBaseType(TupleDescAttr(desc, c->attno - 1)->atttypid);
		if (is_numeric_type(c->type))
			c->kind = ML_COL_NUMERIC;
		else if (is_text_type(c->type))
			c->kind = ML_COL_CATEGORICAL;
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of type %s cannot be encoded as a feature", names[i],
							format_type_be(c->type)),
					 errhint("Features are numbers, booleans or text (one-hot encoded); cast or leave out the others.")));
	}
	if (task != ML_CLUSTERING)
	{
		Oid			tt = getBaseType(TupleDescAttr(desc, tattno - 1)->atttypid);

		t->target = palloc0(sizeof(RawColumn));
		t->target->name = pstrdup(target);
		t->target->attno = tattno;
		t->target->type = tt;
		if (task == ML_REGRESSION && !is_numeric_type(tt))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("a regression target must be a number; \"%s\" is %s", target, format_type_be(tt))));
		if (is_numeric_type(tt))
		{
			t->target->kind = ML_COL_NUMERIC;
			t->label_kind = tt == BOOLOID ? ML_LABEL_BOOL : ML_LABEL_NUMBER;
		}
		else if (is_text_type(tt))
		{
			t->target->kind = ML_COL_CATEGORICAL;
			t->label_kind = ML_LABEL_TEXT;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("target column \"%s\" of type %s cannot be a class label", target, format_type_be(tt))));
	}
}

static void
train_dest_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	TrainDest  *d = (TrainDest *) self;
	MemoryContext old = MemoryContextSwitchTo(d->cxt);

	setup_columns(d->t, typeinfo, d->target, d->features, d->task, d->opts);
	MemoryContextSwitchTo(old);
}

static bool
train_dest_receive(TupleTableSlot *slot, DestReceiver *self)
{
	TrainDest  *d = (TrainDest *) self;
	RawTable   *t = d->t;
	MemoryContext old = MemoryContextSwitchTo(d->cxt);
	int			i;

	if ((t->nrows & 4095) == 0)
		DWC_CHECK_FOR_INTERRUPTS();
	if (t->nrows == INT_MAX - 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("training data has more than %d rows", INT_MAX - 1)));
	if (t->nrows == t->capacity)
		grow(t);
	slot_getallattrs(slot);
	for (i = 0; i < t->ncols; i++)
		store_datum(t, &t->cols[i], slot->tts_values[t->cols[i].attno - 1], slot->tts_isnull[t->cols[i].attno - 1],
					d->opts->max_categories);
	if (t->target)
	{
		if (slot->tts_isnull[t->target->attno - 1])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("target column \"%s\" is NULL in row %d", t->target->name, t->nrows + 1),
					 errhint("Leave such rows out of the training source.")));
		store_datum(t, t->target, slot->tts_values[t->target->attno - 1], false, INT_MAX);
	}
	t->holdout[t->nrows] = false;
	if (t->holdout_attno)
	{
		if (slot->tts_isnull[t->holdout_attno - 1])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("test_column \"%s\" is NULL in row %d", d->opts->test_column, t->nrows + 1)));
		t->holdout[t->nrows] = DatumGetBool(slot->tts_values[t->holdout_attno - 1]);
	}
	t->nrows++;
	MemoryContextSwitchTo(old);
	return true;
}

static void
train_dest_shutdown(DestReceiver *self)
{
}

static void
train_dest_destroy(DestReceiver *self)
{
}

/*
 * Read a table, view or query as the caller.  The rows go from the
 * executor's slots straight into the column arrays (a DestReceiver), with
 * no tuples built for SPI to hand over.
 */
RawTable *
MlReadSql(const char *source, const char *target, ArrayType *features, MlTask task,
		  const MlOptions *opts, Oid caller)
{
	RawTable   *t = palloc0(sizeof(RawTable));
	char	   *sql = source_query(source);
	Oid			save_userid;
	int			save_sec;
	TrainDest	dest;
	SPIExecuteOptions eo;
	int			rc;

	memset(&dest, 0, sizeof(dest));
	dest.pub.receiveSlot = train_dest_receive;
	dest.pub.rStartup = train_dest_startup;
	dest.pub.rShutdown = train_dest_shutdown;
	dest.pub.rDestroy = train_dest_destroy;
	dest.pub.mydest = DestNone;
	dest.t = t;
	dest.target = target;
	dest.features = features;
	dest.task = task;
	dest.opts = opts;
	dest.cxt = CurrentMemoryContext;
	memset(&eo, 0, sizeof(eo));
	eo.read_only = true;
	eo.dest = &dest.pub;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SPI_connect();
	/* the caller's query, with the caller's rights, and no way to change the session from it */
	SetUserIdAndSecContext(caller, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	rc = SPI_execute_extended(sql, &eo);
	/* a SELECT into a receiver other than SPI's own reports SPI_OK_UTILITY */
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training source must be a query that returns rows")));
	SetUserIdAndSecContext(save_userid, save_sec);
	SPI_finish();
	return t;
}

/* read a JSON array of objects (the seed's training_data) */
RawTable *
MlReadJson(Jsonb *rows, const char *target, ArrayType *features, MlTask task, const MlOptions *opts)
{
	RawTable   *t = palloc0(sizeof(RawTable));
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			nrows;
	int			r,
				i;

	if (!JB_ROOT_IS_ARRAY(rows) || JB_ROOT_IS_SCALAR(rows))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training_data must be a JSON array of objects")));
	nrows = JB_ROOT_COUNT(rows);
	if (nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training data has no rows")));

	/* the columns: features given, or the keys of the first object but the target */
	{
		JsonbValue *first = getIthJsonbValueFromContainer(&rows->root, 0);
		int			nf = 0;
		char	  **names;

		if (first == NULL || first->type != jbvBinary || !JsonContainerIsObject(first->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("training_data must be a JSON array of objects")));
		if (features != NULL)
			names = feature_names(features, &nf);
		else
		{
			names = palloc(sizeof(char *) * (JsonContainerSize(first->val.binary.data) + 1));
			it = JsonbIteratorInit(first->val.binary.data);
			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok == WJB_KEY)
				{
					char	   *k = pnstrdup(v.val.string.val, v.val.string.len);

					if ((task == ML_CLUSTERING || strcmp(k, target) != 0) &&
						(opts->test_column == NULL || strcmp(k, opts->test_column) != 0))
						names[nf++] = k;
				}
			}
		}
		if (nf == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the training data has no feature columns")));
		t->ncols = nf;
		t->cols = palloc0(sizeof(RawColumn) * nf);
		for (i = 0; i < nf; i++)
		{
			t->cols[i].name = names[i];
			t->cols[i].type = InvalidOid;
			if (task != ML_CLUSTERING && strcmp(names[i], target) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" is the target and cannot be a feature too", names[i])));
		}
		if (task != ML_CLUSTERING)
		{
			t->target = palloc0(sizeof(RawColumn));
			t->target->name = pstrdup(target);
		}
	}

	for (r = 0; r < nrows; r++)
	{
		JsonbValue *obj = getIthJsonbValueFromContainer(&rows->root, r);

		DWC_CHECK_FOR_INTERRUPTS();
		if (obj == NULL || obj->type != jbvBinary || !JsonContainerIsObject(obj->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row %d of training_data is not a JSON object", r + 1)));
		if (t->nrows == t->capacity)
			grow(t);
		for (i = 0; i < t->ncols; i++)
		{
			JsonbValue *fv;

			fv = DwcMlJsonbKey(obj->val.binary.data, t->cols[i].name);
			store_json(t, &t->cols[i], fv, false, opts->max_categories);
		}
		if (t->target)
		{
			JsonbValue *tv;

			tv = DwcMlJsonbKey(obj->val.binary.data, t->target->name);
			if (tv == NULL && r == 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("target column \"%s\" is not in the training data", target)));
			if (tv == NULL || tv->type == jbvNull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("target column \"%s\" is missing or null in row %d", target, r + 1)));
			store_json(t, t->target, tv, true, INT_MAX);
			if (task == ML_REGRESSION && t->target->kind != ML_COL_NUMERIC)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("a regression target must be a number; \"%s\" is text", target)));
		}
		t->holdout[t->nrows] = false;
		if (opts->test_column)
		{
			JsonbValue *hv;

			hv = DwcMlJsonbKey(obj->val.binary.data, opts->test_column);
			if (hv != NULL && hv->type == jbvBool)
				t->holdout[t->nrows] = hv->val.boolean;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("test_column \"%s\" must be true or false in every row (row %d)",
								opts->test_column, r + 1)));
		}
		t->nrows++;
	}
	/* a column never seen with a value: it is all NULL (refused below) */
	for (i = 0; i < t->ncols; i++)
		if (t->cols[i].kind == 0)
			t->cols[i].kind = ML_COL_NUMERIC;
	return t;
}
