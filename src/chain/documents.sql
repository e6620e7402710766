-- src/chain/documents.sql: the private halves of working on documents: editing and versions,
-- titles, quality scores, export, analytics and search.

CREATE FUNCTION dwc._edit_document(document_id pg_catalog.int8, content pg_catalog.text, title pg_catalog.text,
                                   caller pg_catalog.oid)
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

CREATE FUNCTION dwc._document_versions(document_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
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

CREATE FUNCTION dwc._generate_title(document_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    c dwc.chains := dwc._own_chain(d.chain_id, caller);
    t text;
BEGIN
    IF (SELECT kind FROM dwc.ai_providers WHERE name = c.provider) = 'builtin' THEN
        t := dwc.text_title(d.content);
    ELSE
        t := btrim(split_part(dwc.ai_generate(
                 'Write a title of at most eight words for the following document. Answer with the title only.'
                 || E'\n\n' || left(d.content, 8000),
                 provider => c.provider, model => c.model, max_tokens => 32)->>'text', E'\n', 1), E' "#*\t');
    END IF;
    UPDATE dwc.documents SET title = left(t, 200), updated_at = clock_timestamp() WHERE id = d.id;
    RETURN left(t, 200);
END;
$$;

CREATE FUNCTION dwc._score_quality(document_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    q jsonb := dwc.text_quality(d.content, d.prompt);
BEGIN
    UPDATE dwc.documents SET quality = q, quality_score = (q->>'score')::float8 WHERE id = d.id;
    RETURN q;
END;
$$;

CREATE FUNCTION dwc._export_chain_markdown(chain_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
    out text;
BEGIN
    out := format(E'# %s\n\n', c.name);
    IF c.description IS NOT NULL THEN
        out := out || c.description || E'\n\n';
    END IF;
    out := out || format(E'_Status: %s. Provider: %s%s._\n\n', c.status, c.provider,
                         CASE WHEN c.model IS NOT NULL THEN ' (' || c.model || ')' ELSE '' END);
    -- depth-first, so branches follow their parent; numbered by position: 1, 1.1, 1.2, 1.1.1
    RETURN out || coalesce((
        WITH RECURSIVE ord AS (
            SELECT d.*, row_number() OVER (PARTITION BY d.parent_id ORDER BY d.id) AS n
              FROM dwc.documents d WHERE d.chain_id = c.id),
        tree AS (
            SELECT ord.*, ARRAY[ord.id] AS path, ARRAY[ord.n] AS label FROM ord WHERE ord.parent_id IS NULL
            UNION ALL
            SELECT ord.*, tree.path || ord.id, tree.label || ord.n FROM ord JOIN tree ON ord.parent_id = tree.id)
        SELECT string_agg(format(E'%s %s. %s\n\n_Document %s%s, quality %s._\n\n%s\n',
                                 repeat('#', least(depth + 2, 6)), array_to_string(label, '.'), title, id,
                                 CASE WHEN parent_id IS NOT NULL THEN ', from document ' || parent_id ELSE '' END,
                                 coalesce(round(quality_score::numeric, 1)::text, '-'),
                                 -- the document's own title goes; its sections nest under its heading
                                 regexp_replace(regexp_replace(content, '^\s*#[^\n]*\n+', ''),
                                                '^(#+) ', repeat('#', least(depth + 1, 4)) || '\1 ', 'gn')),
                          E'\n' ORDER BY path)
          FROM tree), '');
END;
$$;

CREATE FUNCTION dwc._export_chain_json(chain_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
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

CREATE FUNCTION dwc._chain_analytics(chain_id pg_catalog.int8, caller pg_catalog.oid) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
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

CREATE FUNCTION dwc._search_documents(query pg_catalog.text, chain_id pg_catalog.int8, lim pg_catalog.int4,
                                      semantic_weight pg_catalog.float8, caller pg_catalog.oid)
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
