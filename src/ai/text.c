/*-------------------------------------------------------------------------
 *
 * text.c
 *		Deterministic text analysis for the builtin provider.
 *
 * Everything here is a heuristic that gives the same answer for the same
 * input: word and sentence splitting (UTF-8 aware: accented letters are
 * letters, typographic quotes and dashes are not), keyword extraction by
 * term frequency without stopwords, a lexicon sentiment score with negation
 * and intensifiers, language identification by stopword counts, Flesch
 * reading ease with a vowel-group syllable count, extractive summaries and
 * titles, and a quality score.  docs/ai.md documents the formulas.
 *
 * src/ai/text.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/hsearch.h"

#include "ai/text.h"

/* Length in bytes of a separator (space, punctuation) at p, 0 if p starts a word byte. */
static int
separator_len(const unsigned char *p, const unsigned char *end)
{
	if (*p < 0x80)
	{
		if (isalnum(*p))
			return 0;
		/* an apostrophe inside a word belongs to it: don't, l'eau */
		if (*p == '\'' && p + 1 < end && isalnum(p[1]))
			return 0;
		return 1;
	}
	if (p + 1 < end && *p == 0xC2 && (p[1] == 0xA0 || p[1] == 0xAB || p[1] == 0xBB ||
									  p[1] == 0xBF || p[1] == 0xA1 || p[1] == 0xB7))
		return 2;				/* nbsp « » ¿ ¡ · */
	if (p + 2 < end && *p == 0xE2 && p[1] == 0x80 &&
		((p[2] >= 0x90 && p[2] <= 0x9F) || p[2] == 0xA2 || p[2] == 0xA6))
		return 3;				/* dashes, quotes, bullet, ellipsis */
	return 0;
}

static bool
ends_sentence(const char *text, int i, int len)
{
	char		c = text[i];

	if (c == '\n')
		return i + 1 >= len || text[i + 1] == '\n' || text[i + 1] == '#' ||
			text[i + 1] == '-' || text[i + 1] == '*';
	if (c != '.' && c != '!' && c != '?')
		return false;
	/* followed by the end, white space or a closing quote */
	return i + 1 >= len || text[i + 1] == ' ' || text[i + 1] == '\n' || text[i + 1] == '\t' ||
		text[i + 1] == '"' || text[i + 1] == ')' || (unsigned char) text[i + 1] == 0xE2;
}

static int
syllables(const char *w, int len)
{
	int			n = 0;
	bool		prev_vowel = false;
	int			i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) w[i];
		bool		vowel = (c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y' ||
							 c >= 0xC3);	/* accented vowels start with 0xC3 */

		if (c >= 0x80 && c < 0xC0)
			continue;			/* UTF-8 continuation byte */
		if (vowel && !prev_vowel)
			n++;
		prev_vowel = vowel;
	}
	/* a final silent e (make, code), but not -le (table) */
	if (len > 2 && w[len - 1] == 'e' && w[len - 2] != 'l' && n > 1)
		n--;
	return Max(n, 1);
}

/* Does the line holding byte offset pos start with '#' (a Markdown heading)? */
static bool
on_heading_line(const char *text, int pos)
{
	while (pos > 0 && text[pos - 1] != '\n')
		pos--;
	while (text[pos] == ' ')
		pos++;
	return text[pos] == '#';
}

static void
add_sentence(DwcText *t, int start, int end, int first_word)
{
	DwcSentence *s = &t->sentences[t->nsentences++];

	s->start = start;
	s->end = end;
	s->first_word = first_word;
	s->nwords = t->nwords - first_word;
	s->heading = on_heading_line(t->text, start);
}

/*
 * Split text into lower-cased words and sentences.  The result points into
 * text (not copied) and is allocated in the current memory context.
 */
