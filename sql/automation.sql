-- automation: the condition language (known answers and every refusal), templates in actions,
-- and automations' definitions: what is accepted, what is refused and why, ownership.
-- Firing and running need workers: test/integration/test_automation.py. Nothing here
-- enqueues a job or makes a schedule (later suites number theirs).
\set VERBOSITY terse
SET client_min_messages = warning;

-- conditions
CREATE TEMP TABLE cases (n serial, cond jsonb, data jsonb);
INSERT INTO cases (cond, data) VALUES
  ('true', '{}'), ('false', '{}'), ('{"all": []}', '{}'), ('{"any": []}', '{}'),
  ('{"not": {"any": []}}', '{}'),
  ('{"path": "a", "eq": 1}', '{"a": 1}'), ('{"path": "a", "eq": 1}', '{"a": 1.0}'),
  ('{"path": "a", "eq": 1}', '{"a": "1"}'), ('{"path": "a", "ne": 1}', '{"a": "1"}'),
  ('{"path": "a", "ne": 1}', '{"a": 2}'), ('{"path": "a", "ne": 1}', '{}'),
  ('{"path": "a", "eq": null}', '{"a": null}'), ('{"path": "a", "eq": true}', '{"a": true}'),
  ('{"path": "a", "ne": true}', '{"a": false}'),
  ('{"path": "a.b.0", "gt": 2}', '{"a": {"b": [3]}}'), ('{"path": "a.b.1", "gt": 2}', '{"a": {"b": [3]}}'),
  ('{"path": ["a.b", 1], "le": "m"}', '{"a.b": [0, "k"]}'), ('{"path": "s", "lt": "b"}', '{"s": "ab"}'),
  ('{"path": "s", "ge": "b"}', '{"s": "b"}'), ('{"path": "s", "gt": 1}', '{"s": "5"}'),
  ('{"path": "x", "in": [1, "two", null]}', '{"x": "two"}'), ('{"path": "x", "in": [1, "two"]}', '{"x": 3}'),
  ('{"path": "x", "between": [1, 3]}', '{"x": 3}'), ('{"path": "x", "between": ["a", "c"]}', '{"x": "d"}'),
  ('{"path": "t", "contains": "ell"}', '{"t": "hello"}'), ('{"path": "t", "contains": "vip"}', '{"t": ["a", "vip"]}'),
  ('{"path": "t", "contains": 2}', '{"t": [1, 2]}'), ('{"path": "t", "contains": "k"}', '{"t": {"k": 1}}'),
  ('{"path": "t", "matches": "^h.*o$"}', '{"t": "hello"}'), ('{"path": "t", "matches": "^H"}', '{"t": "hello"}'),
  ('{"path": "t", "matches": "1"}', '{"t": 1}'),
  ('{"path": "t", "exists": true}', '{"t": null}'), ('{"path": "t", "exists": false}', '{"u": 1}'),
  ('{"path": "", "eq": 5}', '5'), ('{"path": "a", "eq": 5}', '5'), ('{"path": "0", "eq": "x"}', '["x"]'),
  ('{"all": [{"path": "kind", "eq": "shop.order_paid"}, {"any": [{"path": "payload.amount", "gt": 100},
            {"not": {"path": "payload.vip", "eq": false}}]}]}', '{"kind": "shop.order_paid", "payload": {"amount": 5}}'),
  ('{"all": [{"path": "kind", "eq": "shop.order_paid"}, {"any": [{"path": "payload.amount", "gt": 100},
            {"not": {"path": "payload.vip", "eq": false}}]}]}', '{"kind": "shop.order_paid", "payload": {"amount": 5, "vip": false}}');
SELECT n, dwc.condition_matches(cond, data) AS matches FROM cases ORDER BY n;

