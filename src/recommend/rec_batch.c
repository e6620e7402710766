/*-------------------------------------------------------------------------
 *
 * rec_batch.c
 *		dwc.recommend_many(): the top n of many users (or every user) in one
 *		call, as rows.  The owner's interactions are read once (the users,
 *		and what each has to be excluded), and a factor model scores users a
 *		block at a time with one matrix product (dgemm) instead of a query
 *		and a matrix-vector product per user.
 *
 * src/recommend/rec_batch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "core/dbworker.h"
#include "core/errors.h"
#include "ml/ml_blas.h"
#include "ml/ml_core.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"

PG_FUNCTION_INFO_V1(dwc_recommend_many);

/* users scored by one matrix product: a block of scores is BLOCK × items doubles */
#define BLOCK 64

typedef struct Batch
{
	ReturnSetInfo *rsinfo;
	RecModel	m;
	ItemCache  *c;
	int			n;
	bool		exclude;
	RecRead		read;			/* the owner's interactions, by user (byte order) */
	int		   *cache_pos;		/* read.items[k]'s place in the cache c, or -1 */
	int		   *top;
	unsigned char *excluded;	/* nexcluded flags, all 0 between users */
	int			nexcluded;
} Batch;

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* the place of user among read.users (byte order), or -1 */
static int
read_user(const RecRead *r, const char *user)
{
	char	   *const *at = r->nusers > 0
		? bsearch(&user, r->users, r->nusers, sizeof(char *), cmp_id) : NULL;

	return at ? (int) (at - r->users) : -1;
}

/* the place of read item i in cache c: b->cache_pos for the model's own cache, else looked up */
static inline int
place_in(const Batch *b, ItemCache *c, int i)
{
	return c == b->c ? b->cache_pos[i] : rec_intern_cstring(&c->index, b->read.items[i], false);
}

/* the rows of one user's n best, from their scores of every item of cache c */
static void
emit_user(Batch *b, ItemCache *c, const char *user, int ru, const int *first_row, double *scores)
{
	int			ntop,
				e;
	Datum		uid = CStringGetTextDatum(user);

	if (c->nitems > b->nexcluded)
	{
		b->excluded = repalloc(b->excluded, c->nitems);
		memset(b->excluded + b->nexcluded, 0, c->nitems - b->nexcluded);
		b->nexcluded = c->nitems;
	}
	if (b->exclude && ru >= 0)
		for (e = first_row[ru]; e < first_row[ru + 1]; e++)
		{
			int			pos = place_in(b, c, b->read.rows[e].i);

			if (pos >= 0)
				b->excluded[pos] = 1;
		}
	ntop = rec_top_n(scores, c->nitems, b->excluded, b->n, b->top);
	for (e = 0; e < ntop; e++)
	{
		Datum		v[4];
		bool		nulls[4] = {false, false, false, false};

		v[0] = uid;
		v[1] = CStringGetTextDatum(c->ids[b->top[e]]);
		v[2] = Float8GetDatum(scores[b->top[e]]);
		v[3] = Int32GetDatum(e + 1);
		tuplestore_putvalues(b->rsinfo->setResult, b->rsinfo->setDesc, v, nulls);
	}
	if (b->exclude && ru >= 0)
		for (e = first_row[ru]; e < first_row[ru + 1]; e++)
		{
			int			pos = place_in(b, c, b->read.rows[e].i);

			if (pos >= 0)
				b->excluded[pos] = 0;
		}
}

/*
 * User-kNN for many users: the version's neighbour lists read at once, the
 * neighbours' current interactions taken from what was read (b->read), not
 * queried per user; each user's scores as rec_score_uknn() makes them.
 */
