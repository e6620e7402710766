/*-------------------------------------------------------------------------
 *
 * rec_rank.c
 *		Ranking: a full order of scores, the top n outside what is excluded
 *		(a bounded heap), and ranking metrics against relevant items.
 *
 * src/recommend/rec_rank.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ml/ml_blas.h"
#include "ml/ml_core.h"
#include "recommend/rec_core.h"

/* a double's bits as an unsigned key in the doubles' order */
static uint64_t
ordered_bits(double d)
{
	uint64_t	b;

	memcpy(&b, &d, sizeof(b));
	return (b & 0x8000000000000000ULL) ? ~b : b | 0x8000000000000000ULL;
}

int
rec_rank(const double *scores, int nscores, int *out)
{
	uint64_t   *key = ml_alloc_array(REC_MAX(nscores, 1), sizeof(uint64_t));
	uint64_t   *key2 = ml_alloc_array(REC_MAX(nscores, 1), sizeof(uint64_t));
	int		   *tmp = ml_alloc_array(REC_MAX(nscores, 1), sizeof(int));
	int			n = 0,
				i,
				pass;

	/* descending: the complement of the ascending key; NaN is not placed */
	for (i = 0; i < nscores; i++)
		if (!isnan(scores[i]))
		{
			key[n] = ~ordered_bits(scores[i]);
			out[n] = i;
			n++;
		}
	/* LSD radix sort, 8 bits a pass: stable, so ties stay in position order */
	for (pass = 0; pass < 8 && n > 1; pass++)
	{
		int			count[257] = {0};
		int			shift = pass * 8;
		uint64_t   *kswap;

		for (i = 0; i < n; i++)
			count[((key[i] >> shift) & 0xff) + 1]++;
		if (count[((key[0] >> shift) & 0xff) + 1] == n)
			continue;			/* every key has this digit */
		for (i = 0; i < 256; i++)
			count[i + 1] += count[i];
		for (i = 0; i < n; i++)
		{
			int			d = (key[i] >> shift) & 0xff;

			key2[count[d]] = key[i];
			tmp[count[d]] = out[i];
			count[d]++;
		}
		kswap = key;
		key = key2;
		key2 = kswap;
		memcpy(out, tmp, sizeof(int) * n);
	}
	ml_free(key);
	ml_free(key2);
	ml_free(tmp);
	return n;
}

/* a min-heap of the n best (score, index) so far: heap[0] is the worst kept */
static int
worse(const double *scores, int a, int b)
{
	return scores[a] < scores[b] || (scores[a] == scores[b] && a > b);
}

static void
sift_down(int *heap, int n, const double *scores, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1;
		int			r = l + 1;
		int			m = i;
		int			t;

		if (l < n && worse(scores, heap[l], heap[m]))
			m = l;
		if (r < n && worse(scores, heap[r], heap[m]))
			m = r;
		if (m == i)
			return;
		t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
}

int
rec_top_n(const double *scores, int nscores, const unsigned char *excluded, int n, int *out)
{
	int			kept = 0;
	int			i;

	for (i = 0; i < nscores; i++)
	{
		if ((excluded && excluded[i]) || isnan(scores[i]))
			continue;
		if (kept < n)
		{
			int			j = kept++;

			out[j] = i;
			/* sift up */
			while (j > 0 && worse(scores, out[j], out[(j - 1) / 2]))
			{
				int			p = (j - 1) / 2;
				int			t = out[p];

				out[p] = out[j];
				out[j] = t;
				j = p;
			}
		}
		else if (worse(scores, out[0], i))
		{
			out[0] = i;
			sift_down(out, kept, scores, 0);
		}
	}
	/* best first: pop the worst to the end */
	for (i = kept - 1; i > 0; i--)
	{
		int			t = out[0];

		out[0] = out[i];
		out[i] = t;
		sift_down(out, i, scores, 0);
	}
	return kept;
}

void
rec_rank_metrics(const int *top, int ntop, const unsigned char *relevant, int nrelevant, int k,
				 RecRankMetrics *m)
{
	double		dcg = 0,
				idcg = 0,
				ap = 0;
	int			hits = 0;
	int			i;

	memset(m, 0, sizeof(*m));
	if (nrelevant == 0 || k <= 0)
		return;
	for (i = 0; i < ntop && i < k; i++)
	{
		if (relevant[top[i]])
		{
			hits++;
			dcg += 1.0 / log2(i + 2.0);
			ap += (double) hits / (i + 1);
		}
	}
	for (i = 0; i < nrelevant && i < k; i++)
		idcg += 1.0 / log2(i + 2.0);
	m->precision = (double) hits / k;
	m->recall = (double) hits / nrelevant;
	m->ndcg = idcg > 0 ? dcg / idcg : 0;
	m->ap = ap / (nrelevant < k ? nrelevant : k);
}
