/*-------------------------------------------------------------------------
 *
 * rec_store.c
 *		Storing a trained version of a recommendation model: its row, each
 *		side's factors or counts, neighbour lists, and deploying it.
 *
 * src/recommend/rec_store.c
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

#include "core/timing.h"
#include "core/dbworker.h"
#include "core/errors.h"
#include "ml/ml_blas.h"
#include "ml/ml_pg.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"
#include "security/identity.h"

/* store rows of one side: ids, factors (n × k), counts */
void
rec_store_side(int64 model_id, int32 version, char side, char **ids, const double *F, const double *cnt,
			   int n, int k)
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
	/* unnest, not $4[g]: reaching element g of a text array walks the g before it */
	if (SPI_execute_with_args(psprintf("INSERT INTO dwc.rec_factors (model_id, version, side, id, factors, n) "
									   "SELECT $1, $2, $3, r.id, $5[(r.g - 1) * %d + 1 : r.g * %d], r.n "
									   "FROM unnest($4, $6) WITH ORDINALITY AS r(id, n, g)", k, k),
							  6, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the model's factors");
}

/*
 * Store a kNN version's neighbour lists: a row per item (or user), its
 * neighbours up to the first empty place.  One prepared INSERT a row: slices
 * of one long text array, the former way, walk the array from its start each
 * time (quadratic: 1.9 s of an item-kNN training on 3,000 items).
 */
void
rec_store_neighbors(int64 model_id, int32 version, char side, char **ids, const int *nb_idx, const double *nb_sim,
					int nitems, int K)
{
	Datum	   *nd = palloc(sizeof(Datum) * Max(K, 1));
	Datum	   *sd = palloc(sizeof(Datum) * Max(K, 1));
	Oid			types[6] = {INT8OID, INT4OID, CHAROID, TEXTOID, TEXTARRAYOID, FLOAT8ARRAYOID};
	Datum		args[6];
	SPIPlanPtr	plan;
	MemoryContext rowcxt,
				old;

	if (nitems == 0)
		return;
	plan = SPI_prepare("INSERT INTO dwc.rec_neighbors (model_id, version, side, id, neighbors, similarities) "
					   "VALUES ($1, $2, $3, $4, $5, $6)", 6, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare storing the model's neighbours");
	args[0] = Int64GetDatum(model_id);
	args[1] = Int32GetDatum(version);
	args[2] = CharGetDatum(side);
	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "dwc rec neighbour row", ALLOCSET_SMALL_SIZES);
	for (size_t j = 0; j < (size_t) nitems; j++)
	{
		int			n = 0;

		if ((j & 255) == 0)
			DWC_CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(rowcxt);
		while (n < K && nb_idx[j * K + n] >= 0)
		{
			nd[n] = CStringGetTextDatum(ids[nb_idx[j * K + n]]);
			sd[n] = Float8GetDatum(nb_sim[j * K + n]);
			n++;
		}
		args[3] = CStringGetTextDatum(ids[j]);
		args[4] = PointerGetDatum(construct_array(nd, n, TEXTOID, -1, false, TYPALIGN_INT));
		args[5] = PointerGetDatum(construct_array(sd, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		MemoryContextSwitchTo(old);
		if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not store the model's neighbours");
		MemoryContextReset(rowcxt);
	}
	MemoryContextDelete(rowcxt);
	SPI_freeplan(plan);
}

/*
 * User-kNN scores of a training user u: from the rows of R (by user, the
 * training values) of u's neighbours, centred on their means (umean) for the
 * adjusted cosine, plus u's mean.
 */

int32
rec_insert_version(const RecModel *m, const char *hyperparameters, double mean, int nusers, int nitems, int ntrain,
				   int ntest, const char *metrics)
{
	Oid			vt[8] = {INT8OID, JSONBOID, FLOAT8OID, INT4OID, INT4OID, INT4OID, INT4OID, JSONBOID};
	Datum		va[8];
	bool		isnull;

	va[0] = Int64GetDatum(m->id);
	va[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(hyperparameters));
	va[2] = Float8GetDatum(mean);
	va[3] = Int32GetDatum(nusers);
	va[4] = Int32GetDatum(nitems);
	va[5] = Int32GetDatum(ntrain);
	va[6] = Int32GetDatum(ntest);
	va[7] = DirectFunctionCall1(jsonb_in, CStringGetDatum(metrics));
	/* no row limit: a statement stopped at its first RETURNING row never fires its AFTER STATEMENT triggers */
	if (SPI_execute_with_args("INSERT INTO dwc.rec_versions (model_id, version, hyperparameters, mean, users, "
							  "items, train_interactions, test_interactions, metrics, training_ms) "
							  "SELECT $1, coalesce((SELECT max(version) FROM dwc.rec_versions WHERE model_id = $1), 0) + 1, "
							  "$2, $3, $4, $5, $6, $7, $8, 0 RETURNING version",
							  8, vt, va, NULL, false, 0) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not store the model version");
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

Jsonb *
rec_deploy_version(const RecModel *m, int32 version, instr_time t0, MemoryContext outer)
{
	Oid			vt[3] = {INT8OID, INT4OID, FLOAT8OID};
	Datum		va[3] = {Int64GetDatum(m->id), Int32GetDatum(version), Float8GetDatum(dwc_ms_since(t0))};
	bool		isnull;
	MemoryContext old;
	Jsonb	   *result;

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
	old = MemoryContextSwitchTo(outer);
	result = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	MemoryContextSwitchTo(old);
	return result;
}
