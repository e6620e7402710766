-- queue: enqueueing, validation, job management, kinds, ownership. No worker serves this
-- database, so jobs stay where these statements put them.
\set VERBOSITY terse
SET timezone = 'UTC';

-- a job, and what it records
SELECT dwc.enqueue('noop') AS id;
SELECT j->>'status' AS status, j->>'kind' AS kind, j->>'queue' AS queue, j->'priority' AS priority,
       j->'attempts' AS attempts, j->'max_attempts' AS max_attempts, j->'timeout_ms' AS timeout_ms,
       j->>'enqueued_by' AS enqueued_by, j->'enqueued_user' AS enqueued_user
  FROM dwc.job_status(1) j;

-- priorities: names or numbers, higher runs first
SELECT p, dwc.priority_value(p) FROM unnest(ARRAY['critical', 'HIGH', 'normal', 'low', '7', '-1000', '1000']) p;
SELECT dwc.priority_value('urgent');
SELECT dwc.priority_value('1001');
SELECT dwc.priority_value('');
SELECT dwc.enqueue('noop', priority => 'high', name => 'important', max_attempts => 2,
                   timeout => '90 seconds', queue => 'reports') AS id;
SELECT priority, name, max_attempts, timeout_ms, queue FROM dwc.jobs WHERE id = 2;
SELECT dwc.enqueue('noop', delay => '1 hour') AS id;
SELECT run_at > now() + interval '59 minutes' AS delayed FROM dwc.jobs WHERE id = 3;
SELECT dwc.enqueue('noop', run_at => '2030-01-01 00:00:00+00') AS id;
SELECT run_at FROM dwc.jobs WHERE id = 4;
SET dwc.job_max_attempts = 9;
SET dwc.job_timeout = '2min';
SELECT dwc.enqueue('noop') AS id;
SELECT max_attempts, timeout_ms FROM dwc.jobs WHERE id = 5;
RESET dwc.job_max_attempts;
RESET dwc.job_timeout;

-- bad input is rejected before anything is stored
SELECT dwc.enqueue('no_such_kind');
SELECT dwc.enqueue(NULL);
SELECT dwc.enqueue('noop', '[1, 2]');
SELECT dwc.enqueue('sql');
SELECT dwc.enqueue('sql', '{"sql": ""}');
SELECT dwc.enqueue('sql', '{"sql": 42}');
SELECT dwc.enqueue('http', '{"method": "GET"}');
SELECT dwc.enqueue('http', '{"url": "http://x", "headers": [1]}');
SELECT dwc.enqueue('noop', queue => 'bad queue!');
SELECT dwc.enqueue('noop', queue => '');
SELECT dwc.enqueue('noop', run_at => now(), delay => '1 second');
SELECT dwc.enqueue('noop', delay => '-1 second');
SELECT dwc.enqueue('noop', max_attempts => 0);
SELECT dwc.enqueue('noop', timeout => '1 month');
SELECT dwc.enqueue('noop', timeout => '0 seconds');
SELECT dwc.enqueue('noop', timeout => '2 days');
SELECT dwc.enqueue('noop', name => repeat('x', 201));
SELECT dwc.enqueue('noop', unique_key => '');
SELECT count(*) AS jobs FROM dwc.jobs;

-- a unique key returns the active job that holds it
SELECT dwc.enqueue('noop', unique_key => 'daily-report') AS first,
       dwc.enqueue('noop', '{"other": true}', unique_key => 'daily-report') AS second;

-- a rolled-back enqueue leaves nothing
BEGIN;
SELECT dwc.enqueue('noop', name => 'ghost') > 0 AS enqueued;
ROLLBACK;
SELECT count(*) AS ghosts FROM dwc.jobs WHERE name = 'ghost';

-- many at once, ids in order
SELECT * FROM dwc.enqueue_many('[{"kind": "noop", "name": "a"},
                                 {"payload": {"sql": "SELECT 1"}, "priority": 5, "name": "b"},
                                 {"name": "c", "delay": "10 minutes", "queue": "reports", "payload": {"sql": "SELECT 2"}}]', 'sql');
\set VERBOSITY default
SELECT * FROM dwc.enqueue_many('[{"kind": "noop"}, {"kind": "sql"}]');
\set VERBOSITY terse
SELECT id, kind, name, priority, queue FROM dwc.jobs WHERE name IN ('a', 'b', 'c') ORDER BY id;
-- batches of 1,000 rows a statement, a job with a unique key alone between them (answered by
-- the job holding its key): the ids come back in the order of the array
SELECT dwc.enqueue('noop', unique_key => 'held', name => 'holder') AS holder \gset
CREATE TEMP TABLE given_ids AS
SELECT e.id, e.ord
  FROM (SELECT jsonb_agg(CASE WHEN g IN (500, 1500)
                              THEN jsonb_build_object('kind', 'noop', 'unique_key', 'held', 'name', 'k' || g)
                              ELSE jsonb_build_object('kind', 'noop', 'name', 'n' || g) END ORDER BY g) AS jobs
          FROM generate_series(1, 2500) g) given,
       dwc.enqueue_many(given.jobs) WITH ORDINALITY AS e (id, ord);
