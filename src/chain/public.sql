-- src/chain/public.sql: the public chain functions, trampolines to their private halves.

GRANT EXECUTE ON FUNCTION dwc._job_chain_continue(pg_catalog.jsonb) TO PUBLIC;

-- API: Public

CREATE FUNCTION dwc.create_chain(
    name pg_catalog.text,
    initial_prompt pg_catalog.text,
    description pg_catalog.text DEFAULT NULL,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    context_budget pg_catalog.int4 DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    style pg_catalog.text DEFAULT NULL,
    settings pg_catalog.jsonb DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.create_chain(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.int4, pg_catalog.text, pg_catalog.jsonb) IS
  'Creates a chain and generates its first document from initial_prompt. provider defaults to '
  'builtin; context_budget (tokens, default 4000) bounds what each generation sees of the earlier '
  'documents; max_tokens (default 800) bounds each document. Returns the chain with its root document.';

CREATE FUNCTION dwc.continue_chain(chain_id pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL,
                                   from_document pg_catalog.int8 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.continue_chain(pg_catalog.int8, pg_catalog.text, pg_catalog.int8) IS
  'Generates the next document of an active chain from from_document (default: the latest '
  'document; another document makes a branch). Without a prompt, one is derived from the parent''s '
  'title and keywords. Returns the new document.';

CREATE FUNCTION dwc.continue_chain_async(chain_id pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL,
                                         from_document pg_catalog.int8 DEFAULT NULL,
                                         priority pg_catalog.text DEFAULT 'normal')
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.continue_chain_async(pg_catalog.int8, pg_catalog.text, pg_catalog.int8, pg_catalog.text) IS
  'Like dwc.continue_chain(), as a job (kind chain.continue) run by the queue as the caller: returns '
  'the job id at once. The new document is announced on channel dwc_chain_<id> and in dwc.chain_events.';

CREATE FUNCTION dwc.set_chain_status(chain_id pg_catalog.int8, status pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.set_chain_status(pg_catalog.int8, pg_catalog.text) IS
  'Moves a chain to another status: active <-> paused, active or paused -> completed, any but '
  'archived -> archived. Other moves raise object_not_in_prerequisite_state (55000).';

CREATE FUNCTION dwc.pause_chain(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE RETURN dwc.set_chain_status(chain_id, 'paused');
COMMENT ON FUNCTION dwc.pause_chain(pg_catalog.int8) IS 'Pauses an active chain: it grows no more until resumed.';
CREATE FUNCTION dwc.resume_chain(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE RETURN dwc.set_chain_status(chain_id, 'active');
COMMENT ON FUNCTION dwc.resume_chain(pg_catalog.int8) IS 'Resumes a paused chain.';
CREATE FUNCTION dwc.complete_chain(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE RETURN dwc.set_chain_status(chain_id, 'completed');
COMMENT ON FUNCTION dwc.complete_chain(pg_catalog.int8) IS
  'Marks a chain completed: no more documents, no more edits; it can still be read, exported, archived.';

CREATE FUNCTION dwc.update_chain(chain_id pg_catalog.int8, name pg_catalog.text DEFAULT NULL,
    description pg_catalog.text DEFAULT NULL, provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL, context_budget pg_catalog.int4 DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL, max_tokens pg_catalog.int4 DEFAULT NULL,
    style pg_catalog.text DEFAULT NULL, settings pg_catalog.jsonb DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.update_chain(pg_catalog.int8, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.int4, pg_catalog.text, pg_catalog.jsonb) IS
  'Changes a chain''s name, description or generation settings (NULL keeps a field); affects documents generated from now on.';

CREATE FUNCTION dwc.delete_chain(chain_id pg_catalog.int8) RETURNS pg_catalog.bool
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.delete_chain(pg_catalog.int8) IS 'Deletes a chain with its documents, versions and events.';

CREATE FUNCTION dwc.get_chain(chain_id pg_catalog.int8, with_content pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.get_chain(pg_catalog.int8, pg_catalog.bool) IS
  'A chain with its documents (their content unless with_content is false), oldest first.';

CREATE FUNCTION dwc.list_chains(status pg_catalog.text DEFAULT NULL) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.list_chains(pg_catalog.text) IS 'The caller''s chains, newest first, optionally of one status.';

CREATE FUNCTION dwc.get_document(document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.get_document(pg_catalog.int8) IS 'A document with its prompt, usage, quality and context metadata.';

CREATE FUNCTION dwc.edit_document(document_id pg_catalog.int8, content pg_catalog.text DEFAULT NULL,
                                  title pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.edit_document(pg_catalog.int8, pg_catalog.text, pg_catalog.text) IS
  'Replaces a document''s content and/or title, keeping the previous version in '
  'dwc.document_versions; summary, quality and embedding are recomputed.';

CREATE FUNCTION dwc.document_versions(document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.document_versions(pg_catalog.int8) IS 'Every version of a document, oldest first, the current one last.';

CREATE FUNCTION dwc.generate_title(document_id pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.generate_title(pg_catalog.int8) IS
  'Generates and stores a new title for a document, with the chain''s provider (builtin: dwc.text_title()); the '
  'title it replaces is kept as a version, as for an edit. Not for completed or archived chains.';

CREATE FUNCTION dwc.grade_document(document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.grade_document(pg_catalog.int8) IS
  'Asks the chain''s provider (not builtin) to grade a document against its prompt on a rubric: clarity, coherence, '
  'specificity, fit and language, each 0 to 10; stores {criteria, score 0-100, comment, provider, model, version} '
  'as quality.graded, beside the heuristic score, and returns it.';

CREATE FUNCTION dwc.score_quality(document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.score_quality(pg_catalog.int8) IS
  'Recomputes and stores a document''s quality (dwc.text_quality() against its prompt).';

CREATE FUNCTION dwc.export_chain_markdown(chain_id pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.export_chain_markdown(pg_catalog.int8) IS
  'The chain as one Markdown document: its main line (root to head) as chapters 1, 2, 3 ..., then its other '
  'branches, labelled by the chapter they leave (2a.1, 2a.2 ...).';

CREATE FUNCTION dwc.export_chain_html(chain_id pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.export_chain_html(pg_catalog.int8) IS
  'The Markdown export as one standalone HTML page (dwc.markdown_to_html(), safe mode) with a stylesheet that '
  'prints a chapter a page.';

CREATE FUNCTION dwc.export_chain_json(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.export_chain_json(pg_catalog.int8) IS
  'The chain and all its documents as one JSON document (format dwc.chain/1).';

CREATE FUNCTION dwc.chain_analytics(chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE c STABLE STRICT AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.chain_analytics(pg_catalog.int8) IS
  'Per chain: documents, depth, branches, tokens, cost, average quality, generation time, edits, words, time span.';

CREATE FUNCTION dwc.search_documents(query pg_catalog.text, chain_id pg_catalog.int8 DEFAULT NULL,
                                     lim pg_catalog.int4 DEFAULT 10, semantic_weight pg_catalog.float8 DEFAULT 0.5)
RETURNS pg_catalog.jsonb
LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'dwc_trampoline';
COMMENT ON FUNCTION dwc.search_documents(pg_catalog.text, pg_catalog.int8, pg_catalog.int4, pg_catalog.float8) IS
  'Hybrid search of the caller''s documents: score = (1 - semantic_weight) x full-text rank '
  '(normalised to the best match) + semantic_weight x TF-IDF cosine of builtin embeddings. Without '
  'chain_id, candidates are the documents matching any word of the query; with it, all the chain''s documents.';
