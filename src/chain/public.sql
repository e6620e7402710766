-- src/chain/public.sql: pause, resume and complete, as SQL over dwc.set_chain_status() (each
-- public function of the chain is declared beside its private half: manage.sql, documents.sql,
-- edit.sql).

GRANT EXECUTE ON FUNCTION dwc._job_chain_continue(pg_catalog.jsonb) TO PUBLIC;

-- API: Public

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

