-- The AI service's deterministic parts: text analysis, the builtin provider, embeddings,
-- providers' validation. Provider HTTP calls are tested in test/integration/test_ai.py.
\set SHOW_CONTEXT never

SELECT dwc._lexicon_check();

-- analysis
SELECT jsonb_pretty(dwc.analyze_text(
  'PostgreSQL is a wonderful database. Its extensions are powerful and reliable! '
  'However, configuration can be confusing for new users. The documentation helps a lot.'));
SELECT dwc.analyze_text('This is terrible, awful and broken. I hate it.') -> 'sentiment';
SELECT dwc.analyze_text('Not bad at all, really good.') -> 'sentiment';
SELECT dwc.analyze_text('El gato come pescado y la casa es muy bonita para los niños.') ->> 'language' AS es,
       dwc.analyze_text('Le chat mange du poisson et la maison est très belle pour les enfants.') ->> 'language' AS fr,
       dwc.analyze_text('Die Katze frisst den Fisch und das Haus ist sehr schön für die Kinder.') ->> 'language' AS de;
SELECT dwc.analyze_text('') ->> 'words' AS empty_words, dwc.analyze_text('') ->> 'language' AS empty_language;
SELECT dwc.analyze_text(NULL);

-- summaries skip headings; titles prefer a leading heading
SELECT dwc.summarize(E'# Heading\n\nFirst point about cats. Second point about dogs and cats. '
                     'Third point about birds. Cats again and again.', 2);
SELECT dwc.text_title(E'\n# Growing tomatoes\n\nSun and water.');
SELECT dwc.text_title('tomatoes need sun. they also need water and tomatoes need care.');
SELECT dwc.text_title('');

-- quality: readability, length, coverage of the reference, repetition
SELECT dwc.text_quality('Short text.');
SELECT (dwc.text_quality(repeat('the same words again ', 60))) -> 'repetition' AS repetitive;
SELECT (dwc.text_quality('Cats and dogs live together.', 'cats dogs birds fish')) -> 'coverage' AS coverage;

SELECT dwc.estimate_tokens(''), dwc.estimate_tokens('abcd'), dwc.estimate_tokens('abcde'),
       dwc.estimate_tokens('ñ');

-- builtin generation is deterministic, and not an echo of the prompt
SELECT dwc.ai_generate('Write about growing tomatoes on a balcony') ->> 'text' AS text;
SELECT (dwc.ai_generate('Write about growing tomatoes on a balcony') - 'latency_ms')
     = (dwc.ai_generate('Write about growing tomatoes on a balcony') - 'latency_ms') AS deterministic;
SELECT r - 'latency_ms' - 'text' FROM dwc.ai_generate('Write about bees', max_tokens => 40) r;
SELECT length(dwc.ai_generate('Write about bees', max_tokens => 40) ->> 'text') <= 160 AS within_max_tokens;
SELECT dwc.ai_chat('[{"role": "system", "content": "You write.\n\n### Bees\n\nBees make honey in hives."},
                     {"role": "user", "content": "Explain pollination by insects"}]') ->> 'text' AS text;

-- bad requests
SELECT dwc.ai_generate('');
SELECT dwc.ai_generate(NULL);
SELECT dwc.ai_generate('x', provider => 'nobody');
SELECT dwc.ai_generate('x', temperature => 3);
SELECT dwc.ai_generate('x', max_tokens => 0);
SELECT dwc.ai_generate('x', cache_ttl => '1 month');
SELECT dwc.ai_chat('[]');
SELECT dwc.ai_chat('{"role": "user"}');
SELECT dwc.ai_chat('[{"role": "user"}]');
SELECT dwc.ai_chat('[{"role": "wizard", "content": "x"}]');

-- embeddings: 512 dimensions, similar texts are closer
SELECT array_length(dwc.embed('hello world'), 1);
SELECT dwc.cosine_similarity(dwc.embed('solar panels on the roof'), dwc.embed('roof solar panels')) >
       dwc.cosine_similarity(dwc.embed('solar panels on the roof'), dwc.embed('baking bread with yeast')) AS closer;
SELECT dwc.cosine_similarity('{1,0}', '{0,1}'), dwc.cosine_similarity('{1,2}', '{2,4}'),
       dwc.cosine_similarity('{0,0}', '{1,1}');
SELECT dwc.cosine_similarity('{1,2,3}', '{1,2}');
SELECT dwc.embed('x', 'nobody');

-- providers
SELECT dwc.add_provider('Bad Name', 'openai');
SELECT dwc.add_provider('p1', 'mistral');
SELECT dwc.add_provider('p1', 'openai', base_url => 'ftp://x');
SELECT dwc.add_provider('p1', 'openai', api_key_env => 'A', api_key_setting => 'dwc.openai_api_key');
SELECT dwc.add_provider('p1', 'openai', api_key_env => 'OPENAI_API_KEY') > 0 AS added;
SELECT dwc.add_provider('p1', 'openai');
-- has_key: whether a key is there to send; OPENAI_API_KEY is not in the server's environment
SELECT name, kind, default_model, has_key, timeout_ms, max_retries, cache_ttl_s FROM dwc.ai_provider_list ORDER BY name;
-- so a call fails at once, naming the variable, without trying the network
SELECT dwc.ai_generate('x', provider => 'p1');
-- what needs a choice, a label or fields refuses the builtin provider's template text
SELECT dwc._ai_refuse_builtin(dwc.ai_generate('Pick one of: a, b'), 'choose between branches');
SELECT dwc._ai_refuse_builtin('{"provider": "p1", "text": "a"}', 'classify')->>'text' AS passes;
SELECT dwc.set_provider_key('nobody', 'x');
SELECT dwc.remove_provider('p1'), dwc.remove_provider('p1'), dwc.remove_provider('builtin');

-- encryption round trip (the test clusters set dwc.encryption_keys)
SELECT dwc.decrypt(dwc.encrypt('secret value')) AS roundtrip;
SELECT dwc.encrypt('a') <> dwc.encrypt('a') AS fresh_nonce;
-- flip every bit of one byte: setting it to a constant would pass when it already held that value
SELECT dwc.decrypt(set_byte(c, 20, get_byte(c, 20) # 255)) FROM (SELECT dwc.encrypt('tampered') AS c) s;
SELECT dwc.decrypt('\x00'::bytea);