DwcText *
DwcTextParse(const char *text, int len)
{
	DwcText    *t = palloc0(sizeof(DwcText));
	const unsigned char *p = (const unsigned char *) text;
	int			maxwords = len / 2 + 1;
	int			maxsent = len / 2 + 2;
	int			i = 0;
	int			sent_start = 0;
	int			sent_first_word = 0;

	t->text = text;
	t->len = len;
	t->lower = palloc(len + 1);
	t->words = palloc(sizeof(DwcWord) * maxwords);
	t->sentences = palloc(sizeof(DwcSentence) * maxsent);

	/* lower-case ASCII and the accented capitals of Latin-1 (U+00C0-U+00DE) */
	for (i = 0; i < len; i++)
	{
		unsigned char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		else if (c >= 0x80 && c <= 0x9E && i > 0 && p[i - 1] == 0xC3 && c != 0x97)
			c += 0x20;
		t->lower[i] = (char) c;
	}
	t->lower[len] = '\0';

	i = 0;
	while (i < len)
	{
		int			sep = separator_len(p + i, p + len);

		if (sep > 0)
		{
			if (ends_sentence(text, i, len))
			{
				if (t->nwords > sent_first_word)
					add_sentence(t, sent_start, i + 1, sent_first_word);
				sent_first_word = t->nwords;
				sent_start = i + 1;
			}
			i += sep;
			continue;
		}
		{
			int			start = i;
			DwcWord    *w;

			while (i < len && separator_len(p + i, p + len) == 0)
				i++;
			if (t->nwords == sent_first_word)
				sent_start = start;
			w = &t->words[t->nwords++];
			w->p = t->lower + start;
			w->len = i - start;
			w->offset = start;
			w->sentence = t->nsentences;
			t->nsyllables += syllables(w->p, w->len);
		}
	}
	if (t->nwords > sent_first_word)
		add_sentence(t, sent_start, len, sent_first_word);
	return t;
}

/*
 * Flesch reading ease: 206.835 - 1.015 (words / sentences)
 * - 84.6 (syllables / words).  Higher is easier; English-centric.
 */
double
DwcFleschReadingEase(const DwcText *t)
{
	if (t->nwords == 0 || t->nsentences == 0)
		return 0;
	return 206.835 - 1.015 * ((double) t->nwords / t->nsentences) -
		84.6 * ((double) t->nsyllables / t->nwords);
}

/*
 * Lexicon sentiment: each sentiment word counts its score (-2..2), times
 * 1.5 after an intensifier, reversed after a negation among the three words
 * before it.  The score is tanh(sum / 3), from -1 to 1; the label is
 * positive above 0.1, negative below -0.1, neutral between.
 */
double
DwcSentiment(const DwcText *t, const char **label)
{
	double		sum = 0;
	double		score;
	int			i;

	for (i = 0; i < t->nwords; i++)
	{
		const DwcWord *w = &t->words[i];
		int			s = DwcSentimentOf(w->p, w->len);
		double		v;
		int			j;

		if (s == 0)
			continue;
		v = s;
		if (i > 0 && DwcIsIntensifier(t->words[i - 1].p, t->words[i - 1].len))
			v *= 1.5;
		for (j = i - 1; j >= 0 && j >= i - 3; j--)
		{
			if (t->words[j].sentence != w->sentence)
				break;
			if (DwcIsNegation(t->words[j].p, t->words[j].len))
			{
				v = -v;
				break;
			}
		}
		sum += v;
	}
	score = tanh(sum / 3.0);
	if (label)
		*label = score > 0.1 ? "positive" : (score < -0.1 ? "negative" : "neutral");
	return score;
}

typedef struct TermCount
{
	char		key[64];
	int			count;
	int			first;			/* index of the first occurrence */
} TermCount;

static bool
is_content_word(const DwcWord *w)
{
	int			i;
	bool		digits = true;

	if (w->len < 3 || w->len >= 64)
		return false;
	for (i = 0; i < w->len; i++)
	{
		if (!isdigit((unsigned char) w->p[i]))
			digits = false;
	}
	return !digits && !DwcIsStopword(w->p, w->len);
}

static int
cmp_terms(const void *a, const void *b)
{
	const TermCount *x = *(const TermCount *const *) a;
	const TermCount *y = *(const TermCount *const *) b;

	if (x->count != y->count)
		return y->count - x->count;
	return x->first - y->first;
}

