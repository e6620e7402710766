/*-------------------------------------------------------------------------
 *
 * ml_data.c
 *		Training data: from a table, a view, a query or a JSON array of
 *		objects to encoded, split and standardised matrices.
 *
 * A query runs as the caller (the role that asked for the training, never
 * dwc's owner), through a cursor a chunk of rows at a time.  Columns are
 * encoded by type: numbers and booleans as they are, text one-hot (levels
 * sorted bytewise, at most max_categories of them); other types are
 * refused with the column's name.  NULL features are refused, or, with
 * nulls => 'impute', replaced by the training rows' mean (numbers) or most
 * frequent level (text), the value kept with the model for predictions.
 * Class labels are sorted as their type sorts (numbers numerically, text
 * bytewise, false before true).
 *
 * The split is seeded and deterministic: a Fisher-Yates shuffle of the
 * row numbers (per class when stratified) from the seed, round(test_size
 * x rows) of them (per class) held out; the training rows keep their
 * original order.  Standardisation (mean 0, variance 1; a constant input
 * keeps scale 1) is fitted on the training rows only.
 *
 * src/ml/ml_data.c
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


/* a column as read, before encoding */
typedef struct RawColumn
{
	char	   *name;
	MlColumnKind kind;
	Oid			type;			/* SQL type (InvalidOid for JSON input) */
	int			attno;			/* in the query's result, 1-based */
	double	   *num;			/* numeric: values; categorical: level numbers in order of appearance */
	bool	   *null;
	int			nnull;
	HTAB	   *levels;			/* categorical: level text -> number */
	int			nlevels;
	char	  **level_text;		/* by number of appearance */
	int			capacity;
} RawColumn;

typedef struct LevelEntry
{
	char		key[NAMEDATALEN * 4];	/* hash key: see level_key() */
	int			index;
} LevelEntry;

typedef struct RawTable
{
	int			ncols;
	RawColumn  *cols;
	RawColumn  *target;			/* NULL for clustering */
	int			nrows;
	int			capacity;
	MlLabelKind label_kind;
	int			holdout_attno;	/* test_column, in the query's result */
	bool	   *holdout;		/* per row: a test row (test_column) */
} RawTable;

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
static RawTable *
read_sql(const char *source, const char *target, ArrayType *features, MlTask task,
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
static RawTable *
read_json(Jsonb *rows, const char *target, ArrayType *features, MlTask task, const MlOptions *opts)
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

typedef struct LevelSort
{
	char	   *text;
	int			old;
} LevelSort;

static int
cmp_level(const void *a, const void *b)
{
	return strcmp(((const LevelSort *) a)->text, ((const LevelSort *) b)->text);
}

/* renumber a categorical column's levels in sorted order */
static void
sort_levels(RawColumn *c, int nrows)
{
	LevelSort  *ls = palloc(sizeof(LevelSort) * Max(c->nlevels, 1));
	char	  **sorted = palloc(sizeof(char *) * Max(c->nlevels, 1));
	int		   *map = palloc(sizeof(int) * Max(c->nlevels, 1));
	int			i;

	for (i = 0; i < c->nlevels; i++)
	{
		ls[i].text = c->level_text[i];
		ls[i].old = i;
	}
	qsort(ls, c->nlevels, sizeof(LevelSort), cmp_level);
	for (i = 0; i < c->nlevels; i++)
	{
		sorted[i] = ls[i].text;
		map[ls[i].old] = i;
	}
	for (i = 0; i < nrows; i++)
		if (!c->null[i])
			c->num[i] = map[(int) c->num[i]];
	c->level_text = sorted;
	pfree(ls);
	pfree(map);
}

typedef struct LabelSort
{
	double		value;
	int			old;
} LabelSort;

static int
cmp_label(const void *a, const void *b)
{
	double		x = ((const LabelSort *) a)->value;
	double		y = ((const LabelSort *) b)->value;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* class labels: their sorted list, and the target as class numbers */
static char **
encode_labels(RawTable *t, int *nclasses)
{
	RawColumn  *c = t->target;
	char	  **labels;
	int			i;

	if (c->kind == ML_COL_CATEGORICAL)
	{
		sort_levels(c, t->nrows);
		*nclasses = c->nlevels;
		return c->level_text;
	}
	else
	{
		/* numbers: distinct values, sorted numerically */
		LabelSort  *ls = palloc(sizeof(LabelSort) * t->nrows);
		double	   *distinct;
		int			nd = 0;

		for (i = 0; i < t->nrows; i++)
		{
			ls[i].value = c->num[i];
			ls[i].old = i;
		}
		qsort(ls, t->nrows, sizeof(LabelSort), cmp_label);
		distinct = palloc(sizeof(double) * t->nrows);
		for (i = 0; i < t->nrows; i++)
		{
			if (nd == 0 || ls[i].value != distinct[nd - 1])
			{
				if (nd >= 100000)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("target column \"%s\" has more than 100000 classes", c->name),
							 errhint("A numeric target with many values is a regression target.")));
				distinct[nd++] = ls[i].value;
			}
			c->num[ls[i].old] = nd - 1;
		}
		labels = palloc(sizeof(char *) * Max(nd, 1));
		for (i = 0; i < nd; i++)
		{
			if (t->label_kind == ML_LABEL_BOOL)
				labels[i] = pstrdup(distinct[i] != 0 ? "true" : "false");
			else
				labels[i] = DatumGetCString(DirectFunctionCall1(float8out, Float8GetDatum(distinct[i])));
		}
		*nclasses = nd;
		return labels;
	}
}