SELECT count(*) AS jobs,
       count(*) FILTER (WHERE j.name = 'n' || ids.ord) AS in_order,
       count(*) FILTER (WHERE ids.id = :holder AND ids.ord IN (500, 1500)) AS answered_by_holder,
       count(DISTINCT ids.id) AS distinct_ids
  FROM given_ids ids LEFT JOIN dwc.jobs j ON j.id = ids.id;
DROP TABLE given_ids;
SELECT dwc.cancel_jobs() > 0 AS cancelled;
SELECT * FROM dwc.enqueue_many('[{"kind": "noop"}, {"kind": "noop", "colour": "red"}]');
SELECT * FROM dwc.enqueue_many('[{"kind": "noop"}, 42]');
SELECT * FROM dwc.enqueue_many('[{"name": "kindless"}]');
SELECT * FROM dwc.enqueue_many('{"kind": "noop"}');
SELECT * FROM dwc.enqueue_many('[{"kind": "noop", "max_attempts": "many"}]');
SELECT * FROM dwc.enqueue_many('[]');

-- cancelling, retrying, redriving
SELECT dwc.cancel_job(1) AS cancelled, dwc.cancel_job(1) AS again;
SELECT j->>'status' AS status, j->>'last_error' AS last_error FROM dwc.job_status(1) j;
SELECT dwc.retry_job(1) AS redriven;
SELECT status, attempts FROM dwc.jobs WHERE id = 1;
SELECT dwc.retry_job(3) AS run_now;
SELECT run_at <= now() AS due FROM dwc.jobs WHERE id = 3;
SELECT dwc.cancel_job(424242);
SELECT dwc.job_status(424242);
SELECT dwc.cancel_jobs(queue => 'reports') AS cancelled_in_reports;
SELECT queue, status, count(*) FROM dwc.job_history GROUP BY 1, 2 ORDER BY 1, 2;
SELECT dwc.cancel_jobs(status => 'done');
SELECT dwc.redrive_dead() AS redriven_dead;
SELECT jsonb_array_length(dwc.list_jobs()) AS listed,
       jsonb_array_length(dwc.list_jobs(status => 'cancelled')) AS cancelled,
       (dwc.list_jobs(lim => 1)->0->>'id')::int = (SELECT max(id) FROM dwc.jobs) AS newest_first;
SELECT dwc.list_jobs(status => 'sleeping');
SELECT dwc.list_jobs(lim => 0);

-- job kinds backed by SQL functions
CREATE FUNCTION public.double_it(payload jsonb) RETURNS jsonb LANGUAGE sql
    RETURN jsonb_build_object('doubled', (payload->>'n')::int * 2);
CREATE FUNCTION public.wrong_shape(x int) RETURNS jsonb LANGUAGE sql RETURN '{}'::jsonb;
SELECT dwc.register_job_kind('math.double', 'public.double_it(jsonb)', 'doubles n', '5 seconds', 3);
SELECT kind, handler, builtin, default_timeout_ms, default_max_attempts FROM dwc.job_kinds ORDER BY kind;
SELECT dwc.enqueue('math.double', '{"n": 21}') AS id \gset
SELECT timeout_ms, max_attempts FROM dwc.jobs WHERE id = :id;
SELECT dwc.register_job_kind('math.bad', 'public.wrong_shape(int)');
SELECT dwc.register_job_kind('math.bad', 'public.no_such_function(jsonb)');
SELECT dwc.register_job_kind('sql', 'public.double_it(jsonb)');
SELECT dwc.register_job_kind('Bad Kind', 'public.double_it(jsonb)');
SELECT dwc.unregister_job_kind('noop');
SELECT dwc.unregister_job_kind('math.double') AS removed, dwc.unregister_job_kind('math.double') AS again;
SELECT dwc.enqueue('math.double', '{"n": 1}');

-- queues can be paused and resumed
SELECT dwc.pause_queue('reports');
SELECT name, paused FROM dwc.queues ORDER BY name;
SELECT dwc.resume_queue('reports');
SELECT queue, paused, ready + scheduled + running + retrying AS active FROM dwc.queue_overview ORDER BY queue;
SELECT jsonb_object_keys(dwc.queue_stats()) AS stats_keys ORDER BY 1;
SELECT dwc.queue_stats()->'counts' AS counts;