/*
 * The n most frequent content words (not stopwords, not numbers, at least
 * three letters), ties broken by first occurrence.  Returns how many.
 */
int
DwcKeywords(const DwcText *t, int n, DwcKeyword **out)
{
	HASHCTL		ctl;
	HTAB	   *h;
	HASH_SEQ_STATUS seq;
	TermCount  *tc;
	TermCount **all;
	int			nterms = 0;
	int			i;
	int			k;

	*out = NULL;
	if (t->nwords == 0 || n <= 0)
		return 0;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = 64;
	ctl.entrysize = sizeof(TermCount);
	ctl.hcxt = CurrentMemoryContext;
	h = hash_create("dwc keywords", Max(64, t->nwords), &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	for (i = 0; i < t->nwords; i++)
	{
		const DwcWord *w = &t->words[i];
		char		key[64];
		bool		found;

		if (!is_content_word(w))
			continue;
		memcpy(key, w->p, w->len);
		key[w->len] = '\0';
		tc = hash_search(h, key, HASH_ENTER, &found);
		if (!found)
		{
			tc->count = 0;
			tc->first = i;
		}
		tc->count++;
	}

	all = palloc(sizeof(TermCount *) * Max(hash_get_num_entries(h), 1));
	hash_seq_init(&seq, h);
	while ((tc = hash_seq_search(&seq)) != NULL)
		all[nterms++] = tc;
	qsort(all, nterms, sizeof(TermCount *), cmp_terms);

	k = Min(n, nterms);
	*out = palloc(sizeof(DwcKeyword) * Max(k, 1));
	for (i = 0; i < k; i++)
	{
		(*out)[i].word = pstrdup(all[i]->key);
		(*out)[i].count = all[i]->count;
		(*out)[i].weight = (double) all[i]->count / all[0]->count;
	}
	hash_destroy(h);
	pfree(all);
	return k;
}

/*
 * The language whose stopwords are most frequent among the first 1000
 * words: "en", "es", "fr", "de", "it", "pt", or NULL when there are fewer
 * than two hits or a tie.
 */
const char *
DwcDetectLanguage(const DwcText *t)
{
	int			hits[DWC_NUM_LANGS] = {0};
	int			best = -1;
	int			second = 0;
	int			i;
	int			l;

	for (i = 0; i < t->nwords && i < 1000; i++)
	{
		for (l = 0; l < DWC_NUM_LANGS; l++)
		{
			if (DwcIsStopwordIn((DwcLanguage) l, t->words[i].p, t->words[i].len))
				hits[l]++;
		}
	}
	for (l = 0; l < DWC_NUM_LANGS; l++)
	{
		if (best < 0 || hits[l] > hits[best])
		{
			if (best >= 0)
				second = hits[best];
			best = l;
		}
		else if (hits[l] > second)
			second = hits[l];
	}
	if (best < 0 || hits[best] < 2 || hits[best] == second)
		return NULL;
	return dwc_language_codes[best];
}

/* Copy sentence s of the original text, trimmed. */
static void
append_sentence(StringInfo buf, const DwcText *t, const DwcSentence *s)
{
	int			a = s->start;
	int			b = s->end;

	while (a < b && (t->text[a] == ' ' || t->text[a] == '\n' || t->text[a] == '\t' ||
					 t->text[a] == '#' || t->text[a] == '-' || t->text[a] == '*'))
		a++;
	while (b > a && (t->text[b - 1] == ' ' || t->text[b - 1] == '\n' || t->text[b - 1] == '\t'))
		b--;
	if (b <= a)
		return;
	if (buf->len > 0)
		appendStringInfoChar(buf, ' ');
	appendBinaryStringInfo(buf, t->text + a, b - a);
}

/*
 * Extractive summary: the n sentences whose words carry the most keyword
 * weight (divided by the square root of their length, so long sentences do
 * not win by length alone), in their original order.  Headings are not
 * sentences of a summary, unless the text has nothing else.
 */
char *
DwcSummary(const DwcText *t, int nsentences)
{
	DwcKeyword *kw;
	int			nkw = DwcKeywords(t, 20, &kw);
	double	   *score = palloc0(sizeof(double) * Max(t->nsentences, 1));
	bool	   *chosen = palloc0(sizeof(bool) * Max(t->nsentences, 1));
	StringInfoData buf;
	int			prose = 0;
	int			i;
	int			k;

	initStringInfo(&buf);
	if (t->nsentences == 0)
		return buf.data;
	for (i = 0; i < t->nwords; i++)
	{
		int			j;

		for (j = 0; j < nkw; j++)
		{
			if ((int) strlen(kw[j].word) == t->words[i].len &&
				memcmp(kw[j].word, t->words[i].p, t->words[i].len) == 0)
			{
				score[t->words[i].sentence] += kw[j].weight;
				break;
			}
		}
	}
	for (i = 0; i < t->nsentences; i++)
	{
		score[i] /= sqrt((double) Max(t->sentences[i].nwords, 1));
		prose += !t->sentences[i].heading;
	}

	for (k = 0; k < nsentences && k < (prose > 0 ? prose : t->nsentences); k++)
	{
		int			best = -1;

		for (i = 0; i < t->nsentences; i++)
		{
			if (chosen[i] || (prose > 0 && t->sentences[i].heading))
				continue;
			if (best < 0 || score[i] > score[best])
				best = i;
		}
		chosen[best] = true;
	}
	for (i = 0; i < t->nsentences; i++)
	{
		if (chosen[i])
			append_sentence(&buf, t, &t->sentences[i]);
	}
	return buf.data;
}

/* Words [from, from + n) of the original text, separated by single spaces. */
char *
DwcTextWords(const DwcText *t, int from, int n)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = from; i < from + n && i < t->nwords; i++)
	{
		if (buf.len > 0)
			appendStringInfoChar(&buf, ' ');
		appendBinaryStringInfo(&buf, t->text + t->words[i].offset, t->words[i].len);
	}
	return buf.data;
}

