-- Document workflow chains on the builtin provider: deterministic, so the documents
-- themselves are part of the expected output.
\set SHOW_CONTEXT never

CREATE FUNCTION pg_temp.strip(j jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT j - 'created_at' - 'updated_at' - 'completed_at' - 'generation_ms' - 'content' - 'exported_at'
$$;

SELECT jsonb_pretty(pg_temp.strip(c) - 'root') AS chain, jsonb_pretty(pg_temp.strip(c -> 'root')) AS root
  FROM dwc.create_chain('Home solar', 'Write an introduction to rooftop solar panels for homeowners: costs and savings.',
                        description => 'A guide in steps', context_budget => 1400, max_tokens => 300) c;
SELECT content FROM dwc.documents WHERE id = 1;

-- the next document: prompt derived from the parent, the parent in its context
SELECT id, parent_id, depth, title, prompt, metadata -> 'context' AS context, metadata -> 'prompt_derived' AS derived
  FROM jsonb_to_record(dwc.continue_chain(1)) AS d(id int8, parent_id int8, depth int, title text, prompt text, metadata jsonb);
SELECT content FROM dwc.documents WHERE id = 2;
SELECT id, parent_id, title, metadata -> 'context' AS context
  FROM jsonb_to_record(dwc.continue_chain(1, 'Explain financing options and incentives.'))
       AS d(id int8, parent_id int8, title text, metadata jsonb);
-- a branch from the root
SELECT id, parent_id, depth, metadata -> 'context' AS context
  FROM jsonb_to_record(dwc.continue_chain(1, 'Compare with heat pumps.', from_document => 1))
       AS d(id int8, parent_id int8, depth int, metadata jsonb);
SELECT id, parent_id, depth, title, quality_score, tokens_in, tokens_out, provider, model, version
  FROM dwc.documents ORDER BY id;

-- edits keep versions
SELECT dwc.edit_document(2, E'# Panels in winter\n\nSnow and short days reduce output. Cleaning the panels matters.') ->> 'version';
SELECT dwc.edit_document(2, title => 'Winter output') ->> 'title';
SELECT v ->> 'version' AS version, v ->> 'title' AS title, v ->> 'current' AS current
  FROM jsonb_array_elements(dwc.document_versions(2)) v;
SELECT dwc.score_quality(2);
SELECT dwc.generate_title(2);
-- the title set by hand above is kept as a version
SELECT v ->> 'version' AS version, v ->> 'title' AS title, v ->> 'current' AS current
  FROM jsonb_array_elements(dwc.document_versions(2)) v;

-- analytics and exports
SELECT jsonb_pretty(dwc.chain_analytics(1) - 'first_document_at' - 'last_document_at' - 'elapsed_seconds' - 'generation_ms');
SELECT dwc.export_chain_markdown(1);
SELECT jsonb_pretty(pg_temp.strip(dwc.export_chain_json(1) - 'documents') || jsonb_build_object('chain', pg_temp.strip(dwc.export_chain_json(1) -> 'chain'))) AS export;
SELECT jsonb_array_length(dwc.export_chain_json(1) -> 'documents') AS documents;

-- search: full text + embeddings
SELECT d ->> 'document_id' AS id, d ->> 'title' AS title FROM jsonb_array_elements(dwc.search_documents('winter snow')) d;
SELECT d ->> 'document_id' AS id FROM jsonb_array_elements(dwc.search_documents('financing incentives', 1, 2)) d;
SELECT dwc.search_documents('x', lim => 0);
SELECT dwc.search_documents('x', semantic_weight => 2);

-- status transitions
SELECT dwc.pause_chain(1) ->> 'status';
SELECT dwc.continue_chain(1);
SELECT dwc.pause_chain(1);
SELECT dwc.resume_chain(1) ->> 'status';
SELECT dwc.complete_chain(1) ->> 'status';
SELECT dwc.resume_chain(1);
SELECT dwc.edit_document(1, 'late edit');
SELECT dwc.generate_title(1);
SELECT dwc.set_chain_status(1, 'done');
SELECT dwc.set_chain_status(1, 'archived') ->> 'status';
SELECT dwc.set_chain_status(1, 'archived');
SELECT event, document_id FROM dwc.chain_events WHERE chain_id = 1 ORDER BY id;

-- bad input and unknown objects
SELECT dwc.create_chain('x', '');
SELECT dwc.create_chain('', 'y');
SELECT dwc.create_chain('x', 'y', temperature => 5);
SELECT dwc.create_chain('x', 'y', provider => 'nobody');
SELECT dwc.get_chain(42);
SELECT dwc.continue_chain(42);
SELECT dwc.get_document(42);
SELECT dwc.update_chain(1, context_budget => 1);
SELECT dwc.update_chain(1, name => 'Home solar, revised') ->> 'name';
SELECT jsonb_array_length(dwc.list_chains()), jsonb_array_length(dwc.list_chains('active'));
SELECT dwc.delete_chain(1);
SELECT count(*) FROM dwc.documents;
SELECT count(*) FROM dwc.document_versions;
SELECT sum(ndocs) AS ndocs, bool_and(df = array_fill(0::int8, ARRAY[512])) AS all_zero FROM dwc.embedding_df;
