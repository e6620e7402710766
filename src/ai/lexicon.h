/*-------------------------------------------------------------------------
 *
 * lexicon.h
 *		Word lists behind the builtin text analysis: stopwords of six
 *		languages, a sentiment lexicon, negations and intensifiers.
 *
 * src/ai/lexicon.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef DWC_LEXICON_H
#define DWC_LEXICON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum DwcLanguage
{
	DWC_LANG_EN = 0,
	DWC_LANG_ES,
	DWC_LANG_FR,
	DWC_LANG_DE,
	DWC_LANG_IT,
	DWC_LANG_PT,
	DWC_NUM_LANGS
} DwcLanguage;

extern const char *const dwc_language_codes[DWC_NUM_LANGS];

/* in lexicon.c; words are lower case, lookups take lower-case words */
extern bool DwcIsStopword(const char *word, size_t len);
extern bool DwcIsStopwordIn(DwcLanguage lang, const char *word, size_t len);
extern int	DwcSentimentOf(const char *word, size_t len);	/* -2..2, 0 if unknown */
extern bool DwcIsNegation(const char *word, size_t len);
extern bool DwcIsIntensifier(const char *word, size_t len);

#endif							/* DWC_LEXICON_H */