static void
uknn_many(Batch *b, char **users, int nusers, const int *ru, const int *first_row)
{
	const RecRead *rd = &b->read;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		args[2] = {Int64GetDatum(b->m.id), Int32GetDatum(b->m.deployed)};
	RecCsr		R;
	RecIntern	owners;
	int		  **lnb;			/* each list's neighbours, as rows of R */
	double	  **lsim;
	int		   *ln;
	double	   *scores = palloc(sizeof(double) * Max(b->c->nitems, 1));
	int			u,
				e,
				j;

	/* R: every user's latest values of the version's items */
	R.nrows = rd->nusers;
	R.ptr = palloc0(sizeof(int) * (rd->nusers + 1));
	R.idx = palloc(sizeof(int) * Max(rd->n, 1));
	R.val = palloc(sizeof(double) * Max(rd->n, 1));
	for (u = 0; u < rd->nusers; u++)
	{
		R.ptr[u + 1] = R.ptr[u];
		for (e = first_row[u]; e < first_row[u + 1]; e++)
			if (b->cache_pos[rd->rows[e].i] >= 0)
			{
				R.idx[R.ptr[u + 1]] = b->cache_pos[rd->rows[e].i];
				R.val[R.ptr[u + 1]] = rd->rows[e].v;
				R.ptr[u + 1]++;
			}
	}

	if (SPI_execute_with_args("SELECT id, neighbors, similarities FROM dwc.rec_neighbors "
							  "WHERE model_id = $1 AND version = $2 AND side = 'u'",
							  2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the model's neighbour lists");
	rec_intern_init(&owners, (int) SPI_processed, CurrentMemoryContext);
	lnb = palloc(sizeof(int *) * Max(SPI_processed, 1));
	lsim = palloc(sizeof(double *) * Max(SPI_processed, 1));
	ln = palloc(sizeof(int) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			li = rec_intern_text(&owners, SPI_getbinval(tup, desc, 1, &isnull), true);
		ArrayType  *sims = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 3, &isnull));
		Datum	   *nbs;
		bool	   *nbnull;
		int			nnb;

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull)), TEXTOID, -1, false,
						  TYPALIGN_INT, &nbs, &nbnull, &nnb);
		if (nnb != ArrayGetNItems(ARR_NDIM(sims), ARR_DIMS(sims)) || ARR_HASNULL(sims))
			elog(ERROR, "user %s of the model has malformed neighbours", SPI_getvalue(tup, desc, 1));
		lnb[li] = palloc(sizeof(int) * Max(nnb, 1));
		lsim[li] = palloc(sizeof(double) * Max(nnb, 1));
		ln[li] = 0;
		for (e = 0; e < nnb; e++)
		{
			/* a neighbour with no interactions now adds nothing */
			int			v = nbnull[e] ? -1 : read_user(rd, TextDatumGetCString(nbs[e]));

			if (v < 0)
				continue;
			lnb[li][ln[li]] = v;
			lsim[li][ln[li]] = ((double *) ARR_DATA_PTR(sims))[e];
			ln[li]++;
		}
		/* rec_score_uknn() gives up on a list of none */
		if (nnb == 0)
			ln[li] = -1;
	}
	for (j = 0; j < nusers; j++)
	{
		int			li = rec_intern_cstring(&owners, users[j], false);

		DWC_CHECK_FOR_INTERRUPTS();
		if ((j & 63) == 0)
			ml_progress("recommending for users", j, nusers);
		if (li >= 0 && ln[li] >= 0)
			rec_user_knn_rank(lnb[li], lsim[li], ln[li], &R, b->c->nitems, scores);
		else
			rec_score_user(&b->m, b->c, users[j], scores);	/* no list: as recommend() would */
		emit_user(b, b->c, users[j], ru[j], first_row, scores);
	}
}

