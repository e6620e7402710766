-- src/api/advanced.sql: the seed's /advanced AI endpoints for PostgREST.

-- API: Public

CREATE FUNCTION api_impl.ai_generate(prompt pg_catalog.text, system pg_catalog.text DEFAULT NULL,
                                provider pg_catalog.text DEFAULT NULL, model pg_catalog.text DEFAULT NULL,
                                temperature pg_catalog.float8 DEFAULT NULL,
                                max_tokens pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ai_generate(prompt, system, provider, model, temperature, max_tokens);
SELECT dwc._declare_http('api_impl.ai_generate',
  'Generate content with AI (POST /advanced/ai/generate). Returns {text, provider, model, tokens_in, '
  'tokens_out, cost, latency_ms, cached, attempts}.',
  access => 'user', grp => 'ai');

CREATE FUNCTION api_impl.ai_chat(messages pg_catalog.jsonb, provider pg_catalog.text DEFAULT NULL,
                            model pg_catalog.text DEFAULT NULL, temperature pg_catalog.float8 DEFAULT NULL,
                            max_tokens pg_catalog.int4 DEFAULT NULL)
RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN dwc.ai_chat(messages, provider, model, temperature, max_tokens);
SELECT dwc._declare_http('api_impl.ai_chat',
  'Continue a conversation: messages is [{"role": "system"|"user"|"assistant", "content": "..."}].',
  access => 'user', grp => 'ai');

CREATE FUNCTION api_impl.analyze_text(text pg_catalog.text)
RETURNS pg_catalog.jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN dwc.analyze_text(text);
SELECT dwc._declare_http('api_impl.analyze_text',
  'Analyse a text (POST /advanced/ai/analyze): sentiment, keywords, summary, language, counts, '
  'readability. Deterministic heuristics, no model (see docs/ai.md).',
  access => 'user', grp => 'ai');

CREATE FUNCTION api_impl.ai_providers()
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN (SELECT coalesce(jsonb_agg(to_jsonb(p) ORDER BY p.name), '[]') FROM dwc.ai_provider_list p WHERE p.enabled);
SELECT dwc._declare_http('api_impl.ai_providers',
  'The AI providers that can be used, with their default models and limits; never their keys.',
  access => 'user', grp => 'ai');