-- refusals name what is wrong and where
SELECT dwc.check_condition('null');
SELECT dwc.check_condition('[true]');
SELECT dwc.check_condition('"yes"');
SELECT dwc.check_condition('{}');
SELECT dwc.check_condition('{"path": "a"}');
SELECT dwc.check_condition('{"eq": 1}');
SELECT dwc.check_condition('{"path": "a", "eq": 1, "gt": 0}');
SELECT dwc.check_condition('{"path": "a", "like": "x"}');
SELECT dwc.check_condition('{"path": "a", "eq": [1]}');
SELECT dwc.check_condition('{"path": "a", "gt": true}');
SELECT dwc.check_condition('{"path": "a", "in": 1}');
SELECT dwc.check_condition('{"path": "a", "between": [1]}');
SELECT dwc.check_condition('{"path": "a", "between": [1, "z"]}');
SELECT dwc.check_condition('{"path": "a", "matches": 1}');
SELECT dwc.check_condition('{"path": "a", "matches": "(unclosed"}');
SELECT dwc.check_condition('{"path": "a", "exists": 1}');
SELECT dwc.check_condition('{"path": "a", "contains": null}');
SELECT dwc.check_condition('{"path": "a..b", "eq": 1}');
SELECT dwc.check_condition('{"path": 7, "eq": 1}');
SELECT dwc.check_condition('{"path": [true], "eq": 1}');
SELECT dwc.check_condition('{"all": [true, {"any": [{"not": {"path": "x", "lt": null}}]}]}');
SELECT dwc.check_condition('{"all": true}');
SELECT dwc.check_condition('{"not": true, "all": []}');
SELECT dwc.check_condition((repeat('{"not": ', 40) || 'true' || repeat('}', 40))::jsonb);
SELECT dwc.check_condition(('{"any": [' || repeat('true, ', 1000) || 'true]}')::jsonb);
SELECT dwc.condition_matches(NULL, '{}');

-- templates in actions
SELECT dwc.render_template('order {{subject}} paid {{ payload.amount }} ({{payload.missing}}) {{payload}}',
                           '{"subject": "order:7", "payload": {"amount": 12.5}}');
SELECT dwc.render_template('no placeholders', '{}'), dwc.render_template('{{}}', '"whole"');

-- definitions
CREATE TABLE orders (id serial PRIMARY KEY, amount numeric);
SELECT a->>'name' AS name, a->>'trigger_type' AS trigger_type, a->'enabled' AS enabled
  FROM dwc.create_automation('big_orders', 'event', '{"kinds": ["shop.order_paid", "job.*"]}',
       '[{"type": "emit", "kind": "shop.big_order", "subject": "{{subject}}"}]',
       '{"path": "payload.amount", "gt": 100}', 'Big orders') a;
SELECT a->>'name' AS name, jsonb_typeof(a->'webhook'->'secret') AS secret, length(a->'webhook'->>'id') AS id_length
  FROM dwc.create_automation('hook', 'webhook', '{}', '[{"type": "sql", "sql": "SELECT 1"}]') a;
SELECT a->>'name' AS name FROM dwc.create_automation('watch_orders', 'data_change',
       '{"table": "orders", "operations": ["insert", "update"]}',
       '[{"type": "emit", "kind": "shop.order_changed", "payload": {"id": "{{new.id}}"}}]',
       '{"path": "new.amount", "gt": 0}') a;
SELECT tgname ~ '^dwc_automation_[0-9]+$' AS named, pg_get_triggerdef(t.oid) ~ 'AFTER INSERT OR UPDATE ON public.orders FOR EACH ROW' AS row_trigger
  FROM pg_trigger t WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal;
SELECT a->>'name' AS name FROM dwc.create_automation('by_api', 'api', '{}',
       '[{"type": "decide", "prompt": "Escalate {{data.text}}?", "branches": {"yes": [{"type": "emit", "kind": "t.yes"}],
         "no": [{"type": "emit", "kind": "t.no"}]}, "fallback": {"if": {"path": "data.urgent", "eq": true}, "then": "yes", "else": "no"}}]',
       options => '{"max_attempts": 2, "learning": {"reorder": true, "disable_below": 0.2, "min_runs": 5}}') a;
