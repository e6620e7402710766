-- src/core/markdown.sql: CommonMark to HTML (src/core/markdown.c), for exports that people read.

-- API: Public

CREATE FUNCTION dwc.markdown_to_html(markdown pg_catalog.text, smart pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_markdown_to_html';
COMMENT ON FUNCTION dwc.markdown_to_html(pg_catalog.text, pg_catalog.bool) IS
  'Renders CommonMark as HTML (libcmark, safe mode: raw HTML and javascript: links are dropped); smart turns '
  'straight quotes, -- and ... into typographic ones.';
