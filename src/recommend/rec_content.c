/*-------------------------------------------------------------------------
 *
 * rec_content.c
 *		The content-based model's item similarities: TF-IDF vectors of each
 *		item's text (PostgreSQL's text search parser and dictionaries) and
 *		features, and each item's nearest items by their cosine.
 *
 * An item's terms are the lexemes of to_tsvector(text_config, content),
 * with their counts, and one term per feature: "key=value" for a scalar,
 * one per element for an array of scalars (nested objects are not terms).
 * A term's weight in an item is (1 + ln tf) · ln(N / df), N the items with
 * any term and df those with this one, times feature_weight for features;
 * terms in more than max_df of the items are dropped, which removes the
 * words that tell items apart least and bounds the work, O(Σ df²).
 *
 * src/recommend/rec_content.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"

#include "core/dbworker.h"
#include "recommend/rec_core.h"
#include "recommend/rec_pg.h"

/* (item, term, count, is a feature) of the owner's items; $3 the text search configuration */
static const char TERMS_SQL[] =
"SELECT i.item_id, t.lexeme, coalesce(cardinality(t.positions), 0), false "
"FROM dwc.rec_items i, unnest(to_tsvector($3::regconfig, coalesce(i.content, ''))) t "
"WHERE " OWNER_IS " "
"UNION ALL "
"SELECT DISTINCT i.item_id, 'f:' || e.key || '=' || coalesce(a.value #>> '{}', e.value #>> '{}'), 1, true "
"FROM dwc.rec_items i CROSS JOIN LATERAL jsonb_each(i.features) e "
"LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value END) a ON true "
"WHERE " OWNER_IS " AND jsonb_typeof(e.value) NOT IN ('object', 'null') "
"AND (jsonb_typeof(e.value) <> 'array' OR jsonb_typeof(a.value) NOT IN ('object', 'array', 'null'))";

int
rec_content_neighbors(const RecModel *m, const RecIntern *items, int nitems, int K, int *nb_idx, double *nb_sim)
{
	Oid			types[3];
	Datum		args[3];
	char		nulls[3];
	RecIntern	terms;
	int			nterms,
				np = 0,
				ndocs = 0,
				kept_terms = 0,
				j;
	RecEntry   *p;				/* u: the term, i: the item; test: dropped */
	int		   *df;
	bool	   *kept;
	bool	   *has_terms;
	RecCsr		by_item,
				by_term;

	rec_intern_init(&terms, 1024, CurrentMemoryContext);
	rec_owner_args3(m, TEXTOID, CStringGetTextDatum(m->params.text_config), types, args, nulls);
	if (SPI_execute_with_args(TERMS_SQL, 3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the items' terms");
	p = palloc_extended(sizeof(RecEntry) * Max(SPI_processed, 1), MCXT_ALLOC_HUGE);
	has_terms = palloc0(sizeof(bool) * Max(nitems, 1));
	for (j = 0; j < (int) SPI_processed; j++)
	{
		HeapTuple	tup = SPI_tuptable->vals[j];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		noterm;
		Datum		item = SPI_getbinval(tup, desc, 1, &isnull);
		Datum		term = SPI_getbinval(tup, desc, 2, &noterm);
		int			tf = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		bool		feature = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));

		DWC_CHECK_FOR_INTERRUPTS();
		if (noterm)
			continue;
		p[np].i = rec_intern_find_text(items, item);
		if (p[np].i < 0)
			continue;
		p[np].u = rec_intern_text(&terms, term, true);
		/* a lexeme stripped of positions (over 256 of them) still occurred once */
		p[np].v = (1 + log((double) Max(tf, 1))) * (feature ? m->params.feature_weight : 1);
		if (p[np].v == 0)
			continue;
		has_terms[p[np].i] = true;
		np++;
	}
	nterms = terms.count;
	for (j = 0; j < nitems; j++)
		ndocs += has_terms[j];
	if (ndocs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no item has text or features to compare"),
				 errhint("Describe the items with dwc.rec_set_item(item_id, features, content).")));

	/* document frequencies; the terms kept, weighted by their idf */
	df = palloc0(sizeof(int) * Max(nterms, 1));
	kept = palloc0(sizeof(bool) * Max(nterms, 1));
	for (j = 0; j < np; j++)
		df[p[j].u]++;
	for (j = 0; j < nterms; j++)
	{
		kept[j] = df[j] < ndocs && df[j] <= m->params.max_df * ndocs;
		kept_terms += kept[j];
	}
	for (j = 0; j < np; j++)
		{
		p[j].v *= log((double) ndocs / df[p[j].u]);
		p[j].test = !kept[p[j].u];
	}

	/* the cosine of the items' columns over the terms: the terms play the users' part */
	rec_build_csr(p, np, nitems, false, false, &by_item);
	rec_build_csr(p, np, nterms, true, false, &by_term);
	rec_item_knn(&by_term, &by_item, K, 0, 1, NAN, nb_idx, nb_sim, palloc(sizeof(double) * Max(nitems, 1)),
				 palloc(sizeof(int) * Max(nitems, 1)), palloc(sizeof(int) * Max(nitems, 1)));
	return kept_terms;
}