SELECT jsonb_array_length(dwc.list_automations()) AS automations;
SELECT g->>'name' AS name, g->'stats'->>'runs' AS runs FROM dwc.get_automation('big_orders') g;
SELECT (dwc.enable_automation('big_orders', false))->'enabled' AS enabled;
SELECT (dwc.enable_automation('big_orders'))->'enabled' AS enabled;
SELECT dwc.automation_runs('big_orders');
SELECT name, trigger_type FROM dwc.automation_templates ORDER BY name;
SELECT a->>'name' AS name, a->'trigger' AS trigger
  FROM dwc.create_automation_from_template('summarize_new_documents', 'summaries', '{"enabled": false}') a;

-- refusals
SELECT dwc.create_automation('big_orders', 'event', '{"kinds": ["x.y"]}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('#bad', 'api', '{}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('!!!', 'api', '{}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'telepathy', '{}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'event', '{}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'event', '{"kinds": ["Bad"]}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'schedule', '{}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'condition', '{"every": "1 minute"}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'threshold', '{"query": "SELECT 1"}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'threshold', '{"query": "SELECT 1", "above": 5, "reset": 9}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'threshold', '{"query": "SELECT 1", "above": 5, "every": "10 ms"}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'data_change', '{"table": "no_such_table"}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'data_change', '{"table": "dwc.jobs"}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'data_change', '{"table": "orders", "operations": ["truncate"]}', '[{"type": "emit", "kind": "x.z"}]');
SELECT dwc.create_automation('x', 'api');
SELECT dwc.create_automation('x', 'api', '{}', '[]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"kind": "x"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "teleport"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "notify", "channel": "email"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "workflow"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "ai"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "http", "url": "http://x", "method": "BREW"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "sql"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "enqueue", "kind": "noop", "payload": [1]}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "chain"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "emit", "kind": "x.y", "name": "Bad Name"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "emit", "kind": "x.y", "optional": "yes"}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "decide", "prompt": "?", "branches": {"a": []}}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "decide", "prompt": "?", "branches": {"a": [{"type": "emit", "kind": "x.a"}], "b": [{"type": "emit", "kind": "x.b"}]}, "fallback": {"then": "c"}}]');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "emit", "kind": "x.y"}]', '{"path": "a", "zz": 1}');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "emit", "kind": "x.y"}]', options => '{"retries": 3}');
SELECT dwc.create_automation('x', 'api', '{}', '[{"type": "emit", "kind": "x.y"}]', options => '{"learning": {"disable_below": 2}}');
SELECT dwc.create_automation_from_template('no_such_template', 'x');
SELECT dwc.create_automation_from_template('summarize_new_documents', 'x', '{"name": "y"}');
SELECT dwc.get_automation('nope');
SELECT dwc.run_automation('summaries');

-- ownership: another user neither sees nor manages them, nor watches a table they may not trigger on
CREATE ROLE dwc_auto_eve IN ROLE dwc_user;
SET ROLE dwc_auto_eve;
SELECT dwc.list_automations();
SELECT dwc.get_automation('big_orders');
SELECT dwc.delete_automation('big_orders');
SELECT count(*) AS visible FROM dwc.automations;
SELECT dwc.create_automation('spy', 'data_change', '{"table": "orders"}', '[{"type": "emit", "kind": "x.y"}]');
SELECT count(*) AS secrets FROM dwc.automation_secrets;
RESET ROLE;
-- TRIGGER alone is not enough: the runs would hand over rows eve may not read
GRANT TRIGGER ON orders TO dwc_auto_eve;
SET ROLE dwc_auto_eve;
SELECT dwc.create_automation('spy', 'data_change', '{"table": "orders"}', '[{"type": "emit", "kind": "x.y"}]');
RESET ROLE;
REVOKE ALL ON orders FROM dwc_auto_eve;
DROP ROLE dwc_auto_eve;

-- deleting one removes its table trigger
SELECT dwc.delete_automation('watch_orders');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal;
SELECT dwc.delete_automation(name) FROM dwc.automations ORDER BY name;
SELECT count(*) AS secrets_left FROM dwc.automation_secrets;
DROP TABLE orders;