/* seeded split: test row numbers marked in is_test */
static void
split(const MlOptions *opts, const double *label, int nclasses, int n, bool *is_test)
{
	MlRng		rng;
	int		   *idx = palloc(sizeof(int) * Max(n, 1));
	int			i;

	ml_rng_seed(&rng, opts->seed);
	memset(is_test, 0, n);
	if (opts->test_size <= 0)
		return;
	if (label != NULL && opts->stratify)
	{
		int			c;

		for (c = 0; c < nclasses; c++)
		{
			int			m = 0;
			int			take;

			for (i = 0; i < n; i++)
				if ((int) label[i] == c)
					idx[m++] = i;
			ml_shuffle(&rng, idx, m);
			take = (int) rint(opts->test_size * m);
			if (take >= m && m > 0)
				take = m - 1;	/* every class keeps a training row */
			for (i = 0; i < take; i++)
				is_test[idx[i]] = true;
		}
	}
	else
	{
		int			take;

		for (i = 0; i < n; i++)
			idx[i] = i;
		ml_shuffle(&rng, idx, n);
		take = (int) rint(opts->test_size * n);
		if (take >= n)
			take = n - 1;
		for (i = 0; i < take; i++)
			is_test[idx[i]] = true;
	}
	pfree(idx);
}

void
DwcMlParseOptions(Jsonb *options, MlTask task, MlOptions *out)
{
	out->test_size = 0.25;
	out->seed = 42;
	out->stratify = task == ML_CLASSIFICATION;
	out->impute = false;
	out->max_categories = 100;
	out->test_column = NULL;
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training options must be a JSON object")));
	{
		JsonbIterator *it = JsonbIteratorInit(&options->root);
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			double		d = 0;

			if (tok == WJB_KEY)
			{
				key = pnstrdup(v.val.string.val, v.val.string.len);
				continue;
			}
			if (tok != WJB_VALUE)
				continue;
			if (v.type == jbvNumeric)
				d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
			if (strcmp(key, "test_size") == 0)
			{
				if (v.type != jbvNumeric || !(d >= 0 && d < 1))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("test_size must be a number from 0 to below 1")));
				out->test_size = d;
			}
			else if (strcmp(key, "seed") == 0)
			{
				if (v.type != jbvNumeric || d != floor(d) || d < 0 || d > 9007199254740992.0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("seed must be a non-negative integer")));
				out->seed = (uint64) d;
			}
			else if (strcmp(key, "stratify") == 0)
			{
				if (v.type != jbvBool)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("stratify must be true or false")));
				out->stratify = v.val.boolean && task == ML_CLASSIFICATION;
			}
			else if (strcmp(key, "nulls") == 0)
			{
				char	   *s = v.type == jbvString ? pnstrdup(v.val.string.val, v.val.string.len) : "";

				if (strcmp(s, "impute") == 0)
					out->impute = true;
				else if (strcmp(s, "error") == 0)
					out->impute = false;
				else
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("nulls must be \"error\" or \"impute\"")));
			}
			else if (strcmp(key, "max_categories") == 0)
			{
				if (v.type != jbvNumeric || d != floor(d) || d < 1 || d > 100000)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("max_categories must be an integer from 1 to 100000")));
				out->max_categories = (int) d;
			}
			else if (strcmp(key, "test_column") == 0)
			{
				if (v.type == jbvNull)
					out->test_column = NULL;
				else if (v.type != jbvString)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("test_column must be the name of a boolean column")));
				else
					out->test_column = pnstrdup(v.val.string.val, v.val.string.len);
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown training option \"%s\"", key),
						 errhint("The options are test_size, seed, stratify, test_column, nulls and max_categories.")));
		}
	}
}

