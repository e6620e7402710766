-- src/ai/ai.sql: AI providers, the response cache, the call log, and the SQL API of the
-- AI service. See src/ai/README.md.

-- API: Private (tables; administrators read them, applications use the functions)

CREATE TABLE dwc.ai_providers (
    id pg_catalog.int4 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name pg_catalog.text NOT NULL UNIQUE
        CONSTRAINT provider_name_valid CHECK (name OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_.-]{0,62}$'),
    kind pg_catalog.text NOT NULL
        CHECK (kind IN ('builtin', 'openai', 'anthropic', 'google', 'openai_compatible')),
    base_url pg_catalog.text CHECK (base_url OPERATOR(pg_catalog.~) '^https?://'),
    default_model pg_catalog.text,
    embedding_model pg_catalog.text,
    api_key_encrypted pg_catalog.bytea,
    api_key_env pg_catalog.text CHECK (api_key_env OPERATOR(pg_catalog.~) '^[A-Za-z_][A-Za-z0-9_]*$'),
    api_key_setting pg_catalog.text
        CHECK (api_key_setting IN ('dwc.openai_api_key', 'dwc.anthropic_api_key', 'dwc.google_api_key')),
    timeout_ms pg_catalog.int4 NOT NULL DEFAULT 60000 CHECK (timeout_ms BETWEEN 1 AND 3600000),
    max_retries pg_catalog.int4 NOT NULL DEFAULT 3 CHECK (max_retries BETWEEN 0 AND 20),
    requests_per_minute pg_catalog.int4 NOT NULL DEFAULT 0 CHECK (requests_per_minute >= 0),
    tokens_per_minute pg_catalog.int4 NOT NULL DEFAULT 0 CHECK (tokens_per_minute >= 0),
    cost_input_per_1k pg_catalog.numeric NOT NULL DEFAULT 0 CHECK (cost_input_per_1k >= 0),
    cost_output_per_1k pg_catalog.numeric NOT NULL DEFAULT 0 CHECK (cost_output_per_1k >= 0),
    cache_ttl_s pg_catalog.int4 NOT NULL DEFAULT 3600 CHECK (cache_ttl_s >= 0),
    enabled pg_catalog.bool NOT NULL DEFAULT true,
    created_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT one_key_source CHECK (num_nonnulls(api_key_encrypted, api_key_env, api_key_setting) <= 1)
);
COMMENT ON TABLE dwc.ai_providers IS
  'AI providers. The API key is stored encrypted (api_key_encrypted), or named: an environment '
  'variable of the server (api_key_env) or a superuser-only setting (api_key_setting). Administrators only.';
SELECT dwc._keep_seeds('dwc.ai_providers');
SELECT pg_catalog.pg_extension_config_dump('dwc.ai_providers_id_seq', '');
INSERT INTO dwc.ai_providers (name, kind, default_model, cache_ttl_s)
VALUES ('builtin', 'builtin', 'builtin-1', 0);

CREATE FUNCTION dwc._providers_changed() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__providers_changed';
COMMENT ON FUNCTION dwc._providers_changed() IS
  'Private: trigger that makes every backend reread dwc.ai_providers at commit.';
CREATE TRIGGER ai_providers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dwc.ai_providers
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._providers_changed();

CREATE TABLE dwc.ai_cache (
    key pg_catalog.bytea PRIMARY KEY,
    provider pg_catalog.text NOT NULL,
    model pg_catalog.text NOT NULL,
    response pg_catalog.text NOT NULL,
    tokens_in pg_catalog.int4 NOT NULL,
    tokens_out pg_catalog.int4 NOT NULL,
    created_at pg_catalog.timestamptz NOT NULL,
    expires_at pg_catalog.timestamptz NOT NULL
);
COMMENT ON TABLE dwc.ai_cache IS
  'Responses of AI calls, by SHA-256 of provider, model, normalised messages and options; '
  'identical calls before expires_at are answered from here.';
