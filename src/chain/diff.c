/*-------------------------------------------------------------------------
 *
 * diff.c
 *		dwc.text_diff(): a unified diff of two texts, line by line, for
 *		comparing versions of a document.
 *
 * The common prefix and suffix are set aside, and the lines between are
 * aligned by a longest common subsequence (dynamic programming over the
 * remaining lines: writers' documents have hundreds of lines, not millions;
 * above DIFF_MAX_CELLS the comparison is refused rather than left to run).
 * The output is what `diff -u` prints: "---" and "+++" labels, then hunks
 * "@@ -a,n +b,m @@" with up to `context` unchanged lines around each change.
 *
 * src/chain/diff.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(dwc_text_diff);

/* the largest alignment table: 64 Mi cells of 4 bytes */
#define DIFF_MAX_CELLS ((Size) 64 * 1024 * 1024)

typedef struct Lines
{
	char	  **line;
	int		   *len;
	int			n;
} Lines;

/* split on \n; a final line without \n counts, an empty text has no lines */
static Lines
split_lines(char *s, int size)
{
	Lines		l;
	int			cap = 16;
	int			start = 0;
	int			i;

	l.line = palloc(sizeof(char *) * cap);
	l.len = palloc(sizeof(int) * cap);
	l.n = 0;
	for (i = 0; i <= size; i++)
	{
		if (i < size && s[i] != '\n')
			continue;
		if (i == size && start == size)
			break;
		if (l.n == cap)
		{
			cap *= 2;
			l.line = repalloc(l.line, sizeof(char *) * cap);
			l.len = repalloc(l.len, sizeof(int) * cap);
		}
		l.line[l.n] = s + start;
		l.len[l.n] = i - start;
		l.n++;
		start = i + 1;
	}
	return l;
}

static bool
same(const Lines *a, int i, const Lines *b, int j)
{
	return a->len[i] == b->len[j] && memcmp(a->line[i], b->line[j], a->len[i]) == 0;
}

/* one line of the edit script: ' ' kept, '-' only in a, '+' only in b */
typedef struct Op
{
	char		kind;
	int			line;			/* in a for ' ' and '-', in b for '+' */
} Op;

/*
 * The edit script turning a into b: the common prefix and suffix kept, the
 * middle aligned by LCS lengths computed from the end (lcs[i][j] is the LCS
 * of a[i..] and b[j..]) and walked from the start.
 */
static Op *
edit_script(const Lines *a, const Lines *b, int *nops)
{
	int			pre = 0;
	int			suf = 0;
	int			n;
	int			m;
	int32	   *lcs;
	Op		   *ops;
	int			k = 0;
	int			i;
	int			j;

	while (pre < a->n && pre < b->n && same(a, pre, b, pre))
		pre++;
	while (suf < a->n - pre && suf < b->n - pre && same(a, a->n - 1 - suf, b, b->n - 1 - suf))
		suf++;
	n = a->n - pre - suf;
	m = b->n - pre - suf;
	if ((Size) (n + 1) * (Size) (m + 1) > DIFF_MAX_CELLS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the texts are too far apart to compare: %d and %d changed lines", n, m),
				 errhint("Compare shorter texts, or versions closer to each other.")));

	lcs = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (Size) (n + 1) * (Size) (m + 1));
#define LCS(x, y) lcs[(Size) (x) * (Size) (m + 1) + (y)]
	for (i = n; i >= 0; i--)
	{
		CHECK_FOR_INTERRUPTS();
		for (j = m; j >= 0; j--)
		{
			if (i == n || j == m)
				LCS(i, j) = 0;
			else if (same(a, pre + i, b, pre + j))
				LCS(i, j) = LCS(i + 1, j + 1) + 1;
			else
				LCS(i, j) = Max(LCS(i + 1, j), LCS(i, j + 1));
		}
	}

	ops = palloc(sizeof(Op) * (a->n + b->n + 1));
	for (i = 0; i < pre; i++)
		ops[k++] = (Op) {' ', i};
	i = 0;
	j = 0;
	while (i < n || j < m)
	{
		if (i < n && j < m && same(a, pre + i, b, pre + j))
		{
			ops[k++] = (Op) {' ', pre + i};
			i++;
			j++;
		}
		else if (i < n && (j == m || LCS(i + 1, j) >= LCS(i, j + 1)))
			ops[k++] = (Op) {'-', pre + i++};	/* removals first, as diff prints them */
		else
			ops[k++] = (Op) {'+', pre + j++};
	}
#undef LCS
	for (i = 0; i < suf; i++)
		ops[k++] = (Op) {' ', a->n - suf + i};
	pfree(lcs);
	*nops = k;
	return ops;
}

static void
append_line(StringInfo out, char kind, const Lines *l, int i)
{
	appendStringInfoChar(out, kind);
	appendBinaryStringInfo(out, l->line[i], l->len[i]);
	appendStringInfoChar(out, '\n');
}

/*
 * dwc.text_diff(a, b, a_label, b_label, context): '' when the texts have the
 * same lines, else a unified diff.
 */
Datum
dwc_text_diff(PG_FUNCTION_ARGS)
{
	text	   *ta = PG_GETARG_TEXT_PP(0);
	text	   *tb = PG_GETARG_TEXT_PP(1);
	char	   *la = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *lb = text_to_cstring(PG_GETARG_TEXT_PP(3));
	int			context = PG_GETARG_INT32(4);
	Lines		a;
	Lines		b;
	Op		   *ops;
	int			nops;
	int		   *a_before;		/* lines of a before op k */
	int		   *b_before;
	StringInfoData out;
	int			k;

	if (context < 0 || context > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context must be from 0 to 1000 lines, not %d", context)));

	a = split_lines(VARDATA_ANY(ta), VARSIZE_ANY_EXHDR(ta));
	b = split_lines(VARDATA_ANY(tb), VARSIZE_ANY_EXHDR(tb));
	ops = edit_script(&a, &b, &nops);

	a_before = palloc(sizeof(int) * (nops + 1));
	b_before = palloc(sizeof(int) * (nops + 1));
	a_before[0] = b_before[0] = 0;
	for (k = 0; k < nops; k++)
	{
		a_before[k + 1] = a_before[k] + (ops[k].kind != '+');
		b_before[k + 1] = b_before[k] + (ops[k].kind != '-');
	}

	initStringInfo(&out);
	k = 0;
	while (k < nops)
	{
		int			first;
		int			last;
		int			end;
		int			i;

		/* the next change, and the last change within 2 * context of the one before it */
		while (k < nops && ops[k].kind == ' ')
			k++;
		if (k == nops)
			break;
		first = k;
		last = k;
		for (i = k + 1; i < nops && i - last <= 2 * context + 1; i++)
			if (ops[i].kind != ' ')
				last = i;
		first = Max(first - context, 0);
		end = Min(last + context + 1, nops);

		if (out.len == 0)
			appendStringInfo(&out, "--- %s\n+++ %s\n", la, lb);
		/* as diff -u: a range of no lines starts at the line before it */
		appendStringInfo(&out, "@@ -%d,%d +%d,%d @@\n",
						 a_before[end] - a_before[first] == 0 ? a_before[first] : a_before[first] + 1,
						 a_before[end] - a_before[first],
						 b_before[end] - b_before[first] == 0 ? b_before[first] : b_before[first] + 1,
						 b_before[end] - b_before[first]);
		for (i = first; i < end; i++)
			append_line(&out, ops[i].kind, ops[i].kind == '+' ? &b : &a, ops[i].line);
		k = end;
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
