/*-------------------------------------------------------------------------
 *
 * ml_pg.c
 *		The ML core's hooks, bound to PostgreSQL: memory from the current
 *		memory context (huge allocations allowed: a forest or a neighbour
 *		set can pass 1 GB), errors as ereport with SQLSTATEs, and
 *		CHECK_FOR_INTERRUPTS in every long loop of the core; and the two
 *		conversions training and prediction share (a jsonb key, a number
 *		column's datum).
 *
 * src/ml/ml_pg.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"

#include "core/dbworker.h"
#include "queue/queue.h"
#include "ml/ml_pg.h"

static void *
pg_alloc(size_t size)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, size, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

static void
pg_free(void *p)
{
	pfree(p);
}

static void
pg_error(MlErrorKind kind, const char *message)
{
	int			code;

	switch (kind)
	{
		case ML_ERR_INPUT:
			code = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
		case ML_ERR_ARTIFACT:
			code = ERRCODE_DATA_CORRUPTED;
			break;
		case ML_ERR_NOT_SUPPORTED:
			code = ERRCODE_FEATURE_NOT_SUPPORTED;
			break;
		case ML_ERR_NUMERIC:
			code = ERRCODE_DATA_EXCEPTION;
			break;
		default:
			code = ERRCODE_INTERNAL_ERROR;
			break;
	}
	ereport(ERROR, (errcode(code), errmsg("%s", message)));
}

static void
pg_interrupts(void)
{
	DWC_CHECK_FOR_INTERRUPTS();
}

/* a training run as a job (ml.train) says how far it has come; elsewhere this does nothing */
static void
pg_progress(const char *phase, long done, long total)
{
	(void) DwcJobProgress(phase, done, total);
}

void
DwcMlBindHooks(void)
{
	ml_alloc_hook = pg_alloc;
	ml_free_hook = pg_free;
	ml_error_hook = pg_error;
	ml_interrupt_hook = pg_interrupts;
	ml_progress_hook = pg_progress;
}

/* key's value in a jsonb object (JSON null included); NULL when absent */
JsonbValue *
DwcMlJsonbKey(JsonbContainer *obj, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = unconstify(char *, key);
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

/*
 * A datum of a number type (bool as 0/1) as a double; false when type is no
 * number type.  Finiteness is the caller's to check: its message names
 * where the value came from.
 */
bool
DwcMlDatumNumber(Datum d, Oid type, double *out)
{
	switch (type)
	{
		case INT2OID:
			*out = DatumGetInt16(d);
			return true;
		case INT4OID:
			*out = DatumGetInt32(d);
			return true;
		case INT8OID:
			*out = (double) DatumGetInt64(d);
			return true;
		case BOOLOID:
			*out = DatumGetBool(d) ? 1 : 0;
			return true;
		case FLOAT4OID:
			*out = DatumGetFloat4(d);
			return true;
		case FLOAT8OID:
			*out = DatumGetFloat8(d);
			return true;
		case NUMERICOID:
			*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
			return true;
		default:
			return false;
	}
}
