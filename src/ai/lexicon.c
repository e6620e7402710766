/*-------------------------------------------------------------------------
 *
 * lexicon.c
 *		Word lists behind the builtin text analysis.
 *
 * Small, hand-picked lists: the builtin provider is a deterministic
 * heuristic, not a language model, and says so (docs/ai.md).  Lists are
 * kept sorted so lookups are binary searches; lexicon_sorted() checks that
 * once per process.
 *
 * Stopwords cover English, Spanish, French, German, Italian and Portuguese
 * (their most frequent function words; also used to detect the language).
 * The sentiment lexicon scores English and Spanish words from -2 to 2.
 *
 * src/ai/lexicon.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "ai/lexicon.h"

const char *const dwc_language_codes[DWC_NUM_LANGS] = {"en", "es", "fr", "de", "it", "pt"};

static const char *const stop_en[] = {
	"a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and",
	"any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between",
	"both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
	"each", "even", "every", "few", "for", "from", "further", "get", "gets", "had", "has",
	"have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how",
	"however", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "like", "made",
	"make", "makes", "many", "may", "me", "might", "more", "most", "much", "must", "my",
	"myself", "no", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "or",
	"other", "our", "ours", "ourselves", "out", "over", "own", "really", "same", "shall",
	"she", "should", "so", "some", "such", "take", "takes", "than", "that", "the", "their",
	"theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
	"through", "thus", "to", "too", "under", "until", "up", "upon", "us", "used", "uses",
	"using", "very", "was", "we", "were", "what", "when", "where", "whether", "which", "while",
	"who", "whom", "why", "will", "with", "within", "without", "would", "yet", "you", "your",
	"yours", "yourself", "yourselves"
};

static const char *const stop_es[] = {
	"a", "al", "algo", "algunas", "algunos", "ante", "antes", "como", "con", "contra", "cual",
	"cuando", "de", "del", "desde", "donde", "durante", "e", "el", "ella", "ellas", "ellos", "en",
	"entre", "era", "es", "esa", "esas", "ese", "eso", "esos", "esta", "estaba", "estado",
	"estas", "este", "esto", "estos", "fue", "ha", "han", "hasta", "hay", "la", "las", "le",
	"les", "lo", "los", "mas", "me", "mi", "mucho", "muy", "más", "nada", "ni", "no", "nos",
	"nosotros", "o", "otra", "otro", "para", "pero", "poco", "por", "porque", "que", "quien",
	"se", "sea", "ser", "si", "sin", "sobre", "son", "su", "sus", "también", "tanto", "te",
	"tiene", "todo", "todos", "tu", "un", "una", "uno", "unos", "y", "ya", "yo", "él"
};

static const char *const stop_fr[] = {
	"au", "aux", "avec", "ce", "ces", "cette", "dans", "de", "des", "du", "elle", "en", "est",
	"et", "il", "ils", "je", "la", "le", "les", "leur", "lui", "mais", "me", "mes", "moi", "mon",
	"ne", "nous", "on", "ou", "par", "pas", "pour", "qu", "que", "qui", "sa", "se", "ses", "son",
	"sont", "sur", "ta", "te", "tes", "toi", "ton", "tu", "un", "une", "vous", "été", "être"
};

static const char *const stop_de[] = {
	"aber", "als", "am", "an", "auch", "auf", "aus", "bei", "bin", "bis", "das", "dass", "dem",
	"den", "der", "des", "die", "dies", "diese", "du", "durch", "ein", "eine", "einem", "einen",
	"einer", "er", "es", "für", "hat", "ich", "ihr", "im", "in", "ist", "mit", "nach", "nicht",
	"noch", "oder", "sich", "sie", "sind", "so", "um", "und", "uns", "von", "vor", "war", "wie",
	"wir", "wird", "zu", "zum", "zur", "über"
};

static const char *const stop_it[] = {
	"a", "al", "alla", "anche", "che", "chi", "ci", "come", "con", "da", "dal", "dalla", "degli",
	"dei", "del", "della", "delle", "di", "e", "gli", "ha", "ho", "i", "il", "in", "io", "la",
	"le", "lo", "ma", "mi", "ne", "nei", "nel", "nella", "non", "per", "più", "quando", "questo",
	"se", "si", "sono", "su", "sua", "suo", "tra", "un", "una", "uno", "è"
};

static const char *const stop_pt[] = {
	"a", "ao", "aos", "as", "com", "como", "da", "das", "de", "do", "dos", "e", "ela", "ele",
	"em", "entre", "era", "essa", "esse", "esta", "este", "eu", "foi", "isso", "isto", "já",
	"mais", "mas", "me", "muito", "na", "nas", "no", "nos", "não", "o", "os", "ou", "para",
	"pela", "pelo", "por", "que", "se", "sem", "seu", "sua", "são", "também", "um", "uma", "é"
};

typedef struct WordList
{
	const char *const *words;
	int			n;
} WordList;

#define LIST(a) {a, lengthof(a)}

static const WordList stoplists[DWC_NUM_LANGS] = {
	LIST(stop_en), LIST(stop_es), LIST(stop_fr), LIST(stop_de), LIST(stop_it), LIST(stop_pt)
};

typedef struct ScoredWord
{
	const char *word;
	int			score;
} ScoredWord;

/* sorted by word (byte order) */
static const ScoredWord sentiment[] = {
	{"abandon", -1}, {"abuse", -2}, {"accurate", 1}, {"achieve", 1}, {"admire", 2},
	{"advantage", 1}, {"afraid", -1}, {"agree", 1}, {"alegre", 2}, {"amazing", 2}, {"angry", -2},
	{"annoying", -1}, {"anxious", -1}, {"appreciate", 2}, {"attractive", 1}, {"awesome", 2},
	{"awful", -2}, {"bad", -2}, {"beautiful", 2}, {"benefit", 1}, {"best", 2}, {"better", 1},
	{"brilliant", 2}, {"broken", -1}, {"buena", 1}, {"bueno", 1}, {"calm", 1}, {"clean", 1},
	{"clear", 1}, {"comfortable", 1}, {"complain", -1}, {"confused", -1}, {"crash", -2},
	{"cruel", -2}, {"damage", -2}, {"danger", -2}, {"dangerous", -2}, {"dead", -2},
	{"defect", -2}, {"delay", -1}, {"delight", 2}, {"delighted", 2}, {"difficult", -1},
	{"disappoint", -2}, {"disappointed", -2}, {"disappointing", -2}, {"disaster", -2},
	{"easy", 1}, {"effective", 1}, {"efficient", 1}, {"elegant", 1}, {"enjoy", 2}, {"error", -1},
	{"excelente", 2}, {"excellent", 2}, {"excited", 2}, {"exciting", 2}, {"fail", -2},
	{"failed", -2}, {"failure", -2}, {"fantastic", 2}, {"fast", 1}, {"fault", -1}, {"fear", -1},
	{"feliz", 2}, {"fine", 1}, {"flaw", -1}, {"fortunately", 1}, {"fracaso", -2}, {"fragile", -1},
	{"fun", 1}, {"good", 1}, {"great", 2}, {"happy", 2}, {"harm", -2}, {"hate", -2},
	{"helpful", 1}, {"horrible", -2}, {"ideal", 2}, {"impressive", 2}, {"improve", 1},
	{"improved", 1}, {"improvement", 1}, {"incorrect", -1}, {"innovative", 1}, {"insecure", -1},
	{"interesting", 1}, {"issue", -1}, {"joy", 2}, {"lack", -1}, {"lose", -1}, {"loss", -1},
	{"love", 2}, {"lucky", 1}, {"mala", -2}, {"malo", -2}, {"mejor", 1}, {"mess", -1},
	{"miserable", -2}, {"mistake", -1}, {"nice", 1}, {"pain", -2}, {"peor", -2}, {"perfect", 2},
	{"pleasant", 1}, {"pleased", 2}, {"poor", -1}, {"positive", 1}, {"powerful", 1},
	{"problem", -1}, {"problema", -1}, {"productive", 1}, {"progress", 1}, {"reliable", 1},
	{"risk", -1}, {"robust", 1}, {"sad", -2}, {"safe", 1}, {"satisfied", 2}, {"secure", 1},
	{"simple", 1}, {"slow", -1}, {"smooth", 1}, {"solid", 1}, {"stable", 1}, {"strong", 1},
	{"stupid", -2}, {"success", 2}, {"successful", 2}, {"superb", 2}, {"terrible", -2},
	{"threat", -1}, {"triste", -2}, {"trouble", -1}, {"ugly", -2}, {"unfortunately", -1},
	{"unhappy", -2}, {"unreliable", -2}, {"unstable", -1}, {"useful", 1}, {"useless", -2},
	{"valuable", 1}, {"weak", -1}, {"win", 2}, {"wonderful", 2}, {"worse", -2}, {"worst", -2},
	{"wrong", -1}, {"éxito", 2}
};

