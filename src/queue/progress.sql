-- src/queue/progress.sql: what a running job says of its progress (src/queue/progress.c): a
-- phase and done/total, kept in its worker's slot in shared memory, so that it is seen while
-- the job's own transaction is still open. See docs/queue.md, "Progress".

-- API: Public

CREATE FUNCTION dwc.job_progress(phase pg_catalog.text, done pg_catalog.int8 DEFAULT NULL,
                                 total pg_catalog.int8 DEFAULT NULL)
RETURNS pg_catalog.bool
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc_job_progress';
COMMENT ON FUNCTION dwc.job_progress(pg_catalog.text, pg_catalog.int8, pg_catalog.int8) IS
  'Called by a running job (a sql job, a job kind''s handler): says its phase (up to 63 bytes) and how much of '
  'how much is done (NULL: not known), at once visible in dwc.job_status(), dwc.progress and the WebSocket '
  'gateway; it ends with the job. Returns false, and does nothing, outside a job.';

-- API: Private

CREATE FUNCTION dwc._job_progress(
    OUT job_id pg_catalog.int8,
    OUT pid pg_catalog.int4,
    OUT phase pg_catalog.text,
    OUT done pg_catalog.int8,
    OUT total pg_catalog.int8,
    OUT updated_at pg_catalog.timestamptz)
RETURNS SETOF record
LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'dwc__job_progress';
COMMENT ON FUNCTION dwc._job_progress() IS
  'Private: the progress every running job of this database has said, from its worker''s slot: job, worker '
  'pid, phase, done, total, when.';
REVOKE ALL ON FUNCTION dwc._job_progress() FROM PUBLIC;

CREATE FUNCTION dwc._job_progress_json(job pg_catalog.int8) RETURNS pg_catalog.jsonb
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
RETURN coalesce((SELECT jsonb_build_object('progress', jsonb_build_object(
                            'phase', p.phase, 'done', p.done, 'total', p.total,
                            'percent', CASE WHEN p.total > 0 THEN round(100.0 * p.done / p.total, 1) END,
                            'updated_at', p.updated_at))
                   FROM dwc._job_progress() p WHERE p.job_id = job), '{}');
COMMENT ON FUNCTION dwc._job_progress_json(pg_catalog.int8) IS
  'Private: {"progress": {phase, done, total, percent, updated_at}} of a running job that said it, else {}.';

-- API: Public

CREATE FUNCTION dwc._running_progress(caller pg_catalog.oid)
RETURNS TABLE (job_id pg_catalog.int8, queue pg_catalog.text, kind pg_catalog.text, name pg_catalog.text,
               phase pg_catalog.text, done pg_catalog.int8, total pg_catalog.int8, percent pg_catalog.numeric,
               updated_at pg_catalog.timestamptz, worker_pid pg_catalog.int4)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT p.job_id, j.queue, j.kind, j.name, p.phase, p.done, p.total,
           CASE WHEN p.total > 0 THEN round(100.0 * p.done / p.total, 1) END, p.updated_at, p.pid
      FROM dwc._job_progress() p JOIN dwc.jobs j ON j.id = p.job_id
     WHERE dwc._may_manage(caller, j.enqueued_by, j.enqueued_user)
     ORDER BY p.job_id;
END;
SELECT dwc._declare_public('dwc._running_progress',
  'The progress of the running jobs the caller may see (their own; every one for administrators): job, queue, '
  'kind, name, phase, done, total, percent, when it was said, the worker''s pid. Also the view dwc.progress.');

CREATE VIEW dwc.progress AS SELECT * FROM dwc.running_progress();
COMMENT ON VIEW dwc.progress IS
  'The progress of the running jobs the caller may see: dwc.running_progress() as a view.';
GRANT SELECT ON dwc.progress TO dwc_user, dwc_admin;
