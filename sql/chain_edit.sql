-- Editing a chain as a document (src/chain/edit.sql), on the builtin provider: the main line
-- and its head, documents written by hand (also spliced into the middle), regenerating,
-- reverting, diffs between versions, deleting leaves and subtrees, merging branches.
\set SHOW_CONTEXT never

-- ids relative to the chain's root, so the output does not depend on earlier tests
CREATE FUNCTION pg_temp.tree(chain int8) RETURNS TABLE (doc int8, parent int8, depth int4, provider text, head bool)
LANGUAGE sql AS $$
  SELECT d.id - r.root, d.parent_id - r.root, d.depth, d.provider, d.id = c.head_id
    FROM dwc.documents d JOIN dwc.chains c ON c.id = d.chain_id,
         LATERAL (SELECT min(x.id) AS root FROM dwc.documents x WHERE x.chain_id = chain) r
   WHERE d.chain_id = chain ORDER BY d.id
$$;

SELECT (c ->> 'id')::int8 AS chain, (c -> 'root' ->> 'id')::int8 AS root, (c ->> 'head_id')::int8 = (c -> 'root' ->> 'id')::int8 AS root_is_head
  FROM dwc.create_chain('Garden', 'Write about planning a vegetable garden.', max_tokens => 200) c \gset
SELECT :'root_is_head' AS root_is_head;

-- continuing follows the main line; a branch from an earlier document does not move the head
SELECT (dwc.continue_chain(:chain) ->> 'id')::int8 - :root AS second;
SELECT (dwc.continue_chain(:chain) ->> 'id')::int8 - :root AS third;
SELECT (dwc.continue_chain(:chain, 'A side note on herbs.', from_document => :root + 1) ->> 'id')::int8 - :root AS side;
SELECT (dwc.continue_chain(:chain) ->> 'parent_id')::int8 - :root AS grown_from_the_third_not_the_side;
SELECT array_agg((e ->> 'id')::int8 - :root) AS main_line FROM jsonb_array_elements(dwc.main_line(:chain)) e;
SELECT * FROM pg_temp.tree(:chain);

-- the writer moves the head to the side branch, and the next document follows it
SELECT (dwc.set_chain_head(:chain, :root + 3) ->> 'head_id')::int8 - :root AS head;
SELECT (dwc.continue_chain(:chain) ->> 'parent_id')::int8 - :root AS grown_from_the_side;
SELECT dwc.set_chain_head(:chain, :root + 4) IS NOT NULL AS head_back;

-- written by hand: at the head (which moves to it), and spliced in after the root
SELECT d ->> 'provider' AS provider, d ->> 'title' AS title, d ->> 'prompt' AS prompt,
       d -> 'metadata' AS metadata, (d ->> 'parent_id')::int8 - :root AS parent
  FROM dwc.write_document(:chain, 'We chose raised beds because the soil is clay.', 'Raised beds') d;
SELECT (dwc.write_document(:chain, 'A note on the site and its sun.', parent_id => :root, splice => true) ->> 'id')::int8 - :root AS spliced;
SELECT * FROM pg_temp.tree(:chain);
SELECT dwc.write_document(:chain, '  ');
SELECT dwc.write_document(:chain, 'x', parent_id => -1);

-- regenerate: a new version of the same document, from the same parent, context and prompt
SELECT prompt AS old_prompt, content AS old_content FROM dwc.documents WHERE id = :root + 2 \gset
SELECT d ->> 'version' AS version, d ->> 'prompt' = :'old_prompt' AS same_prompt,
       d ->> 'content' = :'old_content' AS same_content, (d ->> 'parent_id')::int8 - :root AS parent
  FROM dwc.regenerate_document(:root + 2) d;
SELECT dwc.regenerate_document(:root + 2, 'Now about watering.') ->> 'prompt' AS new_prompt;
SELECT dwc.regenerate_document(:root + 6);      -- written by hand: needs a prompt