static const char *const negations[] = {
	"cannot", "didn't", "doesn't", "don't", "isn't", "never", "ni", "no", "nobody", "none", "not",
	"nothing", "nunca", "wasn't", "won't"
};

static const char *const intensifiers[] = {
	"absolutely", "extremely", "highly", "incredibly", "muy", "really", "so", "totally", "very"
};

static int
cmp_word(const char *a, const char *word, size_t len)
{
	int			c = strncmp(a, word, len);

	if (c != 0)
		return c;
	return a[len] == '\0' ? 0 : 1;
}

static bool
in_list(const char *const *list, int n, const char *word, size_t len)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = cmp_word(list[mid], word, len);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

bool
DwcIsStopwordIn(DwcLanguage lang, const char *word, size_t len)
{
	return in_list(stoplists[lang].words, stoplists[lang].n, word, len);
}

bool
DwcIsStopword(const char *word, size_t len)
{
	int			l;

	for (l = 0; l < DWC_NUM_LANGS; l++)
	{
		if (DwcIsStopwordIn((DwcLanguage) l, word, len))
			return true;
	}
	return false;
}

int
DwcSentimentOf(const char *word, size_t len)
{
	int			lo = 0,
				hi = (int) lengthof(sentiment) - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = cmp_word(sentiment[mid].word, word, len);

		if (c == 0)
			return sentiment[mid].score;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return 0;
}