/*
 * A title: a leading Markdown heading if there is one; otherwise the first
 * sentence that contains the strongest keyword, cut to maxwords words, with
 * its first letter in upper case.
 */
char *
DwcTitle(const DwcText *t, int maxwords)
{
	DwcKeyword *kw;
	int			nkw;
	int			s = 0;
	int			i;
	char	   *title;

	/* "# Heading" on the first line */
	{
		int			a = 0;

		while (a < t->len && (t->text[a] == ' ' || t->text[a] == '\n'))
			a++;
		if (a < t->len && t->text[a] == '#')
		{
			int			b;

			while (a < t->len && (t->text[a] == '#' || t->text[a] == ' '))
				a++;
			b = a;
			while (b < t->len && t->text[b] != '\n')
				b++;
			if (b > a)
				return pnstrdup(t->text + a, Min(b - a, 200));
		}
	}
	if (t->nwords == 0)
		return pstrdup("Untitled");

	nkw = DwcKeywords(t, 1, &kw);
	if (nkw > 0)
	{
		for (i = 0; i < t->nwords; i++)
		{
			if ((int) strlen(kw[0].word) == t->words[i].len &&
				memcmp(kw[0].word, t->words[i].p, t->words[i].len) == 0)
			{
				s = t->words[i].sentence;
				break;
			}
		}
	}
	title = DwcTextWords(t, t->sentences[s].first_word, Min(maxwords, t->sentences[s].nwords));
	if (title[0] >= 'a' && title[0] <= 'z')
		title[0] -= 'a' - 'A';
	return title;
}

/*
 * Phrases of filler prose: the stock phrases of text that says little (and
 * those of the builtin provider's own templates, which are such text).
 * Lower case, matched on word boundaries.
 */
