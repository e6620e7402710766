-- src/chain/generate.sql: generating a document: the context packed from its ancestors within a
-- token budget, the prompt, the AI call, the new document and its chain event.

CREATE FUNCTION dwc._chain_event(chain_id pg_catalog.int8, event pg_catalog.text,
                                 document_id pg_catalog.int8, detail pg_catalog.jsonb,
                                 job pg_catalog.int8 DEFAULT dwc.current_job_id())
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO dwc.chain_events (chain_id, event, document_id, job_id, detail)
    VALUES (chain_id, event, document_id, job, detail);
    PERFORM pg_notify('dwc_chain_' || chain_id,
                      jsonb_build_object('chain_id', chain_id, 'event', event, 'document_id', document_id,
                                         'job_id', job, 'detail', detail)::text);
END;
$$;
COMMENT ON FUNCTION dwc._chain_event(pg_catalog.int8, pg_catalog.text, pg_catalog.int8, pg_catalog.jsonb, pg_catalog.int8) IS
  'Private: records a chain event (of the job running, unless one is given) and NOTIFYs it on channel '
  'dwc_chain_<id> (delivered at commit).';

CREATE FUNCTION dwc._document_json(d dwc.documents, with_content pg_catalog.bool DEFAULT true)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
RETURN jsonb_strip_nulls(jsonb_build_object(
    'id', d.id, 'chain_id', d.chain_id, 'parent_id', d.parent_id, 'depth', d.depth, 'title', d.title,
    'content', CASE WHEN with_content THEN d.content END, 'summary', d.summary, 'prompt', d.prompt,
    'provider', d.provider, 'model', d.model, 'tokens_in', d.tokens_in, 'tokens_out', d.tokens_out,
    'cost', d.cost, 'generation_ms', round(d.generation_ms::numeric, 3), 'quality_score', d.quality_score,
    'quality', d.quality, 'metadata', d.metadata, 'content_hash', d.content_hash, 'version', d.version,
    'created_at', d.created_at, 'updated_at', d.updated_at));

/*
 * The context of a new document: its ancestors, newest first.  As many of
 * the newest as possible go in full, provided every older one still fits as
 * its summary; when even the summaries do not all fit, the oldest are left
 * out.  Token costs are dwc.estimate_tokens() of each piece, inlined.
 *
 * The walk up the tree stops at the first ancestor whose summary, added to
 * the summaries of all newer ones, overflows the budget: no older ancestor
 * can be included, so a deep chain costs no more than a shallow one.
 */
CREATE FUNCTION dwc._pack_context(parent_id pg_catalog.int8, budget pg_catalog.int4,
                                  OUT context pg_catalog.text, OUT used pg_catalog.jsonb,
                                  OUT tokens pg_catalog.int4, OUT omitted pg_catalog.int4)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ids int8[];
    fulls text[];
    summaries text[];
    full_cost int4[];
    summary_cost int4[];
    oldest_depth int4;
    n int4;
    k int4 := 0;             -- ancestors 1..k in full, the rest as summaries
    prefix int4 := 0;        -- cost of ancestors 1..k in full
    rest int4;               -- cost of ancestors k+1..n as summaries
    i int4;
