-- src/chain/edit.sql: the private halves of editing a chain as a writer edits a document: the
-- main line and its head, regenerating a document, writing one by hand (also in the middle of
-- the chain), deleting a leaf or a subtree, reverting to a version, comparing versions, and
-- merging two branches. See docs/chains.md, "Editing".

-- API: Private

-- a chain that may be edited: not completed or archived (editing is not growing: a paused
-- chain may be edited)
CREATE FUNCTION dwc._chain_editable(c dwc.chains) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF c.status IN ('completed', 'archived') THEN
        RAISE EXCEPTION 'chain % is %: its documents cannot be changed', c.id, c.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END;
$$;
COMMENT ON FUNCTION dwc._chain_editable(dwc.chains) IS
  'Private: raises object_not_in_prerequisite_state for a completed or archived chain.';

-- a document's ancestors, itself first, up to the root
CREATE FUNCTION dwc._lineage(document_id pg_catalog.int8) RETURNS pg_catalog.int8[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (WITH RECURSIVE up (id, parent_id, n) AS (
            SELECT d.id, d.parent_id, 1 FROM dwc.documents d WHERE d.id = _lineage.document_id
            UNION ALL
            SELECT d.id, d.parent_id, up.n + 1 FROM dwc.documents d JOIN up ON d.id = up.parent_id)
        SELECT array_agg(up.id ORDER BY up.n) FROM up);
COMMENT ON FUNCTION dwc._lineage(pg_catalog.int8) IS 'Private: a document and its ancestors, itself first.';

CREATE FUNCTION dwc._set_chain_head(caller pg_catalog.oid, chain_id pg_catalog.int8,
                                    document_id pg_catalog.int8)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller, true);
    d dwc.documents := dwc._own_document(document_id, caller);
BEGIN
    IF d.chain_id <> c.id THEN
        RAISE EXCEPTION 'document % is not part of chain %', d.id, c.id USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE dwc.chains SET head_id = d.id, updated_at = now() WHERE id = c.id RETURNING * INTO c;
    PERFORM dwc._chain_event(c.id, 'head_moved', d.id, '{}');
    RETURN dwc._chain_json(c);
END;
$$;
SELECT dwc._declare_public('dwc._set_chain_head',
  'Moves a chain''s head to one of its documents: the main line runs from the root to the head, and '
  'dwc.continue_chain() without from_document grows from it.',
  access => 'user', grp => 'workflows', route => 'PUT /workflows/{id}/head');

CREATE FUNCTION dwc._main_line(caller pg_catalog.oid, chain_id pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller);
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(dwc._document_json(d, false) ORDER BY d.depth), '[]')
              FROM dwc.documents d WHERE d.id = ANY (dwc._lineage(c.head_id)));
END;
$$;
SELECT dwc._declare_public('dwc._main_line',
  'The documents of a chain''s main line, root first, head last (without their content).',
  access => 'user', grp => 'workflows', route => 'GET /workflows/{id}/main-line');