-- jobs belong to whoever enqueued them: a role sees and manages only its own
CREATE ROLE dwc_q_alice;
CREATE ROLE dwc_q_bob;
GRANT USAGE ON SCHEMA dwc TO dwc_q_alice, dwc_q_bob;
SET ROLE dwc_q_alice;
SELECT dwc.enqueue('sql', '{"sql": "SELECT current_user"}') AS alice_job \gset
SELECT (dwc.job_status(:alice_job))->>'enqueued_by' AS owner;
SELECT dwc.enqueue('http', '{"url": "http://127.0.0.1:1/"}');
\set VERBOSITY default
SELECT dwc.enqueue('sql', '{"sql": "SELECT 1"}', queue => 'x y');
\set VERBOSITY terse
RESET ROLE;
SET ROLE dwc_q_bob;
SELECT dwc.job_status(:alice_job);
SELECT dwc.cancel_job(:alice_job);
SELECT dwc.cancel_jobs() AS bob_cancelled;
SELECT jsonb_array_length(dwc.list_jobs()) AS bob_sees;
RESET ROLE;
-- through PostgREST all users share a role; the sub of the verified bearer token tells them apart
SELECT json_build_object('authorization', 'Bearer ' || dwc.jwt_sign(
         '{"sub": "user-1", "role": "dwc_q_alice", "aud": "dwc"}'))::text AS user1_headers,
       json_build_object('authorization', 'Bearer ' || dwc.jwt_sign(
         '{"sub": "user-2", "role": "dwc_q_alice", "aud": "dwc"}'))::text AS user2_headers \gset
SELECT set_config('request.headers', :'user1_headers', false) IS NOT NULL AS as_user1;
SET ROLE dwc_q_alice;
SELECT dwc.enqueue('noop', name => 'user-1 job') AS u1_job \gset
SELECT (dwc.job_status(:u1_job))->>'enqueued_user' AS enqueued_user;
SELECT set_config('request.headers', :'user2_headers', false) IS NOT NULL AS as_user2;
SELECT dwc.job_status(:u1_job);
SELECT dwc.cancel_job(:u1_job);
-- claims any SQL can set are not an identity: user-2 cannot claim to be user-1
SELECT set_config('request.jwt.claims', '{"sub": "user-1", "role": "dwc_q_alice"}', false) IS NOT NULL AS forged;
SELECT dwc.current_user_id();
SELECT dwc.cancel_job(:u1_job);
-- nor can a header with a token dwc did not sign
SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' ||
         split_part(:'user2_headers'::json->>'authorization', '.', 1) || '.' ||
         rtrim(translate(encode('{"sub": "user-1", "role": "dwc_q_alice", "aud": "dwc"}', 'base64'), '+/', '-_'), '=') || '.' ||
         split_part(:'user2_headers'::json->>'authorization', '.', 3))::text, false) IS NOT NULL AS tampered;
SELECT dwc.cancel_job(:u1_job);
-- nor a real token of another role
RESET ROLE;
SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || dwc.jwt_sign(
         '{"sub": "user-1", "role": "dwc_q_bob", "aud": "dwc"}'))::text, false) IS NOT NULL AS other_role;
SET ROLE dwc_q_alice;
SELECT dwc.current_user_id() IS NULL AS no_subject;
SELECT set_config('request.headers', :'user1_headers', false) IS NOT NULL AS as_user1;
SELECT dwc.cancel_job(:u1_job) AS own_cancel;
RESET ROLE;
SELECT set_config('request.jwt.claims', '', false), set_config('request.headers', '', false);
-- the private halves are not callable directly
SET ROLE dwc_q_bob;
SELECT dwc._cancel_job(10, 1);
SELECT * FROM dwc.jobs;
RESET ROLE;
DROP OWNED BY dwc_q_alice, dwc_q_bob;
DROP ROLE dwc_q_alice;
DROP ROLE dwc_q_bob;

-- the HTTP API wrappers
SELECT t->>'status' AS status, t->>'kind' AS kind, t->'priority' AS priority
  FROM api.submit_task('noop', name => 'via api', priority => 'critical', delay_seconds => 60) t;
SELECT api.submit_task('data_processing');
SELECT jsonb_array_length(api.submit_tasks('[{"kind": "noop"}, {"kind": "noop"}]')) AS submitted;
SELECT api.cancel_tasks(task_type => 'noop', status => 'queued') ? 'cancelled' AS bulk_cancel;
SELECT api.get_task(999999);

-- finished jobs become events: all of them with dwc.job_events = all, dead ones by default
CREATE TEMP TABLE events_seen AS SELECT coalesce(max(id), 0) AS last FROM dwc.events;
SET dwc.job_events = 'all';
SELECT dwc.cancel_job(dwc.enqueue('noop', name => 'to cancel')) AS cancelled;
SELECT kind, payload->>'name' AS name, payload->>'kind' AS job_kind
  FROM dwc.events WHERE id > (SELECT last FROM events_seen) AND kind LIKE 'job.%';
SET dwc.job_events = 'failures';
SELECT dwc.cancel_job(dwc.enqueue('noop', name => 'not an event')) AS cancelled;
SELECT count(*) AS cancelled_events FROM dwc.events WHERE kind = 'job.cancelled' AND payload->>'name' = 'not an event';
SET dwc.job_events = 'nonsense';
RESET dwc.job_events;

-- progress: said by a running job; outside one it does nothing; bad counts and long phases refused
SELECT dwc.job_progress('not in a job', 1, 2) AS recorded;
SELECT dwc.job_progress('nothing known') AS recorded;
SELECT dwc.job_progress('x', -1, 2);
SELECT dwc.job_progress(repeat('p', 64));
SELECT count(*) AS in_progress FROM dwc.progress;
SET ROLE dwc_user;
SELECT count(*) AS in_progress FROM dwc.progress;
RESET ROLE;
