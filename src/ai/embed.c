/*-------------------------------------------------------------------------
 *
 * embed.c
 *		Builtin embeddings: hashed term-frequency vectors, weighted by
 *		inverse document frequency at query time, and their cosine.
 *
 * A text becomes a vector of DWC_EMBED_DIM dimensions: each content word
 * (not a stopword, two letters or more, a plural "s" stripped) is hashed to
 * a dimension and a sign (signed feature hashing keeps collisions from
 * biasing the similarity), with weight 1 + ln(count).  Documents store this
 * vector; dwc.search_documents() multiplies both sides by the corpus's
 * inverse document frequency per dimension (kept in dwc.embedding_df by a
 * trigger) before taking the cosine: TF-IDF without a vocabulary.
 *
 * src/ai/embed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "ai/ai.h"
#include "ai/text.h"

void
DwcBuiltinEmbed(const char *text, int len, float4 *out)
{
	DwcText    *t = DwcTextParse(text, len);
	float8	   *counts = palloc0(sizeof(float8) * DWC_EMBED_DIM);
	int			i;

	memset(out, 0, sizeof(float4) * DWC_EMBED_DIM);
	for (i = 0; i < t->nwords; i++)
	{
		const DwcWord *w = &t->words[i];
		int			l = w->len;
		uint32		h;

		if (l < 2 || DwcIsStopword(w->p, l))
			continue;
		if (l > 3 && w->p[l - 1] == 's' && w->p[l - 2] != 's')
			l--;				/* plural */
		h = hash_bytes((const unsigned char *) w->p, l);
		counts[h % DWC_EMBED_DIM] += (h & 0x80000000) ? -1.0 : 1.0;
	}
	for (i = 0; i < DWC_EMBED_DIM; i++)
	{
		double		c = counts[i];

		if (c != 0)
			out[i] = (float4) (c > 0 ? 1.0 + log(c) : -(1.0 + log(-c)));
	}
	pfree(counts);
}

static float4 *
float4_array(ArrayType *a, int *n, const char *what)
{
	if (ARR_NDIM(a) > 1 || ARR_ELEMTYPE(a) != FLOAT4OID || ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional real[] without nulls", what)));
	*n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	return (float4 *) ARR_DATA_PTR(a);
}

PG_FUNCTION_INFO_V1(dwc_builtin_embedding);
PG_FUNCTION_INFO_V1(dwc_cosine_similarity);
PG_FUNCTION_INFO_V1(dwc_weighted_cosine);

/* dwc.builtin_embedding(text) returns real[]: the raw hashed TF vector */
Datum
dwc_builtin_embedding(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	float4	   *v = palloc(sizeof(float4) * DWC_EMBED_DIM);
	Datum	   *d = palloc(sizeof(Datum) * DWC_EMBED_DIM);
	int			i;

	DwcBuiltinEmbed(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), v);
	for (i = 0; i < DWC_EMBED_DIM; i++)
		d[i] = Float4GetDatum(v[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, DWC_EMBED_DIM, FLOAT4OID, 4, true, TYPALIGN_INT));
}

/*
 * Cosine of a and b, each dimension weighted by w (NULL: unweighted).
 * 0 when either vector is zero.
 */
static double
cosine(const float4 *a, const float4 *b, const float4 *w, int n)
{
	double		dot = 0,
				na = 0,
				nb = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		double		x = a[i];
		double		y = b[i];

		if (w)
		{
			x *= w[i];
			y *= w[i];
		}
		dot += x * y;
		na += x * x;
		nb += y * y;
	}
	if (na == 0 || nb == 0)
		return 0;
	return dot / sqrt(na * nb);
}

/* dwc.cosine_similarity(real[], real[]) returns float8 */
Datum
dwc_cosine_similarity(PG_FUNCTION_ARGS)
{
	int			na,
				nb;
	float4	   *a = float4_array(PG_GETARG_ARRAYTYPE_P(0), &na, "first vector");
	float4	   *b = float4_array(PG_GETARG_ARRAYTYPE_P(1), &nb, "second vector");

	if (na != nb)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vectors have different dimensions (%d and %d)", na, nb)));
	PG_RETURN_FLOAT8(cosine(a, b, NULL, na));
}

/* dwc._weighted_cosine(a real[], b real[], weights real[]) returns float8 */
Datum
dwc_weighted_cosine(PG_FUNCTION_ARGS)
{
	int			na,
				nb,
				nw;
	float4	   *a = float4_array(PG_GETARG_ARRAYTYPE_P(0), &na, "first vector");
	float4	   *b = float4_array(PG_GETARG_ARRAYTYPE_P(1), &nb, "second vector");
	float4	   *w = float4_array(PG_GETARG_ARRAYTYPE_P(2), &nw, "weights");

	if (na != nb || na != nw)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("vectors and weights have different dimensions (%d, %d, %d)", na, nb, nw)));
	PG_RETURN_FLOAT8(cosine(a, b, w, na));
}
