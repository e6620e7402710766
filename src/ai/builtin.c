/*-------------------------------------------------------------------------
 *
 * builtin.c
 *		The builtin provider: deterministic, offline text generation.
 *
 * Not a language model.  It writes a structured document from the topic of
 * the prompt: a heading, an introduction naming the topic words and the
 * earlier document it follows (the first heading of its context: a chain's
 * packed ancestors), a section per keyword built from a fixed set of
 * sentence templates, and a closing summary.  Template choices depend on a hash of the input,
 * so the same request always gives the same text, and different requests
 * give visibly different ones.  It lets chains, the queue and the tests run
 * anywhere, with no key and no network.
 *
 * src/ai/builtin.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "lib/stringinfo.h"

#include "ai/ai.h"
#include "ai/text.h"

static const char *const section_templates[] = {
	"%s is central to %s: it shapes how %s and %s are approached in practice.",
	"A closer look at %s shows its links with %s, and why %s and %s deserve attention as well.",
	"When %s is handled well in %s, %s becomes easier to reason about and %s easier to measure.",
	"The main questions around %s in %s concern %s, %s, and the trade-offs between them.",
	"%s also affects %s; decisions taken about %s carry over to %s.",
	"Teams working on %s in %s tend to start from %s, then refine %s as evidence accumulates.",
};

static const char *const detail_templates[] = {
	"In concrete terms, this means defining what %s should achieve, measuring it, and revisiting the choice when %s changes.",
	"A practical first step is to document the current state of %s and the constraints that %s imposes on it.",
	"Common pitfalls include treating %s as an afterthought and underestimating how much %s depends on it.",
	"Progress on %s is easiest to see through small, reviewable steps, each tied to a clear goal for %s.",
};

/*
 * Words that are not topics: those of instructions ("write an introduction
 * to X" is about X), and those of the templates below, which would
 * otherwise come back as topics of the next document in a chain.
 */
static const char *const instruction_words[] = {
	"actions", "afterthought", "analyze", "article", "attention", "build", "central", "chain",
	"closer", "compare", "concrete", "constraints", "continue", "cover", "create", "current",
	"dealt", "decisions", "describe", "develop", "discuss", "document", "documents", "draft",
	"easier", "evidence", "explain", "follow", "follows", "further", "generate", "give", "goal",
	"introduction", "links", "list", "look", "measurable", "measure", "measuring", "next",
	"outline", "part", "pitfalls", "practical", "produce", "progress", "provide", "questions",
	"reason", "reviewable", "shapes", "short", "show", "small", "state", "step", "steps", "style",
	"summarize", "summary", "teams", "tell", "text", "threads", "trade-offs", "working", "write",
	"writing"
};

static bool
is_instruction_word(const char *w)
{
	int			i;

	for (i = 0; i < (int) lengthof(instruction_words); i++)
	{
		if (strcmp(w, instruction_words[i]) == 0)
			return true;
	}
	return false;
}

/* topic words for prompts with too few of their own */
static const char *const fallback_topics[6] = {
	"the subject", "its context", "the goals", "the constraints", "quality", "the results"
};

static char *
capitalized(const char *s)
{
	char	   *r = pstrdup(s);

	if (r[0] >= 'a' && r[0] <= 'z')
		r[0] -= 'a' - 'A';
	return r;
}

/*
 * The user's request: the last user message, else the last message.  The
 * rest goes to context, except the first paragraph of system messages: that
 * is the role and the instructions ("You are writing..."), not material.
 */
static const char *
request_of(List *messages, StringInfo context)
{
	const char *prompt = "";
	ListCell   *lc;
	int			last_user = -1;
	int			i = 0;

	foreach(lc, messages)
	{
		DwcMessage *m = lfirst(lc);

		if (strcmp(m->role, "user") == 0)
			last_user = i;
		i++;
	}
	i = 0;
	foreach(lc, messages)
	{
		DwcMessage *m = lfirst(lc);

		if (i == last_user || (last_user < 0 && lnext(messages, lc) == NULL))
			prompt = m->content;
		else if (strcmp(m->role, "system") == 0)
		{
			const char *rest = strstr(m->content, "\n\n");

			if (rest != NULL)
			{
				appendStringInfoString(context, rest + 2);
				appendStringInfoChar(context, '\n');
			}
		}
		else
		{
			appendStringInfoString(context, m->content);
			appendStringInfoChar(context, '\n');
		}
		i++;
	}
	return prompt;
}