static const char *const filler_phrases[] = {
	"in today's", "fast-paced world", "plays a crucial role", "plays a vital role", "plays a key role",
	"it is important to note", "it is worth noting", "it goes without saying", "needless to say",
	"at the end of the day", "a wide range of", "when it comes to", "first and foremost",
	"last but not least", "cutting-edge", "game-changer", "game changer", "unlock the potential",
	"harness the power", "delve into", "navigate the complexities", "in the realm of", "a testament to",
	"paving the way", "seamlessly", "ever-evolving", "ever-changing", "in conclusion",
	"deserve attention", "as evidence accumulates", "the next step is to", "in concrete terms",
	"threads to follow", "easier to reason about", "is central to", "shapes how",
	"tied to a clear goal", "reviewable steps", "as an afterthought", "a practical first step",
	"common pitfalls include", "the trade-offs between them", "carry over to",
	NULL
};

static int
count_phrase(const char *lower, int len, const char *phrase)
{
	int			plen = strlen(phrase);
	int			n = 0;
	const char *p = lower;
	const char *end = lower + len;

	while (p + plen <= end)
	{
		const char *hit = strstr(p, phrase);

		if (hit == NULL || hit + plen > end)
			break;
		if ((hit == lower || !isalnum((unsigned char) hit[-1])) &&
			(hit + plen == end || !isalnum((unsigned char) hit[plen])))
			n++;
		p = hit + plen;
	}
	return n;
}

/* is this word written with a capital in the original text? */
static bool
capitalised(const DwcText *t, const DwcWord *w)
{
	unsigned char c = (unsigned char) t->text[w->offset];

	return (c >= 'A' && c <= 'Z') || (c == 0xC3 && w->offset + 1 < t->len &&
									  (unsigned char) t->text[w->offset + 1] >= 0x80 &&
									  (unsigned char) t->text[w->offset + 1] <= 0x9E);
}

/*
 * Quality of a text, optionally against a reference (the prompt, or the
 * parent document).  Each component is 0..1:
 *   readability = Flesch reading ease clipped to 0..100, / 100
 *   length      = 1 between 150 and 1500 words, words/150 below, 1500/words above
 *   coverage    = share of the reference's 10 keywords that the text uses (1 without reference)
 *   repetition  = share of word trigrams that repeat an earlier one
 *   fluency     = share of function words (stopwords of the six languages) / 0.3, at most 1:
 *                 prose is 35-55% function words, a list of keywords almost none
 *   variety     = coefficient of variation of the sentences' lengths / 0.5, at most 1
 *                 (0.5 under three sentences): people vary them, templates do not
 *   specificity = half concreteness (numbers, and names: capitalised words not starting a
 *                 sentence that the text never writes in lower case; 2 per 100 words is 1),
 *                 half the absence of filler phrases (one per sentence is none)
 *   score       = 100 * fluency * (0.2 readability + 0.15 length + 0.15 coverage
 *                 + 0.15 (1 - repetition) + 0.15 variety + 0.2 specificity)
 * Fluency multiplies: keywords without the words that join them are not prose, however well
 * they cover the prompt.  bench/quality.py ranks a labelled sample with it.
 */
