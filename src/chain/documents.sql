-- src/chain/documents.sql: the private halves of working on documents: editing and versions,
-- titles, quality scores, export, analytics and search.

CREATE FUNCTION dwc._edit_document(caller pg_catalog.oid, document_id pg_catalog.int8,
                                   content pg_catalog.text DEFAULT NULL, title pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    c dwc.chains := dwc._own_chain(d.chain_id, caller, true);
    new_content text := coalesce(content, d.content);
    q jsonb;
BEGIN
    IF c.status IN ('completed', 'archived') THEN
        RAISE EXCEPTION 'chain % is %: its documents cannot be edited', c.id, c.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF btrim(new_content) = '' THEN
        RAISE EXCEPTION 'document content must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO dwc.document_versions (document_id, version, title, content, quality_score, content_hash, replaced_by)
    VALUES (d.id, d.version, d.title, d.content, d.quality_score, d.content_hash, caller);
    q := dwc.text_quality(new_content, d.prompt);
    UPDATE dwc.documents
       SET content = new_content,
           title = coalesce(_edit_document.title, CASE WHEN _edit_document.content IS NULL THEN documents.title
                                                      ELSE dwc.text_title(new_content) END),
           summary = dwc.summarize(new_content, 3), quality = q,
           quality_score = (q->>'score')::float8,
           content_hash = encode(sha256(convert_to(new_content, 'UTF8')), 'hex'),
           embedding = dwc.embed(new_content), version = version + 1, updated_at = clock_timestamp()
     WHERE id = d.id RETURNING * INTO d;
    PERFORM dwc._chain_event(d.chain_id, 'document_edited', d.id, jsonb_build_object('version', d.version));
    RETURN dwc._document_json(d);
END;
$$;
SELECT dwc._declare_public('dwc._edit_document',
  'Replaces a document''s content and/or title, keeping the previous version in '
  'dwc.document_versions; summary, quality and embedding are recomputed.');

CREATE FUNCTION dwc._document_versions(caller pg_catalog.oid, document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
BEGIN
    RETURN (SELECT jsonb_agg(v ORDER BY (v->>'version')::int4) FROM (
        SELECT jsonb_build_object('version', dv.version, 'title', dv.title, 'content', dv.content,
                                  'quality_score', dv.quality_score, 'content_hash', dv.content_hash,
                                  'replaced_at', dv.replaced_at, 'current', false) AS v
          FROM dwc.document_versions dv WHERE dv.document_id = d.id
        UNION ALL
        SELECT jsonb_build_object('version', d.version, 'title', d.title, 'content', d.content,
                                  'quality_score', d.quality_score, 'content_hash', d.content_hash,
                                  'replaced_at', NULL, 'current', true)) x);
END;
$$;
SELECT dwc._declare_public('dwc._document_versions',
  'Every version of a document, oldest first, the current one last.',
  volatility => 'stable');

CREATE FUNCTION dwc._generate_title(caller pg_catalog.oid, document_id pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    c dwc.chains := dwc._own_chain(d.chain_id, caller);
    t text;
BEGIN
    PERFORM dwc._chain_editable(c);             -- before the provider is paid for a title that cannot be kept
    IF (SELECT kind FROM dwc.ai_providers WHERE name = c.provider) = 'builtin' THEN
        t := dwc.text_title(d.content);
    ELSE
        t := btrim(split_part(dwc.ai_generate(
                 'Write a title of at most eight words for the following document. Answer with the title only.'
                 || E'\n\n' || left(d.content, 8000),
                 provider => c.provider, model => c.model, max_tokens => 32)->>'text', E'\n', 1), E' "#*\t');
    END IF;
    t := left(nullif(t, ''), 200);
    IF t IS NULL THEN
        RAISE EXCEPTION 'the provider gave no title for document %', d.id USING ERRCODE = 'external_routine_exception';
    END IF;
    -- an edit of the title: the title it replaces (perhaps set by hand) is kept as a version
    IF t IS DISTINCT FROM d.title THEN
        PERFORM dwc._edit_document(caller, d.id, NULL, t);
    END IF;
    RETURN t;
END;
$$;
SELECT dwc._declare_public('dwc._generate_title',
  'Generates and stores a new title for a document, with the chain''s provider (builtin: dwc.text_title()); the '
  'title it replaces is kept as a version, as for an edit. Not for completed or archived chains.');

CREATE FUNCTION dwc._score_quality(caller pg_catalog.oid, document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    q jsonb := dwc.text_quality(d.content, d.prompt);
BEGIN
    -- the same text: a model's grade of it still holds
    IF d.quality ? 'graded' THEN
        q := q || jsonb_build_object('graded', d.quality->'graded');
    END IF;
    UPDATE dwc.documents SET quality = q, quality_score = (q->>'score')::float8 WHERE id = d.id;
    RETURN q;
END;
$$;
SELECT dwc._declare_public('dwc._score_quality',
  'Recomputes and stores a document''s quality (dwc.text_quality() against its prompt).');

-- what a model asked to grade a document is told, and the criteria it answers with
CREATE FUNCTION dwc._grading_rubric() RETURNS pg_catalog.jsonb
LANGUAGE sql IMMUTABLE
RETURN '{"clarity": "is it easy to follow: plain sentences, a clear order",
         "coherence": "does it hold together and build on what came before",
         "specificity": "concrete facts, numbers, names and examples rather than generic statements",
         "fit": "does it do what the prompt asked",
         "language": "grammar, spelling, word choice"}'::pg_catalog.jsonb;
COMMENT ON FUNCTION dwc._grading_rubric() IS
  'Private: the criteria a provider grades documents on (dwc.grade_document), each 0 to 10.';

CREATE FUNCTION dwc._grade_document(caller pg_catalog.oid, document_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    c dwc.chains := dwc._own_chain(d.chain_id, caller);
    rubric jsonb := dwc._grading_rubric();
    answer text;
    g jsonb;
    k text;
    sum float8 := 0;
BEGIN
    IF (SELECT kind FROM dwc.ai_providers WHERE name = c.provider) = 'builtin' THEN
        RAISE EXCEPTION 'grading needs a model: chain %''s provider is builtin', c.id
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Give the chain a provider (dwc.update_chain(..., provider => ...)), or use dwc.score_quality().';
    END IF;
    answer := dwc.ai_chat(jsonb_build_array(
        jsonb_build_object('role', 'system', 'content',
            'You grade documents. For each criterion give an integer from 0 (poor) to 10 (excellent). '
            || 'Answer with only a JSON object with the keys ' || (SELECT string_agg(x, ', ' ORDER BY x) FROM jsonb_object_keys(rubric) x)
            || ', and "comment" (one sentence). The criteria: '
            || (SELECT string_agg(format('%s: %s', key, value #>> '{}'), '; ' ORDER BY key) FROM jsonb_each(rubric)) || '.'),
        jsonb_build_object('role', 'user', 'content',
            format(E'The prompt:\n%s\n\nThe document:\n%s', d.prompt, d.content))),
        provider => c.provider, model => c.model, temperature => 0, max_tokens => 200)->>'text';
    -- the first JSON object in the answer, with every criterion a number from 0 to 10
    BEGIN
        g := substring(answer FROM '\{.*\}')::jsonb;
    EXCEPTION WHEN invalid_text_representation THEN
        g := NULL;
    END;
    IF g IS NULL OR jsonb_typeof(g) <> 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(rubric) x
                   WHERE CASE WHEN jsonb_typeof(g->x) = 'number' THEN (g->>x)::float8 NOT BETWEEN 0 AND 10
                              ELSE true END) THEN
        RAISE EXCEPTION 'the provider''s grade of document % is not a JSON object of the criteria, each 0 to 10', d.id
            USING ERRCODE = 'external_routine_exception', DETAIL = left(answer, 500);
    END IF;
    FOR k IN SELECT * FROM jsonb_object_keys(rubric) LOOP
        sum := sum + (g->>k)::float8;
    END LOOP;
    g := (SELECT jsonb_object_agg(x, (g->>x)::float8) FROM jsonb_object_keys(rubric) x)
         || jsonb_build_object('score', round((10 * sum / (SELECT count(*) FROM jsonb_object_keys(rubric)))::numeric, 1),
                               'comment', left(g->>'comment', 500), 'provider', c.provider, 'model', c.model,
                               'version', d.version, 'at', now());
    UPDATE dwc.documents SET quality = coalesce(quality, '{}') || jsonb_build_object('graded', g) WHERE id = d.id;
    RETURN g;
END;
$$;
SELECT dwc._declare_public('dwc._grade_document',
  'Asks the chain''s provider (not builtin) to grade a document against its prompt on a rubric: clarity, coherence, '
  'specificity, fit and language, each 0 to 10; stores {criteria, score 0-100, comment, provider, model, version} '
  'as quality.graded, beside the heuristic score, and returns it.');

-- Exported, a chain reads as a book: its main line (root to head) as chapters 1, 2, 3 ..., then
-- "Other branches": each branch off chapter 2 is 2a, 2b ..., its documents 2a.1, 2a.2 ...
-- (a branch continues with its oldest child; the others branch off again: 2a.1a.1).

-- the line a branch follows from its first document: the oldest child each time
CREATE FUNCTION dwc._branch_line(first_id pg_catalog.int8) RETURNS pg_catalog.int8[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (WITH RECURSIVE l (id, n) AS (
            SELECT first_id, 1
            UNION ALL
            SELECT m.id, l.n + 1 FROM l, LATERAL (SELECT min(x.id) AS id FROM dwc.documents x WHERE x.parent_id = l.id) m
             WHERE m.id IS NOT NULL)
        SELECT array_agg(l.id ORDER BY l.n) FROM l);
COMMENT ON FUNCTION dwc._branch_line(pg_catalog.int8) IS
  'Private: a branch''s documents from its first, following the oldest child each time.';

-- the documents of one line as Markdown: "<level> <label>. <title>", a line of facts, the content
-- (its own leading heading dropped, its sections one level below the document's heading)
CREATE FUNCTION dwc._export_line(line pg_catalog.int8[], prefix pg_catalog.text, level pg_catalog.int4,
                                 branch_of pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT string_agg(format(E'%s %s. %s\n\n_Document %s%s, quality %s%s._\n\n%s\n',
                                 repeat('#', least(level, 6)), prefix || u.n, d.title, d.id,
                                 CASE WHEN u.n = 1 AND branch_of IS NOT NULL
                                      THEN format(', a branch from %s (document %s)', branch_of, d.parent_id) ELSE '' END,
                                 coalesce(round(d.quality_score::numeric, 1)::text, '-'),
                                 CASE WHEN d.provider = 'human' THEN ', written by hand' ELSE '' END,
                                 regexp_replace(regexp_replace(rtrim(d.content, E'\n'), '^\s*#[^\n]*\n+', ''),
                                                '^(#+) ', repeat('#', least(level - 1, 4)) || '\1 ', 'gn')),
                          E'\n' ORDER BY u.n)
          FROM unnest(line) WITH ORDINALITY AS u(id, n) JOIN dwc.documents d ON d.id = u.id);
COMMENT ON FUNCTION dwc._export_line(pg_catalog.int8[], pg_catalog.text, pg_catalog.int4, pg_catalog.text) IS
  'Private: the documents of one line of a chain as Markdown sections labelled prefix || 1, 2, ...';

-- the branches off a line's documents, each followed by the branches off its own documents
CREATE FUNCTION dwc._export_branches(line pg_catalog.int8[], prefix pg_catalog.text, level pg_catalog.int4)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    out text := '';
    sub int8[];
    b record;
BEGIN
    FOR b IN SELECT x.id, u.n, row_number() OVER (PARTITION BY u.n ORDER BY x.id) AS k
               FROM unnest(line) WITH ORDINALITY AS u(id, n)
               JOIN dwc.documents x ON x.parent_id = u.id
              WHERE x.id IS DISTINCT FROM line[u.n + 1]
              ORDER BY u.n, x.id
    LOOP
        sub := dwc._branch_line(b.id);
        out := out || dwc._export_line(sub, dwc._branch_label(prefix || b.n, b.k) || '.', level, prefix || b.n) || E'\n'
                   || dwc._export_branches(sub, dwc._branch_label(prefix || b.n, b.k) || '.', level + 1);
    END LOOP;
    RETURN out;
END;
$$;
COMMENT ON FUNCTION dwc._export_branches(pg_catalog.int8[], pg_catalog.text, pg_catalog.int4) IS
  'Private: the branches off the documents of a line, as Markdown, each followed by its own branches.';

-- the k-th branch off document "2": 2a, 2b, ... 2z, then 2-27, 2-28 ...
CREATE FUNCTION dwc._branch_label(of_label pg_catalog.text, k pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
RETURN of_label || CASE WHEN k <= 26 THEN pg_catalog.chr(96 + k::int4) ELSE '-' || k END;
COMMENT ON FUNCTION dwc._branch_label(pg_catalog.text, pg_catalog.int8) IS
  'Private: the label of the k-th branch off a document labelled of_label (2a, 2b ...).';

CREATE FUNCTION dwc._export_chain_markdown(caller pg_catalog.oid, chain_id pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
    main int8[] := (SELECT array_agg(x ORDER BY o DESC) FROM unnest(dwc._lineage(c.head_id)) WITH ORDINALITY AS u(x, o));
    out text;
    branches text;
BEGIN
    out := format(E'# %s\n\n', c.name);
    IF c.description IS NOT NULL THEN
        out := out || c.description || E'\n\n';
    END IF;
    out := out || format(E'_Status: %s. Provider: %s%s._\n\n', c.status, c.provider,
                         CASE WHEN c.model IS NOT NULL THEN ' (' || c.model || ')' ELSE '' END);
    out := out || coalesce(dwc._export_line(main, '', 2, NULL), '');
    branches := dwc._export_branches(main, '', 3);
    IF branches <> '' THEN
        out := out || E'\n## Other branches\n\n' || branches;
    END IF;
    RETURN rtrim(out, E'\n') || E'\n';
END;
$$;
SELECT dwc._declare_public('dwc._export_chain_markdown',
  'The chain as one Markdown document: its main line (root to head) as chapters 1, 2, 3 ..., then its other '
  'branches, labelled by the chapter they leave (2a.1, 2a.2 ...).',
  volatility => 'stable');

-- the Markdown export as one HTML page that prints as a book: a chapter a page
CREATE FUNCTION dwc._export_chain_html(caller pg_catalog.oid, chain_id pg_catalog.int8) RETURNS pg_catalog.text
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    RETURN format(E'<!DOCTYPE html>\n<html%s>\n<head>\n<meta charset="utf-8">\n<title>%s</title>\n'
                  '<meta name="generator" content="dwc %s">\n<style>\n%s</style>\n</head>\n<body>\n%s</body>\n</html>\n',
                  CASE WHEN c.settings->>'lang' ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$'
                       THEN format(' lang="%s"', c.settings->>'lang') ELSE '' END,
                  replace(replace(replace(replace(c.name, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'),
                  dwc.version(),
                  E'body { max-width: 42em; margin: 2em auto; padding: 0 1em; font: 17px/1.6 Georgia, serif; color: #222; }\n'
                  'h1, h2, h3, h4, h5, h6 { font-family: Helvetica, Arial, sans-serif; line-height: 1.25; }\n'
                  'h2 { margin-top: 2.5em; padding-bottom: 0.2em; border-bottom: 1px solid #ccc; }\n'
                  'h2 + p em, h3 + p em { color: #666; font-size: 0.9em; }\n'
                  'pre { overflow-x: auto; } pre, code { font-family: Menlo, Consolas, monospace; font-size: 0.9em; }\n'
                  '@page { margin: 2cm; }\n'
                  '@media print { body { max-width: none; margin: 0; font-size: 11pt; }\n'
                  '  h2 { break-before: page; border: none; } h1, h2, h3, h4 { break-after: avoid; } p { orphans: 3; widows: 3; } }\n',
                  dwc.markdown_to_html(dwc._export_chain_markdown(caller, c.id), true));
END;
$$;
SELECT dwc._declare_public('dwc._export_chain_html',
  'The Markdown export as one standalone HTML page (dwc.markdown_to_html(), safe mode) with a stylesheet that '
  'prints a chapter a page.',
  volatility => 'stable');

CREATE FUNCTION dwc._export_chain_json(caller pg_catalog.oid, chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    RETURN jsonb_build_object('format', 'dwc.chain/1', 'chain', dwc._chain_json(c),
        'documents', (SELECT coalesce(jsonb_agg(dwc._document_json(d) ||
                                                jsonb_build_object('versions', (SELECT count(*) FROM dwc.document_versions v
                                                                                 WHERE v.document_id = d.id))
                                                ORDER BY d.id), '[]')
                        FROM dwc.documents d WHERE d.chain_id = c.id),
        'exported_at', now());
END;
$$;
SELECT dwc._declare_public('dwc._export_chain_json',
  'The chain and all its documents as one JSON document (format dwc.chain/1).',
  volatility => 'stable');

CREATE FUNCTION dwc._chain_analytics(caller pg_catalog.oid, chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    RETURN (SELECT jsonb_build_object(
                'chain_id', c.id, 'status', c.status,
                'documents', count(*), 'depth', coalesce(max(d.depth) + 1, 0),
                'branches', (SELECT count(*) FROM (SELECT parent_id FROM dwc.documents x
                                                    WHERE x.chain_id = c.id AND parent_id IS NOT NULL
                                                    GROUP BY parent_id HAVING count(*) > 1) b),
                'tokens_in', coalesce(sum(d.tokens_in), 0), 'tokens_out', coalesce(sum(d.tokens_out), 0),
                'cost', round(coalesce(sum(d.cost), 0)::numeric, 6),
                'average_quality', round(avg(d.quality_score)::numeric, 2),
                'generation_ms', round(coalesce(sum(d.generation_ms), 0)::numeric, 3),
                'edits', (SELECT count(*) FROM dwc.document_versions v JOIN dwc.documents y ON y.id = v.document_id
                           WHERE y.chain_id = c.id),
                'words', coalesce(sum((d.quality->>'words')::int8), 0),
                'first_document_at', min(d.created_at), 'last_document_at', max(d.created_at),
                'elapsed_seconds', round(extract(epoch FROM max(d.created_at) - min(d.created_at))::numeric, 3))
              FROM dwc.documents d WHERE d.chain_id = c.id);
END;
$$;
SELECT dwc._declare_public('dwc._chain_analytics',
  'Per chain: documents, depth, branches, tokens, cost, average quality, generation time, edits, words, time span.',
  volatility => 'stable');

CREATE FUNCTION dwc._search_documents(caller pg_catalog.oid, query pg_catalog.text,
                                      chain_id pg_catalog.int8 DEFAULT NULL, lim pg_catalog.int4 DEFAULT 10,
                                      semantic_weight pg_catalog.float8 DEFAULT 0.5)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q tsquery;
    qv real[];
    idf real[] := dwc._idf();
BEGIN
    IF query IS NULL OR btrim(query) = '' THEN
        RAISE EXCEPTION 'search query must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lim IS NULL OR lim NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF semantic_weight IS NULL OR semantic_weight NOT BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'semantic_weight must be between 0 and 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chain_id IS NOT NULL THEN
        PERFORM dwc._own_chain(chain_id, caller);
    END IF;
    -- any of the query's words (ranked), rather than all of them
    q := nullif(array_to_string(tsvector_to_array(to_tsvector('english', query)), ' | '), '')::tsquery;
    qv := dwc.embed(query);
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'document_id', r.id, 'chain_id', r.chain_id, 'title', r.title,
                       'score', round(r.score::numeric, 6), 'text_rank', round(r.text_rank::numeric, 6),
                       'similarity', round(r.similarity::numeric, 6),
                       'snippet', ts_headline('english', r.content, coalesce(q, plainto_tsquery('')),
                                              'MaxFragments=1, MaxWords=20, MinWords=8'))
                   ORDER BY r.score DESC, r.id), '[]')
              FROM (SELECT s.*,
                           (1 - semantic_weight) * coalesce(s.text_rank / nullif(max(s.text_rank) OVER (), 0), 0)
                           + semantic_weight * s.similarity AS score
                      FROM (SELECT d.id, d.chain_id, d.title, d.content,
                                   coalesce(ts_rank_cd(d.fts, q), 0) AS text_rank,
                                   greatest(dwc._weighted_cosine(d.embedding, qv, idf), 0) AS similarity
                              FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id
                             WHERE dwc._may_manage(caller, c.owner, c.owner_user)
                               AND (_search_documents.chain_id IS NULL OR d.chain_id = _search_documents.chain_id)
                               AND d.embedding IS NOT NULL
                               AND (_search_documents.chain_id IS NOT NULL OR d.fts @@ q)) s
                     ORDER BY score DESC, s.id
                     LIMIT lim) r
             WHERE r.score > 0);
END;
$$;
SELECT dwc._declare_public('dwc._search_documents',
  'Hybrid search of the caller''s documents: score = (1 - semantic_weight) x full-text rank '
  '(normalised to the best match) + semantic_weight x TF-IDF cosine of builtin embeddings. Without '
  'chain_id, candidates are the documents matching any word of the query; with it, all the chain''s documents.',
  volatility => 'stable');