/* The text of the first Markdown heading of a text, if it has one. */
static const char *
first_heading(const DwcText *t)
{
	int			i;

	for (i = 0; i < t->nsentences; i++)
	{
		if (t->sentences[i].heading)
		{
			const DwcSentence *s = &t->sentences[i];

			return DwcTextWords(t, s->first_word, Min(s->nwords, 12));
		}
	}
	return NULL;
}

/*
 * Write a document answering the last user message, taking the other
 * messages (system prompt, earlier turns, packed context) as background.
 * Output is cut to about max_tokens tokens.
 */
char *
DwcBuiltinComplete(List *messages, int max_tokens)
{
	StringInfoData context;
	StringInfoData out;
	const char *prompt;
	DwcText    *pt;
	DwcText    *ct;
	DwcKeyword *kw;
	DwcKeyword *ckw;
	int			nkw;
	int			nckw;
	const char *k[6];
	int			nk = 0;
	uint32		h;
	int			i;

	initStringInfo(&context);
	prompt = request_of(messages, &context);
	pt = DwcTextParse(prompt, strlen(prompt));
	ct = DwcTextParse(context.data, context.len);
	nkw = DwcKeywords(pt, 12, &kw);
	nckw = DwcKeywords(ct, 12, &ckw);

	/* topic words: the prompt's first, then the context's */
	for (i = 0; i < nkw && nk < 6; i++)
	{
		if (!is_instruction_word(kw[i].word))
			k[nk++] = kw[i].word;
	}
	for (i = 0; i < nckw && nk < 6; i++)
	{
		int			j;
		bool		dup = is_instruction_word(ckw[i].word);

		for (j = 0; j < nk; j++)
			dup |= (strcmp(k[j], ckw[i].word) == 0);
		if (!dup)
			k[nk++] = ckw[i].word;
	}
	for (i = nk; i < 6; i++)
		k[i] = fallback_topics[i];
	nk = 6;

	h = hash_bytes((const unsigned char *) prompt, strlen(prompt));
	h = hash_combine(h, hash_bytes((const unsigned char *) context.data, context.len));

	initStringInfo(&out);
	appendStringInfo(&out, "# %s and %s\n\n", capitalized(k[0]), k[1]);
	appendStringInfo(&out, "This document is about %s, with attention to %s and %s.", k[0], k[1], k[2]);
	if (ct->nwords > 0)
	{
		const char *earlier = first_heading(ct);

		if (earlier != NULL && nckw >= 2)
			appendStringInfo(&out, " It follows on from \"%s\", which dealt with %s and %s.",
							 earlier, ckw[0].word, ckw[1].word);
		else if (nckw >= 2)
			appendStringInfo(&out, " It builds on earlier material about %s and %s.",
							 ckw[0].word, ckw[1].word);
	}
	appendStringInfoString(&out, "\n\n");

	for (i = 0; i < 3; i++)
	{
		const char *a = k[(i + 1) % 6];
		const char *b = k[(i + 2) % 6];
		const char *c = k[(i + 3) % 6];
		const char *st = section_templates[(h + i * 7) % lengthof(section_templates)];
		const char *dt = detail_templates[(h / 7 + i) % lengthof(detail_templates)];

		appendStringInfo(&out, "## %s\n\n", capitalized(k[i]));
		appendStringInfo(&out, st, capitalized(k[i]), a, b, c);
		appendStringInfoChar(&out, ' ');
		appendStringInfo(&out, dt, k[i], a);
		appendStringInfoString(&out, "\n\n");
	}
	appendStringInfo(&out, "## Summary\n\nIn short, %s, %s and %s are the threads to follow; "
					 "the next step is to turn them into concrete, measurable actions.\n",
					 k[0], k[1], k[2]);

	/* respect the token budget, cutting at a word boundary */
	if (max_tokens > 0 && out.len > max_tokens * 4)
	{
		int			cut = max_tokens * 4;

		while (cut > 0 && out.data[cut] != ' ' && out.data[cut] != '\n')
			cut--;
		out.data[cut] = '\0';
		out.len = cut;
	}
	return out.data;
}
