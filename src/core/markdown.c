/*-------------------------------------------------------------------------
 *
 * markdown.c
 *		dwc.markdown_to_html(): CommonMark to HTML, by libcmark.
 *
 * libcmark is the CommonMark reference implementation (Debian's
 * libcmark-dev).  It renders in its safe mode: raw HTML in the text and
 * links with dangerous schemes (javascript:, data: other than images ...)
 * are dropped, so text that a user or a model wrote cannot bring script into
 * an exported page.  Every allocation of the parser and renderer goes
 * through palloc in the caller's memory context (a cmark_mem of our own):
 * out of memory is an ERROR, not cmark's abort(), and an error leaves
 * nothing behind.
 *
 * src/core/markdown.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cmark.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(dwc_markdown_to_html);

static void *
pg_cmark_calloc(size_t n, size_t size)
{
	if (size != 0 && n > MaxAllocHugeSize / size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the Markdown text is too large to render")));
	return MemoryContextAllocExtended(CurrentMemoryContext, Max(n * size, 1),
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

static void *
pg_cmark_realloc(void *p, size_t size)
{
	if (p == NULL)
		return MemoryContextAllocExtended(CurrentMemoryContext, Max(size, 1), MCXT_ALLOC_HUGE);
	return repalloc_huge(p, Max(size, 1));
}

static void
pg_cmark_free(void *p)
{
	if (p != NULL)
		pfree(p);
}

static cmark_mem pg_cmark_mem = {pg_cmark_calloc, pg_cmark_realloc, pg_cmark_free};

Datum
dwc_markdown_to_html(PG_FUNCTION_ARGS)
{
	text	   *md = PG_GETARG_TEXT_PP(0);
	bool		smart = PG_GETARG_BOOL(1);
	int			options = CMARK_OPT_VALIDATE_UTF8 | (smart ? CMARK_OPT_SMART : 0);
	cmark_parser *parser;
	cmark_node *doc;
	char	   *html;
	text	   *result;

	parser = cmark_parser_new_with_mem(options, &pg_cmark_mem);
	cmark_parser_feed(parser, VARDATA_ANY(md), VARSIZE_ANY_EXHDR(md));
	doc = cmark_parser_finish(parser);
	html = cmark_render_html(doc, options);		/* allocated through the document's cmark_mem */
	result = cstring_to_text(html);
	pfree(html);
	cmark_node_free(doc);
	cmark_parser_free(parser);
	PG_RETURN_TEXT_P(result);
}