BEGIN
    context := '';
    used := '[]';
    tokens := 0;
    omitted := 0;
    WITH RECURSIVE up AS (
        SELECT d.id, d.parent_id, d.depth, 0 AS n, x.f, x.s, (octet_length(x.s) + 3) / 4 AS cum
          FROM dwc.documents d,
               LATERAL (SELECT format(E'### %s\n\n%s\n\n', d.title, d.content) AS f,
                               format(E'### %s\n\nSummary: %s\n\n', d.title, d.summary) AS s) x
         WHERE d.id = _pack_context.parent_id
        UNION ALL
        SELECT d.id, d.parent_id, d.depth, up.n + 1, x.f, x.s, up.cum + (octet_length(x.s) + 3) / 4
          FROM up JOIN dwc.documents d ON d.id = up.parent_id,
               LATERAL (SELECT format(E'### %s\n\n%s\n\n', d.title, d.content) AS f,
                               format(E'### %s\n\nSummary: %s\n\n', d.title, d.summary) AS s) x
         WHERE up.cum <= _pack_context.budget)
    SELECT array_agg(up.id ORDER BY up.n), array_agg(up.f ORDER BY up.n), array_agg(up.s ORDER BY up.n),
           array_agg((octet_length(up.f) + 3) / 4 ORDER BY up.n), array_agg((octet_length(up.s) + 3) / 4 ORDER BY up.n),
           min(up.depth)
      INTO ids, fulls, summaries, full_cost, summary_cost, oldest_depth
      FROM up;
    n := coalesce(cardinality(ids), 0);
    IF n = 0 THEN
        RETURN;
    END IF;
    omitted := oldest_depth;   -- the ancestors above the walk's last one

    rest := (SELECT sum(c) FROM unnest(summary_cost) AS c);
    WHILE k < n AND prefix + full_cost[k + 1] + rest - summary_cost[k + 1] <= budget LOOP
        -- ancestor k+1 in full instead of as a summary
        prefix := prefix + full_cost[k + 1];
        rest := rest - summary_cost[k + 1];
        k := k + 1;
    END LOOP;

    FOR i IN 1..n LOOP
        IF i <= k THEN
            context := context || fulls[i];
            used := used || jsonb_build_object('document_id', ids[i], 'form', 'full', 'tokens', full_cost[i]);
            tokens := tokens + full_cost[i];
        ELSIF tokens + summary_cost[i] <= budget THEN
            context := context || summaries[i];
            used := used || jsonb_build_object('document_id', ids[i], 'form', 'summary', 'tokens', summary_cost[i]);
            tokens := tokens + summary_cost[i];
        ELSE
            -- from here up nothing fits, even where a shorter summary would
            omitted := omitted + n - i + 1;
            EXIT;
        END IF;
    END LOOP;
END;
$$;
COMMENT ON FUNCTION dwc._pack_context(pg_catalog.int8, pg_catalog.int4) IS
  'Private: packs a document''s ancestors (newest first) into a token budget: the newest in full as '
  'long as all older ones still fit as summaries; summaries that do not fit are left out, oldest '
  'first. Returns the text, the ancestors used (form full or summary, tokens), the tokens, and how '
  'many ancestors were left out.';

CREATE FUNCTION dwc._derived_prompt(c dwc.chains, parent dwc.documents) RETURNS pg_catalog.text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN format('Continue the document chain "%s" with its next document. Build on "%s" and develop %s further%s.',
              c.name, parent.title,
              coalesce((SELECT string_agg(k->>'word', ', ')
                          FROM jsonb_array_elements((dwc.analyze_text(parent.content))->'keywords') WITH ORDINALITY AS e(k, i)
                         WHERE i <= 3), 'its ideas'),
              CASE WHEN c.style IS NOT NULL THEN ', in this style: ' || c.style ELSE '' END);

