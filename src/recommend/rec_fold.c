/*-------------------------------------------------------------------------
 *
 * rec_fold.c
 *		Real-time learning: the trigger that folds a user's new interactions
 *		into their factors in every deployed factor model of the owner.
 *
 * src/recommend/rec_fold.c
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
#include "core/restore.h"
#include "ml/ml_blas.h"
#include "ml/ml_pg.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"
#include "security/identity.h"

PG_FUNCTION_INFO_V1(dwc__rec_fold_in);

/* ---- fold-in -------------------------------------------------------------- */

/* only while the version stands: a version deleted meanwhile takes its factors with it (recommend.sql) */
static const char FOLD_WRITE_SQL[] =
"INSERT INTO dwc.rec_factors (model_id, version, side, id, factors, n) "
"SELECT $1, $2, 'u', $3, $4, $5 FROM dwc.rec_versions WHERE model_id = $1 AND version = $2 FOR KEY SHARE "
"ON CONFLICT (model_id, version, side, id) DO UPDATE SET factors = excluded.factors, n = excluded.n";

/*
 * Re-solve one user's factors in a deployed ALS model from all their
 * interactions with the model's items, and store them.
 */
static void
fold_in(const RecModel *m, const char *user)
{
	ItemCache  *c = rec_load_items(m);
	Oid			types[6];
	Datum		args[6];
	int		   *idx;
	double	   *val;
	double	   *scratch;
	double	   *x;
	int			n,
				info;
	uint64		j;
	Datum	   *fd;
	double		mu;

	/* a fresh snapshot, which sees the rows of the statement that fired us */
	n = rec_user_values(m, c, user, true, &idx, &val, &mu);
	for (j = 0; j < (uint64) n; j++)
		val[j] -= c->mean;
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
	else if (m->params.algorithm == REC_BPR)
	{
		/* a few ascent steps on the user's factors alone, from zero */
		rec_bpr_fold(idx, val, n, c->Y, c->nitems, c->k, c->item_bias, m->params.learning_rate, m->params.lambda,
					 m->params.iterations, (uint64_t) m->params.seed, x);
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
	if (rec_run_prepared(FOLD_WRITE_SQL, 5, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the user's factors");
}

/*
 * Fold in each (user, deployed factor model) row that sql returns: user_id,
 * algorithm, owner, owner_user, model id, hyperparameters, deployed version.
 * Runs as the extension's owner; SPI is connected.
 */
static void
fold_in_rows(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls)
{
	AsOwner		save;

	rec_as_owner(&save);
	PG_TRY();
	{
		SPITupleTable *pairs;
		uint64		npairs,
					j;

		if (SPI_execute_with_args(sql, nargs, types, args, nulls, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the new interactions");
		pairs = SPI_tuptable;
		npairs = SPI_processed;
		for (j = 0; j < npairs; j++)
		{
			HeapTuple	tup = pairs->vals[j];
			TupleDesc	desc = pairs->tupdesc;
			bool		isnull;
			RecModel	m;

			DWC_CHECK_FOR_INTERRUPTS();
			m.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
			m.owner_user = SPI_getvalue(tup, desc, 4);
			m.id = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
			rec_parse_params(SPI_getvalue(tup, desc, 2), DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 6, &isnull)),
							 &m.params);
			m.deployed = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
			fold_in(&m, SPI_getvalue(tup, desc, 1));
		}
	}
	PG_FINALLY();
	{
		rec_as_caller(&save);
	}
	PG_END_TRY();
}

/* trigger dwc._rec_fold_in(), AFTER INSERT ... FOR EACH STATEMENT with NEW TABLE added */
Datum
dwc__rec_fold_in(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || td->tg_newtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("dwc._rec_fold_in() must be an AFTER INSERT statement trigger with a NEW TABLE")));
	/* interactions a dump brings back are in its factors already (core/restore.c) */
	if (DwcRestoring())
		return PointerGetDatum(NULL);
	SPI_connect();
	SPI_register_trigger_data(td);
	/* each (owner, user) of the statement once, with the deployed factor models of that owner */
	fold_in_rows("SELECT DISTINCT a.user_id, m.algorithm, m.owner, m.owner_user, m.id, m.hyperparameters, "
				 "m.deployed_version FROM added a JOIN dwc.rec_models m ON m.owner = a.owner "
				 "AND m.owner_user IS NOT DISTINCT FROM a.owner_user "
				 "WHERE m.algorithm IN ('als', 'implicit_als', 'svd', 'bpr') AND m.deployed_version IS NOT NULL",
				 0, NULL, NULL, NULL);
	SPI_finish();
	return PointerGetDatum(NULL);
}

/*
 * dwc._rec_fold_in_user(owner oid, owner_user text, user_id text): the same for
 * one user, called where the trigger cannot serve: on a Citus coordinator
 * whose dwc.rec_interactions is distributed, the trigger fires on the worker
 * nodes, which hold no model (dwc.distribute(), docs/scaling.md).
 */
PG_FUNCTION_INFO_V1(dwc__rec_fold_in_user);
Datum
dwc__rec_fold_in_user(PG_FUNCTION_ARGS)
{
	Oid			types[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_VOID();
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	args[2] = PG_GETARG_DATUM(2);
	SPI_connect();
	fold_in_rows("SELECT $3, m.algorithm, m.owner, m.owner_user, m.id, m.hyperparameters, m.deployed_version "
				 "FROM dwc.rec_models m WHERE m.owner = $1 AND m.owner_user IS NOT DISTINCT FROM $2 "
				 "AND m.algorithm IN ('als', 'implicit_als', 'svd', 'bpr') AND m.deployed_version IS NOT NULL",
				 3, types, args, nulls);
	SPI_finish();
	PG_RETURN_VOID();
}