SELECT pg_catalog.pg_extension_config_dump('dwc.ai_cache', '');
CREATE INDEX ai_cache_expires ON dwc.ai_cache (expires_at);

-- the memory tier in front of the table (src/ai/cache_mem.c), shared by all backends
CREATE FUNCTION dwc._ai_cache_memory_clear() RETURNS void
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__ai_cache_memory_clear';
COMMENT ON FUNCTION dwc._ai_cache_memory_clear() IS
  'Private: empties the response cache''s memory tier, now and when the transaction commits.';
CREATE FUNCTION dwc._ai_cache_memory_stats() RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__ai_cache_memory_stats';
COMMENT ON FUNCTION dwc._ai_cache_memory_stats() IS
  'Private: the memory tier''s slots, live entries, hits, misses, hit ratio, stores, evictions, answers too large '
  'for a slot, and clears since the server started.';

-- rows deleted before they expired (an invalidation, a clear, a DELETE by hand): the memory
-- tier forgets everything; expired rows (the maintenance pass) have expired there too
CREATE FUNCTION dwc._ai_cache_rows_gone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM dwc._ai_cache_memory_clear();
    ELSIF EXISTS (SELECT 1 FROM gone WHERE gone.expires_at > now()) THEN
        PERFORM dwc._ai_cache_memory_clear();
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER ai_cache_deleted AFTER DELETE ON dwc.ai_cache
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION dwc._ai_cache_rows_gone();
CREATE TRIGGER ai_cache_truncated AFTER TRUNCATE ON dwc.ai_cache
    FOR EACH STATEMENT EXECUTE FUNCTION dwc._ai_cache_rows_gone();

CREATE TABLE dwc.ai_calls (
    id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at pg_catalog.timestamptz NOT NULL,
    role pg_catalog.oid NOT NULL,
    provider pg_catalog.text NOT NULL,
    model pg_catalog.text NOT NULL,
    operation pg_catalog.text NOT NULL,
    tokens_in pg_catalog.int4 NOT NULL,
    tokens_out pg_catalog.int4 NOT NULL,
    latency_ms pg_catalog.float8 NOT NULL,
    cost pg_catalog.float8 NOT NULL,
    cache_hit pg_catalog.bool NOT NULL,
    ok pg_catalog.bool NOT NULL,
    http_status pg_catalog.int2 NOT NULL,
    attempts pg_catalog.int2 NOT NULL,
    error pg_catalog.text,
    user_id pg_catalog.text                          -- dwc.current_user_id() of the caller
);
COMMENT ON TABLE dwc.ai_calls IS
  'One row per AI call, also calls whose transaction rolled back (they are logged through shared '
  'memory and written by the maintenance worker within a second). Kept for dwc.ai_call_retention.';
SELECT pg_catalog.pg_extension_config_dump('dwc.ai_calls_id_seq', '');
CREATE INDEX ai_calls_at ON dwc.ai_calls USING brin (at);
-- signed-in users read their own calls (per-user analytics, src/analytics)
SELECT dwc._enable_owner_rls('dwc.ai_calls', 'dwc._row_visible(role, user_id)');

SELECT pg_catalog.pg_extension_config_dump('dwc.ai_providers', '');
-- changes to providers are audited, without the keys (src/audit)
SELECT dwc.audit_table('dwc.ai_providers', '{api_key_encrypted}');
SELECT pg_catalog.pg_extension_config_dump('dwc.ai_calls', '');

CREATE FUNCTION dwc._ai_log_dropped() RETURNS pg_catalog.int8
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__ai_log_dropped';
COMMENT ON FUNCTION dwc._ai_log_dropped() IS
  'Private: AI calls lost from the shared log ring because it wrapped before they were written.';