-- A document's text, from its parent (NULL: the root) and prompt (NULL: derived from the parent),
-- with the ancestors packed into the context window and, for a merge, another branch after them:
-- {content, prompt, provider, model, tokens_in, tokens_out, cost, generation_ms, quality, metadata}.
CREATE FUNCTION dwc._compose_document(c dwc.chains, parent_id pg_catalog.int8, prompt pg_catalog.text,
                                      other_branch pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parent dwc.documents;
    derived bool := prompt IS NULL;
    packed record;
    system text;
    reserve int4;
    result jsonb;
BEGIN
    IF parent_id IS NOT NULL THEN
        SELECT * INTO parent FROM dwc.documents x WHERE x.id = _compose_document.parent_id;
        IF NOT FOUND OR parent.chain_id <> c.id THEN
            RAISE EXCEPTION 'document % is not part of chain %', parent_id, c.id USING ERRCODE = 'no_data_found';
        END IF;
        IF prompt IS NULL THEN
            prompt := dwc._derived_prompt(c, parent);
        END IF;
    END IF;
    IF prompt IS NULL OR btrim(prompt) = '' THEN
        RAISE EXCEPTION 'a prompt is needed for the first document of a chain' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    system := format('You are writing document %s of the document chain "%s"%s. Each document builds on the earlier ones.%s',
                     coalesce(parent.depth + 2, 1), c.name,
                     CASE WHEN c.description IS NOT NULL THEN ' (' || c.description || ')' ELSE '' END,
                     CASE WHEN c.style IS NOT NULL THEN ' Style: ' || c.style || '.' ELSE '' END);
    -- what stays for the context: the budget minus the instructions, the prompt, the other
    -- branch of a merge and the answer
    reserve := dwc.estimate_tokens(system) + dwc.estimate_tokens(prompt) + c.max_tokens
               + coalesce(dwc.estimate_tokens(other_branch), 0);
    SELECT * INTO packed FROM dwc._pack_context(parent_id, greatest(c.context_budget - reserve, 0));
    IF packed.context <> '' THEN
        system := system || E' The earlier documents follow, newest first.\n\n' || packed.context;
    END IF;
    IF other_branch IS NOT NULL THEN
        system := system || E'\n\nThe other branch to bring in follows, oldest first.\n\n' || other_branch;
    END IF;

    result := dwc.ai_chat(jsonb_build_array(jsonb_build_object('role', 'system', 'content', system),
                                            jsonb_build_object('role', 'user', 'content', prompt)),
                          provider => c.provider, model => c.model, temperature => c.temperature,
                          max_tokens => c.max_tokens);
    RETURN jsonb_build_object(
        'content', result->>'text', 'prompt', prompt, 'provider', result->>'provider', 'model', result->>'model',
        'tokens_in', result->'tokens_in', 'tokens_out', result->'tokens_out', 'cost', result->'cost',
        'generation_ms', result->'latency_ms', 'quality', dwc.text_quality(result->>'text', prompt),
        'metadata', jsonb_build_object('context', packed.used, 'context_tokens', packed.tokens,
                                       'context_omitted', packed.omitted,
                                       'context_budget', c.context_budget, 'prompt_derived', derived,
                                       'cached', (result->>'cached')::bool,
                                       'attempts', (result->>'attempts')::int4));
END;
$$;
COMMENT ON FUNCTION dwc._compose_document(dwc.chains, pg_catalog.int8, pg_catalog.text, pg_catalog.text) IS
  'Private: writes a document''s text with the chain''s provider, from a parent (NULL: the root) and a prompt (NULL: '
  'derived), the ancestors packed into the context window and, for a merge, the other branch after them.';

-- a new document of the chain: composed (by the provider) or written (by a person)
CREATE FUNCTION dwc._insert_document(c dwc.chains, parent_id pg_catalog.int8, draft pg_catalog.jsonb,
                                     caller pg_catalog.oid)
RETURNS dwc.documents
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    body text := draft->>'content';
    d dwc.documents;
BEGIN
    INSERT INTO dwc.documents (chain_id, parent_id, depth, title, content, summary, prompt, provider, model,
                               tokens_in, tokens_out, cost, generation_ms, quality_score, quality, metadata,
                               content_hash, embedding, created_by)
    SELECT c.id, p.id, coalesce(p.depth + 1, 0), coalesce(draft->>'title', dwc.text_title(body)), body,
           dwc.summarize(body, 3), draft->>'prompt', draft->>'provider', draft->>'model',
           coalesce((draft->>'tokens_in')::int4, 0), coalesce((draft->>'tokens_out')::int4, 0),
           coalesce((draft->>'cost')::float8, 0), coalesce((draft->>'generation_ms')::float8, 0),
           (draft->'quality'->>'score')::float8, draft->'quality', draft->'metadata',
           encode(sha256(convert_to(body, 'UTF8')), 'hex'), dwc.embed(body), caller
      FROM (SELECT) one LEFT JOIN dwc.documents p ON p.id = _insert_document.parent_id
    RETURNING * INTO d;
    UPDATE dwc.chains SET updated_at = now() WHERE id = c.id;
    PERFORM dwc._chain_event(c.id, 'document_created', d.id,
                             jsonb_build_object('parent_id', d.parent_id, 'title', d.title,
                                                'quality_score', d.quality_score));
    RETURN d;
END;
$$;
COMMENT ON FUNCTION dwc._insert_document(dwc.chains, pg_catalog.int8, pg_catalog.jsonb, pg_catalog.oid) IS
  'Private: stores a new document of a chain under a parent (NULL: the root) from a draft (content, title, prompt, '
  'provider, usage, quality, metadata), with its summary, hash and embedding, and records the chain event.';

CREATE FUNCTION dwc._generate_document(c dwc.chains, parent_id pg_catalog.int8, prompt pg_catalog.text,
                                       caller pg_catalog.oid)
RETURNS dwc.documents
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
RETURN dwc._insert_document(c, parent_id, dwc._compose_document(c, parent_id, prompt), caller);
COMMENT ON FUNCTION dwc._generate_document(dwc.chains, pg_catalog.int8, pg_catalog.text, pg_catalog.oid) IS
  'Private: generates and stores the next document of a chain from a parent (NULL: the root), with '
  'the ancestors packed into the context window.';