-- versions: edit, diff, revert
SELECT dwc.edit_document(:root + 6, E'We chose raised beds.\nThe soil is clay.\nBeds drain better.') ->> 'version' AS v2;
SELECT dwc.edit_document(:root + 6, E'We chose raised beds.\nThe soil is heavy clay.\nBeds drain better.') ->> 'version' AS v3;
SELECT regexp_replace(dwc.diff_document(:root + 6), 'document \d+', 'document N', 'g') AS diff;
SELECT regexp_replace(dwc.diff_document(:root + 6, 2, 3), 'document \d+', 'document N', 'g') AS diff_2_3;
SELECT dwc.diff_document(:root + 6, 3, 3) = '' AS no_change;
SELECT dwc.diff_document(:root + 6, 9);
SELECT d ->> 'reverted_to' AS reverted_to, d ->> 'version' AS version, d ->> 'content' AS content
  FROM dwc.revert_document(:root + 6, 2) d;
SELECT dwc.revert_document(:root + 6, 42);
SELECT version, content FROM dwc.document_versions WHERE document_id = :root + 6 ORDER BY version;

-- the diff itself
SELECT dwc.text_diff(E'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk', E'a\nB\nc\nd\ne\nf\ng\nh\ni\nJ\nk', context => 1);
SELECT dwc.text_diff(E'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk', E'a\nB\nc\nd\ne\nf\ng\nh\ni\nJ\nk');
SELECT dwc.text_diff('', E'new\n'), dwc.text_diff(E'old\n', '', 'before', 'after');
SELECT dwc.text_diff('same', 'same') = '' AS same;
SELECT dwc.text_diff('a', 'b', context => -1);

-- merging two branches: a document under one end that brings in the other
SELECT (d ->> 'parent_id')::int8 - :root AS parent, (d -> 'metadata' ->> 'merged_from')::int8 - :root AS merged_from,
       d ->> 'prompt' AS prompt
  FROM dwc.merge_branches(:root + 6, :root + 5) d;
SELECT dwc.merge_branches(:root, :root + 2);    -- one line: nothing to merge
SELECT event, count(*) FROM dwc.chain_events WHERE chain_id = :chain GROUP BY event ORDER BY event;

-- exported as a book: the main line as chapters, then the other branches, labelled by the
-- chapter they leave (ids shown relative to the root)
SELECT regexp_replace(l, '([Dd]ocument) \d+', '\1 N', 'g') AS heading
  FROM regexp_split_to_table(dwc.export_chain_markdown(:chain), E'\n') AS l
 WHERE l ~ '^#{1,3} ' AND l !~ '^### [A-Z]' OR l ~ '^_Document';
SELECT h ~ '^<!DOCTYPE html>' AS doctype, h ~ '<h2>1\. ' AS chapter_one, h ~ '<h2>Other branches</h2>' AS branches,
       h ~ '@media print' AS printable, (SELECT count(*) FROM regexp_matches(h, '<h2>', 'g')) AS h2
  FROM dwc.export_chain_html(:chain) h;
SELECT dwc.markdown_to_html(E'# T\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) *em* "q"', true);
SELECT dwc.markdown_to_html('');

-- deleting: a leaf; a document with later ones only with its subtree; the head goes back
SELECT dwc.delete_document(:root + 5) AS deleted_leaf;
SELECT dwc.delete_document(:root + 1);
SELECT dwc.delete_document(:root + 7, with_descendants => true) AS deleted;
SELECT * FROM pg_temp.tree(:chain);
SELECT dwc.get_document(:root + 6);

-- a completed chain is not edited; a paused one is, but does not grow
SELECT dwc.pause_chain(:chain) ->> 'status';
SELECT dwc.write_document(:chain, 'Written while paused.') ->> 'provider' AS written_while_paused;
SELECT dwc.regenerate_document(:root);
SELECT dwc.complete_chain(:chain) ->> 'status';
SELECT dwc.write_document(:chain, 'late');
SELECT dwc.delete_document(:root);
SELECT dwc.delete_chain(:chain);