/*
 * Training data, ready for a model: read from source (a relation or a
 * query) or rows (a JSON array), encoded with a schema, split and, when
 * asked, standardised.
 */
MlPrepared *
DwcMlPrepare(const char *source, Jsonb *rows, const char *target, ArrayType *features, MlTask task,
			 const MlOptions *opts, bool standardize, Oid caller)
{
	RawTable   *t = source ? read_sql(source, target, features, task, opts, caller)
		: read_json(rows, target, features, task, opts);
	MlPrepared *pr = palloc0(sizeof(MlPrepared));
	MlSchema   *s = palloc0(sizeof(MlSchema));
	int			n = t->nrows;
	bool	   *is_test;
	int			ntest = 0,
				ntrain;
	double	   *label = NULL;
	int			p = 0;
	int			i,
				j,
				r;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the training data has no rows")));
	pr->schema = s;
	pr->nrows = n;
	pr->nfeatures = t->ncols;
	pr->features = palloc(sizeof(char *) * t->ncols);

	if (task == ML_CLASSIFICATION)
	{
		s->classes = encode_labels(t, &s->nclasses);
		s->label_kind = t->label_kind;
		if (s->nclasses < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the target column \"%s\" has a single class (%s); classification needs at least two",
							target, s->classes[0])));
		label = t->target->num;
	}
	if (task != ML_CLUSTERING)
		s->target = pstrdup(target);

	/* columns: levels sorted, NULLs checked */
	s->ncols = t->ncols;
	s->cols = palloc0(sizeof(MlColumn) * t->ncols);
	for (i = 0; i < t->ncols; i++)
	{
		RawColumn  *c = &t->cols[i];
		MlColumn   *mc = &s->cols[i];

		pr->features[i] = c->name;
		if (c->nnull == n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" has only NULL values", c->name),
					 errhint("Leave it out of the features.")));
		if (c->nnull > 0 && !opts->impute)
		{
			for (r = 0; r < n && !c->null[r]; r++)
				;
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column \"%s\" is NULL in row %d (and %d rows in all)", c->name, r + 1, c->nnull),
					 errhint("Filter or fill the NULLs in the source, or train with the option nulls => 'impute'.")));
		}
		mc->name = c->name;
		mc->kind = c->kind;
		mc->offset = p;
		if (c->kind == ML_COL_CATEGORICAL)
		{
			sort_levels(c, n);
			mc->nlevels = c->nlevels;
			mc->levels = c->level_text;
			p += c->nlevels;
		}
		else
			p++;
	}
	s->p = p;

	is_test = palloc(Max(n, 1));
	if (opts->test_column)
		memcpy(is_test, t->holdout, n);
	else
		split(opts, label, s->nclasses, n, is_test);
	for (i = 0; i < n; i++)
		ntest += is_test[i];
	ntrain = n - ntest;
	if (ntrain == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every row is a test row: nothing is left to train on")));

	/* imputation from the training rows */
	for (i = 0; i < t->ncols; i++)
	{
		RawColumn  *c = &t->cols[i];
		MlColumn   *mc = &s->cols[i];

		if (c->nnull == 0)
			continue;
		mc->has_impute = true;
		if (c->kind == ML_COL_NUMERIC)
		{
			double		sum = 0;
			int			cnt = 0;

			for (r = 0; r < n; r++)
				if (!is_test[r] && !c->null[r])
				{
					sum += c->num[r];
					cnt++;
				}
			if (cnt == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" has only NULL values in the training rows", c->name)));
			mc->impute = sum / cnt;
		}
		else
		{
			int		   *cnt = palloc0(sizeof(int) * c->nlevels);
			int			best = 0;

			for (r = 0; r < n; r++)
				if (!is_test[r] && !c->null[r])
					cnt[(int) c->num[r]]++;
			for (j = 1; j < c->nlevels; j++)
				if (cnt[j] > cnt[best])
					best = j;
			mc->impute = best;
		}
	}

	/* the encoded matrices, column-major */
	pr->train.n = ntrain;
	pr->train.p = p;
	pr->train.x = palloc_extended(sizeof(double) * (size_t) ntrain * p, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	pr->test.n = ntest;
	pr->test.p = p;
	pr->test.x = palloc_extended(sizeof(double) * (size_t) Max(ntest, 1) * p, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	if (task != ML_CLUSTERING)
	{
		pr->train.y = palloc_extended(sizeof(double) * Max(ntrain, 1), MCXT_ALLOC_HUGE);
		pr->test.y = palloc_extended(sizeof(double) * Max(ntest, 1), MCXT_ALLOC_HUGE);
	}
	for (i = 0; i < t->ncols; i++)
	{
		RawColumn  *c = &t->cols[i];
		MlColumn   *mc = &s->cols[i];
		int			a = 0,
					b = 0;

		DWC_CHECK_FOR_INTERRUPTS();
		for (r = 0; r < n; r++)
		{
			MlData	   *dst = is_test[r] ? &pr->test : &pr->train;
			int			row = is_test[r] ? b++ : a++;
			double		v = c->null[r] ? mc->impute : c->num[r];

			if (c->kind == ML_COL_NUMERIC)
				dst->x[(size_t) mc->offset * dst->n + row] = v;
			else
				dst->x[(size_t) (mc->offset + (int) v) * dst->n + row] = 1.0;
		}
	}
	if (task != ML_CLUSTERING)
	{
		int			a = 0,
					b = 0;

		for (r = 0; r < n; r++)
		{
			if (is_test[r])
				pr->test.y[b++] = t->target->num[r];
			else
				pr->train.y[a++] = t->target->num[r];
		}
	}

	if (standardize)
	{
		s->mean = palloc(sizeof(double) * p);
		s->scale = palloc(sizeof(double) * p);
		for (j = 0; j < p; j++)
		{
			double	   *col = pr->train.x + (size_t) j * ntrain;
			double		mean = 0,
						ss = 0;

			for (r = 0; r < ntrain; r++)
				mean += col[r];
			mean /= ntrain;
			for (r = 0; r < ntrain; r++)
				ss += (col[r] - mean) * (col[r] - mean);
			s->mean[j] = mean;
			s->scale[j] = ss > 0 ? sqrt(ss / ntrain) : 1.0;
			for (r = 0; r < ntrain; r++)
				col[r] = (col[r] - mean) / s->scale[j];
			col = pr->test.x + (size_t) j * ntest;
			for (r = 0; r < ntest; r++)
				col[r] = (col[r] - mean) / s->scale[j];
		}
	}
	return pr;
}