CREATE FUNCTION dwc._lexicon_check() RETURNS pg_catalog.bool
LANGUAGE c AS 'MODULE_PATHNAME', 'dwc__lexicon_check';
COMMENT ON FUNCTION dwc._lexicon_check() IS 'Private, for tests: checks that the builtin word lists are sorted.';

-- ---- providers (administrators) ----------------------------------------------------

-- API: Public

CREATE FUNCTION dwc.add_provider(
    name pg_catalog.text,
    kind pg_catalog.text,
    base_url pg_catalog.text DEFAULT NULL,
    default_model pg_catalog.text DEFAULT NULL,
    api_key pg_catalog.text DEFAULT NULL,
    api_key_env pg_catalog.text DEFAULT NULL,
    api_key_setting pg_catalog.text DEFAULT NULL,
    timeout pg_catalog.interval DEFAULT '60 seconds',
    max_retries pg_catalog.int4 DEFAULT 3,
    requests_per_minute pg_catalog.int4 DEFAULT 0,
    tokens_per_minute pg_catalog.int4 DEFAULT 0,
    cost_input_per_1k pg_catalog.numeric DEFAULT 0,
    cost_output_per_1k pg_catalog.numeric DEFAULT 0,
    cache_ttl pg_catalog.interval DEFAULT '1 hour',
    embedding_model pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id int4;
BEGIN
    INSERT INTO dwc.ai_providers (name, kind, base_url, default_model, api_key_encrypted, api_key_env,
                                  api_key_setting, timeout_ms, max_retries, requests_per_minute,
                                  tokens_per_minute, cost_input_per_1k, cost_output_per_1k, cache_ttl_s,
                                  embedding_model)
    VALUES (name, kind, base_url, coalesce(default_model, CASE kind
                WHEN 'openai' THEN 'gpt-4o-mini' WHEN 'anthropic' THEN 'claude-3-5-haiku-latest'
                WHEN 'google' THEN 'gemini-1.5-flash' WHEN 'openai_compatible' THEN 'llama3.1' END),
            CASE WHEN api_key IS NULL THEN NULL ELSE dwc.encrypt(api_key) END,
            api_key_env, api_key_setting, (extract(epoch FROM timeout) * 1000)::int4, max_retries,
            requests_per_minute, tokens_per_minute, cost_input_per_1k, cost_output_per_1k,
            extract(epoch FROM cache_ttl)::int4, embedding_model)
    RETURNING id INTO new_id;
    RETURN new_id;
EXCEPTION
    WHEN unique_violation THEN
        RAISE EXCEPTION 'AI provider "%" already exists', name USING ERRCODE = 'unique_violation';
    WHEN check_violation THEN
        RAISE EXCEPTION 'invalid AI provider "%"', name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Names: lower-case letters, digits, _ . -; kinds: builtin, openai, anthropic, google, '
                           'openai_compatible; base_url: http(s)://...; api_key_setting: dwc.openai_api_key, '
                           'dwc.anthropic_api_key or dwc.google_api_key; at most one key source; numbers not negative.';
END;
$$;
COMMENT ON FUNCTION dwc.add_provider(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.numeric, pg_catalog.numeric, pg_catalog.interval, pg_catalog.text) IS
  'Registers an AI provider (kind openai, anthropic, google, openai_compatible). Its key: api_key '
  '(stored encrypted: needs dwc.encryption_keys), api_key_env (an environment variable of the server) '
  'or api_key_setting (a superuser-only dwc.*_api_key setting). Administrators only.';
REVOKE ALL ON FUNCTION dwc.add_provider(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.int4, pg_catalog.int4, pg_catalog.int4, pg_catalog.numeric, pg_catalog.numeric, pg_catalog.interval, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.set_provider_key(provider pg_catalog.text, api_key pg_catalog.text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE dwc.ai_providers
       SET api_key_encrypted = CASE WHEN api_key IS NULL THEN NULL ELSE dwc.encrypt(api_key) END,
           api_key_env = NULL, api_key_setting = NULL
     WHERE name = provider;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'AI provider "%" does not exist', provider USING ERRCODE = 'undefined_object';
    END IF;
END;
$$;
COMMENT ON FUNCTION dwc.set_provider_key(pg_catalog.text, pg_catalog.text) IS
  'Stores (encrypted) or clears a provider''s API key. Mind that a statement that fails is logged '
  'with its text: prefer api_key_env for keys that must never reach the server log. Administrators only.';
REVOKE ALL ON FUNCTION dwc.set_provider_key(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.remove_provider(provider pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH d AS (DELETE FROM dwc.ai_providers WHERE name = provider AND kind <> 'builtin' RETURNING 1)
    SELECT count(*) > 0 FROM d;
END;
COMMENT ON FUNCTION dwc.remove_provider(pg_catalog.text) IS
  'Removes a provider (not builtin); false if there was none. Administrators only.';
REVOKE ALL ON FUNCTION dwc.remove_provider(pg_catalog.text) FROM PUBLIC;

-- The builtin provider writes text from templates (src/ai/builtin.c): its answer to "choose one
-- of" names an option only by chance. What asks for a choice, a label or fields refuses it.
CREATE FUNCTION dwc._ai_refuse_builtin(answer pg_catalog.jsonb, task pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF answer->>'provider' = 'builtin' THEN
        RAISE EXCEPTION 'the builtin provider cannot %: it writes text from templates', task
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Add a provider with dwc.add_provider() (docs/ai.md) and name it, or make it the default; '
                         'builtin serves generation, summaries and text analysis offline.';
    END IF;
    RETURN answer;
END;
$$;
COMMENT ON FUNCTION dwc._ai_refuse_builtin(pg_catalog.jsonb, pg_catalog.text) IS
  'Private: answer (of dwc.ai_generate), unless the builtin provider gave it: then feature_not_supported, saying '
  'that task needs a model.';
GRANT EXECUTE ON FUNCTION dwc._ai_refuse_builtin(pg_catalog.jsonb, pg_catalog.text) TO PUBLIC;

CREATE FUNCTION dwc._ai_provider_has_key(name pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE c STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'dwc__ai_provider_has_key';
COMMENT ON FUNCTION dwc._ai_provider_has_key(pg_catalog.text) IS
  'Private: has the enabled provider a key to send now (stored, or its environment variable or setting set and '
  'not empty)? NULL for none or a disabled one. Says nothing of the key.';
-- the view below is everyone's: it asks for its rows only
GRANT EXECUTE ON FUNCTION dwc._ai_provider_has_key(pg_catalog.text) TO PUBLIC;

-- providers without their secrets, for anyone who may use them; has_key: a key is there to
-- send (an environment variable the server lacks is none)
CREATE VIEW dwc.ai_provider_list AS
SELECT name, kind, base_url, default_model, embedding_model,
       coalesce(dwc._ai_provider_has_key(name),
                api_key_encrypted IS NOT NULL OR api_key_env IS NOT NULL OR api_key_setting IS NOT NULL) AS has_key,
       timeout_ms, max_retries, requests_per_minute, tokens_per_minute, cost_input_per_1k,
       cost_output_per_1k, cache_ttl_s, enabled
  FROM dwc.ai_providers;
COMMENT ON VIEW dwc.ai_provider_list IS 'The AI providers, without anything about their keys but whether they have one.';
GRANT SELECT ON dwc.ai_provider_list TO PUBLIC;

-- ---- generation and analysis ------------------------------------------------------

CREATE FUNCTION dwc.ai_generate(
    prompt pg_catalog.text,
    system pg_catalog.text DEFAULT NULL,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    cache_ttl pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_ai_generate';
COMMENT ON FUNCTION dwc.ai_generate(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4, pg_catalog.interval) IS
  'Generates text from a prompt (and an optional system prompt) with a provider (default '
  'dwc.default_provider). Returns {text, provider, model, tokens_in, tokens_out, cost, latency_ms, '
  'cached, attempts}. Identical calls within the cache TTL are answered from dwc.ai_cache.';

CREATE FUNCTION dwc.ai_chat(
    messages pg_catalog.jsonb,
    provider pg_catalog.text DEFAULT NULL,
    model pg_catalog.text DEFAULT NULL,
    temperature pg_catalog.float8 DEFAULT NULL,
    max_tokens pg_catalog.int4 DEFAULT NULL,
    cache_ttl pg_catalog.interval DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_ai_chat';
COMMENT ON FUNCTION dwc.ai_chat(pg_catalog.jsonb, pg_catalog.text, pg_catalog.text, pg_catalog.float8, pg_catalog.int4, pg_catalog.interval) IS
  'Continues a conversation: messages is [{"role": "system"|"user"|"assistant", "content": "..."}]. '
  'Returns the reply as dwc.ai_generate() does.';

CREATE FUNCTION dwc.analyze_text(content pg_catalog.text) RETURNS pg_catalog.jsonb
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_analyze_text';
COMMENT ON FUNCTION dwc.analyze_text(pg_catalog.text) IS
  'Deterministic text analysis (builtin heuristics, no model): sentiment score and label, '
  'keywords, a two-sentence extractive summary, language (en, es, fr, de, it, pt), word, sentence '
  'and character counts, Flesch reading ease, estimated tokens.';

CREATE FUNCTION dwc.summarize(content pg_catalog.text, sentences pg_catalog.int4 DEFAULT 3)
RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_summarize';
COMMENT ON FUNCTION dwc.summarize(pg_catalog.text, pg_catalog.int4) IS
  'Extractive summary: the sentences carrying the most keyword weight, in their original order.';

CREATE FUNCTION dwc.text_title(content pg_catalog.text) RETURNS pg_catalog.text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_text_title';
COMMENT ON FUNCTION dwc.text_title(pg_catalog.text) IS
  'A title for a text: its leading Markdown heading, or the start of the sentence holding its main keyword.';

CREATE FUNCTION dwc.text_quality(content pg_catalog.text, reference pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE c IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_text_quality';
COMMENT ON FUNCTION dwc.text_quality(pg_catalog.text, pg_catalog.text) IS
  'Quality score 0-100 of prose: fluency (function words) times a weighted mean of readability, length, keyword '
  'coverage of the reference, absence of repetition, variety of sentence lengths and specificity (concrete '
  'details, no filler phrases); each component 0-1 is returned too (docs/ai.md).';

CREATE FUNCTION dwc.estimate_tokens(content pg_catalog.text) RETURNS pg_catalog.int4
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_estimate_tokens';
COMMENT ON FUNCTION dwc.estimate_tokens(pg_catalog.text) IS
  'Tokens a text is expected to take in a model''s context: one per 4 bytes, rounded up.';

CREATE FUNCTION dwc.embed(content pg_catalog.text, provider pg_catalog.text DEFAULT 'builtin',
                          model pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.float4[]
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_embed';
COMMENT ON FUNCTION dwc.embed(pg_catalog.text, pg_catalog.text, pg_catalog.text) IS
  'An embedding vector: builtin gives a 512-dimension hashed term-frequency vector (weighted by '
  'inverse document frequency in searches); openai, google and openai_compatible providers call '
  'their embeddings API.';

CREATE FUNCTION dwc.cosine_similarity(a pg_catalog.float4[], b pg_catalog.float4[]) RETURNS pg_catalog.float8
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_cosine_similarity';
COMMENT ON FUNCTION dwc.cosine_similarity(pg_catalog.float4[], pg_catalog.float4[]) IS
  'Cosine similarity of two vectors of the same dimension (0 if either is zero).';

CREATE FUNCTION dwc._weighted_cosine(a pg_catalog.float4[], b pg_catalog.float4[], weights pg_catalog.float4[])
RETURNS pg_catalog.float8
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'dwc_weighted_cosine';
COMMENT ON FUNCTION dwc._weighted_cosine(pg_catalog.float4[], pg_catalog.float4[], pg_catalog.float4[]) IS
  'Private: cosine of two vectors with each dimension multiplied by a weight (the IDF).';

-- ---- cache and statistics (administrators) ---------------------------------------------

CREATE FUNCTION dwc.ai_cache_invalidate(provider pg_catalog.text DEFAULT NULL, model pg_catalog.text DEFAULT NULL)
RETURNS pg_catalog.int4
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- the shared tiers too, whatever this table held: they may hold answers it never did
    -- (the memory tier filled from Redis, Redis filled by another cluster)
    SELECT dwc._ai_cache_memory_clear();
    WITH d AS (DELETE FROM dwc.ai_cache c
                WHERE (ai_cache_invalidate.provider IS NULL OR c.provider = ai_cache_invalidate.provider)
                  AND (ai_cache_invalidate.model IS NULL OR c.model = ai_cache_invalidate.model)
               RETURNING 1)
    SELECT count(*)::int4 FROM d;
END;
COMMENT ON FUNCTION dwc.ai_cache_invalidate(pg_catalog.text, pg_catalog.text) IS
  'Drops cached AI responses (of a provider, of a model, or all) from the table, and empties the memory tier and '
  'this database''s Redis keys; returns how many rows went. Administrators only.';
REVOKE ALL ON FUNCTION dwc.ai_cache_invalidate(pg_catalog.text, pg_catalog.text) FROM PUBLIC;

CREATE FUNCTION dwc.ai_stats(period pg_catalog.interval DEFAULT '1 day') RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN jsonb_build_object(
    'period_seconds', extract(epoch FROM period),
    'cache', (SELECT jsonb_build_object('entries', count(*), 'live', count(*) FILTER (WHERE expires_at > now()))
                FROM dwc.ai_cache),
    'calls', (SELECT coalesce(jsonb_object_agg(provider, s), '{}') FROM (
                SELECT provider, jsonb_build_object(
                           'calls', count(*), 'errors', count(*) FILTER (WHERE NOT ok),
                           'cache_hits', count(*) FILTER (WHERE cache_hit),
                           'cache_hit_ratio', round(avg(cache_hit::int)::numeric, 4),
                           'tokens_in', sum(tokens_in), 'tokens_out', sum(tokens_out),
                           'cost', round(sum(cost)::numeric, 6),
                           'latency_ms_p50', round((percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms))::numeric, 3),
                           'latency_ms_p95', round((percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms))::numeric, 3)) AS s
                  FROM dwc.ai_calls WHERE at >= now() - period GROUP BY provider) x),
    'log_entries_lost', dwc._ai_log_dropped());
COMMENT ON FUNCTION dwc.ai_stats(pg_catalog.interval) IS
  'AI usage over a period, per provider: calls, errors, cache hits and hit ratio, tokens, cost, '
  'latency p50/p95; cache size; calls lost from the log ring. Administrators only.';
REVOKE ALL ON FUNCTION dwc.ai_stats(pg_catalog.interval) FROM PUBLIC;

-- run by the maintenance worker
CREATE FUNCTION dwc._ai_maintain(retention pg_catalog.interval) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM dwc.ai_cache WHERE key IN (SELECT key FROM dwc.ai_cache WHERE expires_at < now() LIMIT 10000);
    DELETE FROM dwc.ai_calls WHERE id IN (SELECT id FROM dwc.ai_calls WHERE at < now() - retention LIMIT 10000);
END;
$$;
COMMENT ON FUNCTION dwc._ai_maintain(pg_catalog.interval) IS
  'Private: drops expired cache entries and old call log rows, 10,000 at a time; run by the maintenance worker.';
REVOKE ALL ON FUNCTION dwc._ai_maintain(pg_catalog.interval) FROM PUBLIC;