CREATE FUNCTION dwc._regenerate_document(caller pg_catalog.oid, document_id pg_catalog.int8,
                                         prompt pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    c dwc.chains := dwc._own_chain(d.chain_id, caller);
    draft jsonb;
BEGIN
    PERFORM dwc._chain_grows(c);
    IF d.provider = 'human' AND prompt IS NULL THEN
        RAISE EXCEPTION 'document % was written by hand: there is no prompt to regenerate it from', d.id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Give a prompt.';
    END IF;
    -- the same parent, context and prompt (or the one given): a new version of this document
    draft := dwc._compose_document(c, d.parent_id, coalesce(prompt, d.prompt));
    INSERT INTO dwc.document_versions (document_id, version, title, content, quality_score, content_hash, replaced_by)
    VALUES (d.id, d.version, d.title, d.content, d.quality_score, d.content_hash, caller);
    UPDATE dwc.documents
       SET content = draft->>'content', title = dwc.text_title(draft->>'content'),
           summary = dwc.summarize(draft->>'content', 3), prompt = draft->>'prompt',
           provider = draft->>'provider', model = draft->>'model',
           tokens_in = (draft->>'tokens_in')::int4, tokens_out = (draft->>'tokens_out')::int4,
           cost = (draft->>'cost')::float8, generation_ms = (draft->>'generation_ms')::float8,
           quality = draft->'quality', quality_score = (draft->'quality'->>'score')::float8,
           metadata = draft->'metadata',
           content_hash = encode(sha256(convert_to(draft->>'content', 'UTF8')), 'hex'),
           embedding = dwc.embed(draft->>'content'), version = version + 1, updated_at = clock_timestamp()
     WHERE id = d.id RETURNING * INTO d;
    PERFORM dwc._chain_event(d.chain_id, 'document_regenerated', d.id, jsonb_build_object('version', d.version));
    RETURN dwc._document_json(d);
END;
$$;
SELECT dwc._declare_public('dwc._regenerate_document',
  'Generates a document again, from the same parent and context, with its prompt (or a new one): a new '
  'version of the same document, the previous one kept in dwc.document_versions. Later documents stay.',
  access => 'user', grp => 'workflows', route => 'POST /workflows/nodes/{id}/regenerate');

CREATE FUNCTION dwc._write_document(caller pg_catalog.oid, chain_id pg_catalog.int8, content pg_catalog.text,
                                    title pg_catalog.text DEFAULT NULL,
                                    parent_id pg_catalog.int8 DEFAULT NULL,
                                    splice pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c dwc.chains := dwc._own_chain(chain_id, caller, true);
    parent int8 := coalesce(parent_id, c.head_id);
    d dwc.documents;
BEGIN
    PERFORM dwc._chain_editable(c);
    IF content IS NULL OR btrim(content) = '' THEN
        RAISE EXCEPTION 'document content must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM dwc.documents x WHERE x.id = parent AND x.chain_id = c.id) THEN
        RAISE EXCEPTION 'document % is not part of chain %', parent, c.id USING ERRCODE = 'no_data_found';
    END IF;
    IF parent IS NULL AND EXISTS (SELECT 1 FROM dwc.documents x WHERE x.chain_id = c.id) THEN
        RAISE EXCEPTION 'chain % has a root already', c.id USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Name the parent (parent_id).';
    END IF;
    d := dwc._insert_document(c, parent, jsonb_build_object(
             'content', content, 'title', nullif(btrim(title), ''), 'prompt', '', 'provider', 'human',
             'quality', dwc.text_quality(content, NULL), 'metadata', jsonb_build_object('written_by_hand', true)),
             caller);
    IF coalesce(splice, false) THEN
        -- in the middle: the parent's other children (and their subtrees) move one level down, under it
        WITH RECURSIVE moved (id) AS (
            SELECT x.id FROM dwc.documents x WHERE x.parent_id = parent AND x.id <> d.id AND x.chain_id = c.id
            UNION ALL
            SELECT x.id FROM dwc.documents x JOIN moved m ON x.parent_id = m.id)
        UPDATE dwc.documents x SET depth = x.depth + 1 FROM moved m WHERE x.id = m.id;
        UPDATE dwc.documents x SET parent_id = d.id
         WHERE x.parent_id = parent AND x.id <> d.id AND x.chain_id = c.id;
    END IF;
    -- written at the head, the main line goes on through it; spliced in, the head stays where it was
    UPDATE dwc.chains x SET head_id = d.id
     WHERE x.id = c.id AND x.head_id IS NOT DISTINCT FROM parent AND NOT coalesce(splice, false);
    RETURN dwc._document_json(d);
END;
$$;
SELECT dwc._declare_public('dwc._write_document',
  'Adds a document written by hand (provider human) under a parent (default: the head, which then moves to it; '
  'the root of an empty chain). With splice, it goes in the middle: the parent''s other children move under it.',
  access => 'user', grp => 'workflows', route => 'POST /workflows/{id}/nodes/written');

CREATE FUNCTION dwc._delete_document(caller pg_catalog.oid, document_id pg_catalog.int8,
                                     with_descendants pg_catalog.bool DEFAULT false)
RETURNS pg_catalog.int4
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    c dwc.chains := dwc._own_chain(d.chain_id, caller, true);
    gone int8[];
BEGIN
    PERFORM dwc._chain_editable(c);
    WITH RECURSIVE sub (id) AS (
        SELECT d.id
        UNION ALL
        SELECT x.id FROM dwc.documents x JOIN sub ON x.parent_id = sub.id)
    SELECT array_agg(sub.id) INTO gone FROM sub;
    IF cardinality(gone) > 1 AND NOT coalesce(with_descendants, false) THEN
        RAISE EXCEPTION 'document % has % later documents', d.id, cardinality(gone) - 1
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Delete the subtree with with_descendants => true, or delete its leaves first.';
    END IF;
    DELETE FROM dwc.documents x WHERE x.id = ANY (gone);
    -- a head that went: the main line now ends at the deleted document's parent
    UPDATE dwc.chains x SET head_id = d.parent_id, updated_at = now()
     WHERE x.id = c.id AND x.head_id = ANY (gone);
    UPDATE dwc.chains x SET updated_at = now() WHERE x.id = c.id;
    PERFORM dwc._chain_event(c.id, 'document_deleted', d.id, jsonb_build_object('documents', cardinality(gone)));
    RETURN cardinality(gone);
END;
$$;
SELECT dwc._declare_public('dwc._delete_document',
  'Deletes a document with no later documents, or with with_descendants its whole subtree; returns how many '
  'documents went. A head that went moves back to the deleted document''s parent.',
  access => 'user', grp => 'workflows', route => 'DELETE /workflows/nodes/{id}');

CREATE FUNCTION dwc._revert_document(caller pg_catalog.oid, document_id pg_catalog.int8,
                                     version pg_catalog.int4)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    v dwc.document_versions;
BEGIN
    SELECT * INTO v FROM dwc.document_versions x WHERE x.document_id = d.id AND x.version = _revert_document.version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % has no earlier version %', d.id, version USING ERRCODE = 'no_data_found',
            HINT = format('Its current version is %s; see dwc.document_versions(%s).', d.version, d.id);
    END IF;
    -- an edit back to that version's text: the current one is kept as a version too
    RETURN dwc._edit_document(caller, d.id, v.content, v.title)
           || jsonb_build_object('reverted_to', v.version);
END;
$$;
SELECT dwc._declare_public('dwc._revert_document',
  'Brings back an earlier version''s title and content as a new version (the current one is kept too).',
  access => 'user', grp => 'workflows', route => 'POST /workflows/nodes/{id}/revert');

-- a version's title and text: an earlier one, or (NULL) the current one
CREATE FUNCTION dwc._document_version_text(d dwc.documents, version pg_catalog.int4) RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    IF version IS NULL OR version = d.version THEN
        RETURN 'Title: ' || d.title || E'\n\n' || d.content;
    END IF;
    SELECT 'Title: ' || x.title || E'\n\n' || x.content INTO t
      FROM dwc.document_versions x WHERE x.document_id = d.id AND x.version = _document_version_text.version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'document % has no version %', d.id, version USING ERRCODE = 'no_data_found',
            HINT = format('Its current version is %s; see dwc.document_versions(%s).', d.version, d.id);
    END IF;
    RETURN t;
END;
$$;
COMMENT ON FUNCTION dwc._document_version_text(dwc.documents, pg_catalog.int4) IS
  'Private: a version of a document as text (a title line, then its content); NULL: the current one.';

CREATE FUNCTION dwc._diff_document(caller pg_catalog.oid, document_id pg_catalog.int8,
                                   from_version pg_catalog.int4 DEFAULT NULL,
                                   to_version pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d dwc.documents := dwc._own_document(document_id, caller);
    a int4 := coalesce(from_version, coalesce(to_version, d.version) - 1);
    b int4 := coalesce(to_version, d.version);
BEGIN
    RETURN dwc.text_diff(dwc._document_version_text(d, a), dwc._document_version_text(d, b),
                         format('document %s version %s', d.id, a), format('document %s version %s', d.id, b));
END;
$$;
SELECT dwc._declare_public('dwc._diff_document',
  'What changed in a document between two versions (default: the one before to_version, and the current one), '
  'as a unified diff of its title and content (dwc.text_diff()).',
  access => 'user', grp => 'workflows', route => 'GET /workflows/nodes/{id}/diff');

CREATE FUNCTION dwc._merge_branches(caller pg_catalog.oid, into_document pg_catalog.int8,
                                    from_document pg_catalog.int8, prompt pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a dwc.documents := dwc._own_document(into_document, caller);
    b dwc.documents := dwc._own_document(from_document, caller);
    c dwc.chains := dwc._own_chain(a.chain_id, caller);
    line_a int8[] := dwc._lineage(a.id);
    line_b int8[] := dwc._lineage(b.id);
    branch text;
    draft jsonb;
    d dwc.documents;
BEGIN
    PERFORM dwc._chain_grows(c);
    IF b.chain_id <> a.chain_id THEN
        RAISE EXCEPTION 'documents % and % are in different chains', a.id, b.id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF a.id = ANY (line_b) OR b.id = ANY (line_a) THEN
        RAISE EXCEPTION 'documents % and % are on one line: there is nothing to merge', a.id, b.id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Merge the ends of two branches.';
    END IF;
    -- the other branch: its documents after the common ancestor, oldest first, in full
    SELECT string_agg(format(E'## %s\n\n%s', x.title, x.content), E'\n\n' ORDER BY x.depth) INTO branch
      FROM dwc.documents x WHERE x.id = ANY (line_b) AND x.id <> ALL (line_a);
    draft := dwc._compose_document(c, a.id,
                                   coalesce(prompt, format('Merge the two branches of the document chain "%s": go on from '
                                                           '"%s", bringing in what "%s" and the documents before it add.',
                                                           c.name, a.title, b.title)),
                                   branch);
    d := dwc._insert_document(c, a.id, jsonb_set(draft, '{metadata,merged_from}', to_jsonb(b.id)), caller);
    UPDATE dwc.chains x SET head_id = d.id WHERE x.id = c.id AND x.head_id IN (a.id, b.id);
    PERFORM dwc._chain_event(c.id, 'branches_merged', d.id, jsonb_build_object('into', a.id, 'from', b.id));
    RETURN dwc._document_json(d);
END;
$$;
SELECT dwc._declare_public('dwc._merge_branches',
  'Generates a document under into_document that brings in the other branch (from_document and its ancestors '
  'since the two branches parted), in the context after into_document''s own; metadata.merged_from names it. '
  'A head at either end moves to it.',
  access => 'user', grp => 'workflows', route => 'POST /workflows/nodes/{id}/merge');

-- API: Public

CREATE FUNCTION dwc.text_diff(a pg_catalog.text, b pg_catalog.text, a_label pg_catalog.text DEFAULT 'a',
                              b_label pg_catalog.text DEFAULT 'b', context pg_catalog.int4 DEFAULT 3)
RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_text_diff';
COMMENT ON FUNCTION dwc.text_diff(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.int4) IS
  'A unified diff (as diff -u prints it) of two texts, line by line, with context lines around each change; '
  'the empty string when their lines are the same.';