DwcQuality
DwcQualityOf(const DwcText *t, const DwcText *reference)
{
	DwcQuality	q;
	HASHCTL		ctl;
	HTAB	   *tri;
	int			ntri = 0;
	int			repeated = 0;
	int			stop = 0;
	int			concrete = 0;
	int			filler = 0;
	int			prose = 0;
	double		sum = 0;
	double		sumsq = 0;
	int			i;

	memset(&q, 0, sizeof(q));
	q.words = t->nwords;
	q.readability = Min(Max(DwcFleschReadingEase(t), 0.0), 100.0) / 100.0;
	if (t->nwords < 150)
		q.length = t->nwords / 150.0;
	else if (t->nwords > 1500)
		q.length = 1500.0 / t->nwords;
	else
		q.length = 1.0;

	q.coverage = 1.0;
	if (reference != NULL)
	{
		DwcKeyword *kw;
		int			nkw = DwcKeywords(reference, 10, &kw);
		int			hit = 0;
		int			k;

		for (k = 0; k < nkw; k++)
		{
			for (i = 0; i < t->nwords; i++)
			{
				if ((int) strlen(kw[k].word) == t->words[i].len &&
					memcmp(kw[k].word, t->words[i].p, t->words[i].len) == 0)
				{
					hit++;
					break;
				}
			}
		}
		if (nkw > 0)
			q.coverage = (double) hit / nkw;
	}

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(uint32);
	ctl.hcxt = CurrentMemoryContext;
	tri = hash_create("dwc trigrams", Max(64, t->nwords), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i + 2 < t->nwords; i++)
	{
		uint32		h = hash_bytes((const unsigned char *) t->words[i].p, t->words[i].len);
		bool		found;

		h = hash_combine(h, hash_bytes((const unsigned char *) t->words[i + 1].p, t->words[i + 1].len));
		h = hash_combine(h, hash_bytes((const unsigned char *) t->words[i + 2].p, t->words[i + 2].len));
		hash_search(tri, &h, HASH_ENTER, &found);
		ntri++;
		if (found)
			repeated++;
	}
	hash_destroy(tri);
	q.repetition = ntri > 0 ? (double) repeated / ntri : 0.0;

	/* function words; numbers; names (never lower case in this text, not sentence-initial) */
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(uint32);
	ctl.hcxt = CurrentMemoryContext;
	tri = hash_create("dwc lower-case words", Max(64, t->nwords), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i < t->nwords; i++)
	{
		const DwcWord *w = &t->words[i];

		if (DwcIsStopword(w->p, w->len))
			stop++;
		if (!capitalised(t, w))
		{
			uint32		h = hash_bytes((const unsigned char *) w->p, w->len);

			hash_search(tri, &h, HASH_ENTER, NULL);
		}
	}
	for (i = 0; i < t->nwords; i++)
	{
		const DwcWord *w = &t->words[i];
		bool		digit = false;
		int			k;

		CHECK_FOR_INTERRUPTS();
		for (k = 0; k < w->len; k++)
			if (w->p[k] >= '0' && w->p[k] <= '9')
				digit = true;
		if (digit)
			concrete++;
		else if (capitalised(t, w) && w->len > 1 && i != t->sentences[w->sentence].first_word &&
				 !DwcIsStopword(w->p, w->len))
		{
			uint32		h = hash_bytes((const unsigned char *) w->p, w->len);

			if (hash_search(tri, &h, HASH_FIND, NULL) == NULL)
				concrete++;
		}
	}
	hash_destroy(tri);
	q.fluency = t->nwords > 0 ? Min(1.0, ((double) stop / t->nwords) / 0.3) : 0.0;

	for (i = 0; i < t->nsentences; i++)
	{
		if (t->sentences[i].heading)
			continue;
		prose++;
		sum += t->sentences[i].nwords;
		sumsq += (double) t->sentences[i].nwords * t->sentences[i].nwords;
	}
	if (prose >= 3 && sum > 0)
	{
		double		mean = sum / prose;
		double		var = Max(sumsq / prose - mean * mean, 0.0);

		q.variety = Min(1.0, (sqrt(var) / mean) / 0.5);
	}
	else
		q.variety = 0.5;

	for (i = 0; filler_phrases[i] != NULL; i++)
		filler += count_phrase(t->lower, t->len, filler_phrases[i]);
	q.specificity = 0.5 * Min(1.0, t->nwords > 0 ? (100.0 * concrete / t->nwords) / 2.0 : 0.0)
		+ 0.5 * (1.0 - Min(1.0, (double) filler / Max(prose, 1)));

	q.score = 100.0 * q.fluency *
		(0.2 * q.readability + 0.15 * q.length + 0.15 * q.coverage + 0.15 * (1.0 - q.repetition) +
		 0.15 * q.variety + 0.2 * q.specificity);
	return q;
}

/*
 * Tokens a text is likely to use in a model's context: one per four bytes,
 * rounded up (OpenAI's rule of thumb for English; conservative for others).
 */
int
DwcEstimateTokens(int nbytes)
{
	return (nbytes + 3) / 4;
}