bool
DwcIsNegation(const char *word, size_t len)
{
	return in_list(negations, lengthof(negations), word, len);
}

bool
DwcIsIntensifier(const char *word, size_t len)
{
	return in_list(intensifiers, lengthof(intensifiers), word, len);
}

/* Are the lists sorted?  Checked by the regression tests through dwc._lexicon_check(). */
PG_FUNCTION_INFO_V1(dwc__lexicon_check);

static bool
sorted(const char *const *list, int n)
{
	int			i;

	for (i = 1; i < n; i++)
	{
		if (strcmp(list[i - 1], list[i]) >= 0)
			return false;
	}
	return true;
}

Datum
dwc__lexicon_check(PG_FUNCTION_ARGS)
{
	int			l;
	int			i;

	for (l = 0; l < DWC_NUM_LANGS; l++)
	{
		if (!sorted(stoplists[l].words, stoplists[l].n))
			elog(ERROR, "stopword list %s is not sorted", dwc_language_codes[l]);
	}
	for (i = 1; i < (int) lengthof(sentiment); i++)
	{
		if (strcmp(sentiment[i - 1].word, sentiment[i].word) >= 0)
			elog(ERROR, "sentiment lexicon is not sorted at \"%s\"", sentiment[i].word);
	}
	if (!sorted(negations, lengthof(negations)) || !sorted(intensifiers, lengthof(intensifiers)))
		elog(ERROR, "negation or intensifier list is not sorted");
	PG_RETURN_BOOL(true);
}