static void
recommend_many(Batch *b, const char *model, Oid caller, char **given, int ngiven)
{
	RecModel   *m = &b->m;
	char	  **users;
	int			nusers,
				j;
	int		   *first_row;
	int		   *ru;				/* each user's place among those read, or -1 */
	double	   *scores;

	rec_resolve_model(model, caller, m);
	rec_require_deployed(m, model);
	/* a hybrid's items are its components' union, which rec_hybrid_scores() gives user by user */
	b->c = m->params.algorithm == REC_HYBRID ? NULL : rec_load_items(m);
	/* every interaction of the owner, once: who the users are and what each has seen */
	rec_read_latest(m, false, (Datum) 0, &b->read);
	first_row = palloc0(sizeof(int) * (b->read.nusers + 1));
	for (j = 0; j < b->read.n; j++)
		first_row[b->read.rows[j].u + 1]++;
	for (j = 0; j < b->read.nusers; j++)
		first_row[j + 1] += first_row[j];
	b->cache_pos = palloc(sizeof(int) * Max(b->read.nitems, 1));
	for (j = 0; j < b->read.nitems && b->c; j++)
		b->cache_pos[j] = rec_intern_cstring(&b->c->index, b->read.items[j], false);
	if (given != NULL)
	{
		users = given;
		nusers = ngiven;
	}
	else
	{
		users = b->read.users;
		nusers = b->read.nusers;
	}
	ru = palloc(sizeof(int) * Max(nusers, 1));
	for (j = 0; j < nusers; j++)
		ru[j] = given ? read_user(&b->read, users[j]) : j;
	b->top = palloc(sizeof(int) * b->n);
	b->nexcluded = b->c ? Max(b->c->nitems, 1) : 1;
	b->excluded = palloc0(b->nexcluded);

	if (m->params.algorithm == REC_HYBRID)
	{
		for (j = 0; j < nusers; j++)
		{
			ItemCache  *c;

			DWC_CHECK_FOR_INTERRUPTS();
			if ((j & 63) == 0)
				ml_progress("recommending for users", j, nusers);
			c = rec_hybrid_scores(m, users[j], &scores, NULL, NULL);
			emit_user(b, c, users[j], ru[j], first_row, scores);
			pfree(scores);
		}
	}
	else if (HAS_FACTORS(m->params.algorithm) && b->c->nitems > 0)
	{
		int			k = b->c->k;
		double	  **x = palloc(sizeof(double *) * Max(nusers, 1));
		double	   *X = palloc(sizeof(double) * BLOCK * k);
		double	   *S = palloc_extended(sizeof(double) * BLOCK * (Size) b->c->nitems, MCXT_ALLOC_HUGE);

		RecIntern	distinct;
		double	  **xd;

		/* each distinct user's factors, once (a list given may repeat a user) */
		rec_intern_init(&distinct, nusers, CurrentMemoryContext);
		for (j = 0; j < nusers; j++)
			(void) rec_intern_cstring(&distinct, users[j], true);
		xd = palloc(sizeof(double *) * Max(distinct.count, 1));
		rec_users_factors(m, b->c, &distinct, xd);
		for (j = 0; j < nusers; j++)
			x[j] = xd[rec_intern_cstring(&distinct, users[j], false)];
		for (int u0 = 0; u0 < nusers; u0 += BLOCK)
		{
			int			nb = Min(BLOCK, nusers - u0);

			DWC_CHECK_FOR_INTERRUPTS();
			ml_progress("recommending for users", u0, nusers);
			/* the known users' rows of factors; a user without any gets zeros, scored below */
			for (j = 0; j < nb; j++)
			{
				if (x[u0 + j])
					memcpy(X + (size_t) j * k, x[u0 + j], sizeof(double) * k);
				else
					memset(X + (size_t) j * k, 0, sizeof(double) * k);
			}
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, b->c->nitems, k, 1.0, X, k, b->c->Y, k, 0.0,
						S, b->c->nitems);
			for (j = 0; j < nb; j++)
			{
				double	   *s = S + (size_t) j * b->c->nitems;

				if (x[u0 + j])
				{
					for (int i = 0; i < b->c->nitems; i++)
						s[i] += b->c->mean;
				}
				else
					rec_score_user(m, b->c, users[u0 + j], s);	/* as recommend() would */
				emit_user(b, b->c, users[u0 + j], ru[u0 + j], first_row, s);
			}
		}
	}
	else if (m->params.algorithm == REC_UKNN)
		uknn_many(b, users, nusers, ru, first_row);
	else
	{
		scores = palloc(sizeof(double) * Max(b->c->nitems, 1));
		for (j = 0; j < nusers; j++)
		{
			DWC_CHECK_FOR_INTERRUPTS();
			if ((j & 63) == 0)
				ml_progress("recommending for users", j, nusers);
			rec_score_user(m, b->c, users[j], scores);
			emit_user(b, b->c, users[j], ru[j], first_row, scores);
		}
	}
}

/* dwc.recommend_many(model, user_ids, n, exclude_interacted) returns table (user_id, item_id, score, rank) */
Datum
dwc_recommend_many(PG_FUNCTION_ARGS)
{
	Batch		b;
	AsOwner		save;
	char	   *model;
	char	  **volatile given = NULL;
	int			ngiven = 0;

	DWC_REQUIRE_ARG(0, "model");
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	memset(&b, 0, sizeof(b));
	b.n = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	b.exclude = PG_ARGISNULL(3) ? true : PG_GETARG_BOOL(3);
	if (b.n < 1 || b.n > MAX_N)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be from 1 to %d, not %d", MAX_N, b.n)));
	if (!PG_ARGISNULL(1))
	{
		Datum	   *d;
		bool	   *nulls;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &ngiven);
		given = palloc(sizeof(char *) * Max(ngiven, 1));
		for (int j = 0; j < ngiven; j++)
		{
			if (nulls[j])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("user_ids must not contain NULL")));
			given[j] = TextDatumGetCString(d[j]);
		}
	}
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	b.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SPI_connect();
	rec_as_owner(&save);
	PG_TRY();
	{
		recommend_many(&b, model, save.caller, given, ngiven);
	}
	PG_FINALLY();
	{
		rec_as_caller(&save);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_NULL();
}
