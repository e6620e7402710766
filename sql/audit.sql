-- audit: auditing a table (what each statement records, changed columns only, redaction),
-- the log is append-only, the chain verifies, refusals. (Sealing by the maintenance worker,
-- tampering, who and from where through PostgREST, multi-row statements and concurrency:
-- test/integration/test_audit.py.)
SET client_min_messages = warning;

CREATE TABLE public.aud_things (id int PRIMARY KEY, label text, secret text, n int);
SELECT dwc.audit_table('public.aud_things', '{secret}');
SELECT table_name, redact FROM dwc.audited_tables WHERE table_name = 'public.aud_things'::regclass;

INSERT INTO public.aud_things VALUES (1, 'one', 's1', 1), (2, 'two', 's2', 2);
UPDATE public.aud_things SET label = 'uno' WHERE id = 1;
UPDATE public.aud_things SET n = n WHERE id = 1;        -- nothing changed: nothing to record
UPDATE public.aud_things SET secret = 'new' WHERE id = 2;
DELETE FROM public.aud_things WHERE id = 2;
SELECT action, row_key, old_values, new_values, actor_role
  FROM dwc.audit_log WHERE table_name = 'public.aud_things' ORDER BY id;

-- append-only, even for the superuser
UPDATE dwc.audit_log SET action = 'INSERT' WHERE table_name = 'public.aud_things';
DELETE FROM dwc.audit_log WHERE table_name = 'public.aud_things';
TRUNCATE dwc.audit_log;

-- the chain verifies (what the sealer has not reached yet is reported as unsealed, not as a problem)
SELECT (dwc.audit_verify()->>'ok')::bool AS chain_ok, dwc.audit_verify() ? 'first_problem' AS has_problem;

-- the reports read the same rows
SELECT jsonb_array_length(dwc.audit_record_history('public.aud_things', '{"id": 1}')) AS entries_of_1;

-- refusals
SELECT dwc.audit_table('dwc.audit_log');
SELECT dwc.audit_table('public.aud_things', '{nope}');
CREATE VIEW public.aud_view AS SELECT 1 AS x;
SELECT dwc.audit_table('public.aud_view');
SELECT dwc.audit_logs(0);

-- no longer audited: nothing more is recorded
SELECT dwc.unaudit_table('public.aud_things') AS stopped, dwc.unaudit_table('public.aud_things') AS again;
INSERT INTO public.aud_things VALUES (3, 'three', 's3', 3);
SELECT count(*) AS rows_for_3 FROM dwc.audit_log WHERE table_name = 'public.aud_things' AND row_key = '{"id": 3}';

DROP VIEW public.aud_view;
DROP TABLE public.aud_things;
