/*-------------------------------------------------------------------------
 *
 * text.h
 *		Deterministic text analysis: words, sentences, keywords, sentiment,
 *		language, readability, summaries, titles, quality, token estimates.
 *
 * This is the builtin provider's toolbox (src/ai/builtin.c) and the basis
 * of dwc.analyze_text().  Heuristics, documented in docs/ai.md: no model.
 *
 * src/ai/text.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_TEXT_H
#define DWC_TEXT_H

#include "ai/lexicon.h"

typedef struct DwcWord
{
	const char *p;				/* lower-cased, in DwcText.lower */
	int			len;
	int			offset;			/* byte offset in the original text */
	int			sentence;
} DwcWord;

typedef struct DwcSentence
{
	int			start;			/* byte offsets in the original text */
	int			end;
	int			first_word;
	int			nwords;
	bool		heading;		/* a Markdown heading line, not prose */
} DwcSentence;

typedef struct DwcText
{
	const char *text;			/* the original, not copied */
	int			len;
	char	   *lower;
	DwcWord    *words;
	int			nwords;
	DwcSentence *sentences;
	int			nsentences;
	int			nsyllables;
} DwcText;

typedef struct DwcKeyword
{
	char	   *word;
	double		weight;			/* 1 for the strongest */
	int			count;
} DwcKeyword;

typedef struct DwcQuality
{
	double		readability;	/* 0..1 */
	double		length;			/* 0..1 */
	double		coverage;		/* 0..1 */
	double		repetition;		/* 0..1, share of repeated word trigrams */
	double		fluency;		/* 0..1, function words (prose, not a list of keywords) */
	double		variety;		/* 0..1, how much sentence lengths vary */
	double		specificity;	/* 0..1, concrete details, no filler phrases */
	double		score;			/* 0..100 */
	int			words;
} DwcQuality;

/* in text.c */
extern DwcText *DwcTextParse(const char *text, int len);
extern double DwcFleschReadingEase(const DwcText *t);
extern double DwcSentiment(const DwcText *t, const char **label);
extern int	DwcKeywords(const DwcText *t, int n, DwcKeyword **out);
extern const char *DwcDetectLanguage(const DwcText *t);
extern char *DwcSummary(const DwcText *t, int nsentences);
extern char *DwcTitle(const DwcText *t, int maxwords);
extern DwcQuality DwcQualityOf(const DwcText *t, const DwcText *reference);
extern int	DwcEstimateTokens(int nbytes);
extern char *DwcTextWords(const DwcText *t, int from, int n);

#endif							/* DWC_TEXT_H */
