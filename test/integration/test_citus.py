"""dwc on a Citus cluster (docs/scaling.md): a coordinator and two workers on loopback, each a
real server with Citus and dwc preloaded. CREATE EXTENSION dwc on the coordinator installs it
on every node with no setting changed; ML, the recommender, auditing and data-change
automations work over distributed tables. Skipped, with the reason, where Citus cannot be had
(tools/citus.sh builds it from ../shared/vendor/citus)."""
import threading

import psycopg2
import pytest

from citus import CitusCluster, unavailable
from conftest import IT_DB, TEST_SETTINGS

why = unavailable()
pytestmark = pytest.mark.skipif(why is not None, reason=why or "")


@pytest.fixture(scope="module")
def citus():
    c = CitusCluster(IT_DB, TEST_SETTINGS, port=5720, workers=2).start()
    try:
        # as docs/scaling.md says: nothing to flip, the coordinator's CREATE EXTENSION is all
        c.coordinator.sql("CREATE EXTENSION dwc", dbname=IT_DB)
        yield c
    except Exception:
        print(c.log_tails())
        raise
    finally:
        c.destroy()


def run(node, sql, params=None):
    """Statements on one node's dwc database, in one autocommit session; the last one's rows."""
    conn = node.connect(IT_DB)
    try:
        with conn.cursor() as cur:
            for s in ([sql] if isinstance(sql, str) else sql):
                cur.execute(s, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_create_extension_on_the_coordinator_installs_dwc_on_every_node(citus):
    assert citus.on_all("SELECT extversion FROM pg_extension WHERE extname = 'dwc'") == ["0.2.0"] * 3
    assert citus.on_all("SELECT dwc._citus_worker()") == [False, True, True]
    # a node that joins later gets dwc from the coordinator as well
    late = citus.add_node()
    citus.activate(late)
    assert late.scalar("SELECT extversion FROM pg_extension WHERE extname = 'dwc'", dbname=IT_DB) == "0.2.0"
    for n in citus.nodes:
        assert "cannot PREPARE" not in n.log_text()


def test_ml_trains_on_a_distributed_table_and_predicts_its_rows(citus):
    co = citus.coordinator
    run(co, ["CREATE TABLE customers (id int8, region text, age int4, monthly float8, churned bool, "
             "PRIMARY KEY (region, id))",
             "SELECT create_distributed_table('customers', 'region')",
             # churn is planted: old customers paying much leave
             "INSERT INTO customers SELECT g, 'r' || (g % 5), 20 + g % 50, (g % 97) * 1.3, "
             "(20 + g % 50) > 50 AND (g % 97) > 40 FROM generate_series(1, 20000) g"])
    # the rows are on the workers, not on the coordinator
    assert sum(w.scalar("SELECT count(*) FROM citus_shards_on_worker", dbname=IT_DB) for w in citus.workers) > 0
    r = co.scalar("SELECT dwc.ml_create_model('churn', 'classification', 'decision_tree', '{\"max_depth\": 6}')",
                  dbname=IT_DB)
    r = co.scalar("SELECT dwc.ml_train('churn', 'customers', target => 'churned', features => '{age,monthly}')",
                  dbname=IT_DB)
    assert r["train_rows"] + r["test_rows"] == 20000 and r["metrics"]["accuracy"] > 0.99, r
    # batch prediction: the rows of a query over the distributed table, predicted on the coordinator
    pred = co.scalar("SELECT dwc.ml_predict_query('churn', 'SELECT age, monthly FROM customers ORDER BY region, id', "
                     "false)", dbname=IT_DB)
    truth = [r[0] for r in run(co, "SELECT churned FROM customers ORDER BY region, id")]
    assert len(pred) == len(truth) == 20000
    wrong = sum(p != t for p, t in zip(pred, truth))
    assert wrong <= 200, wrong
    # a row at a time: over rows read on the coordinator first
    n, right = run(co, "WITH c AS MATERIALIZED (SELECT * FROM customers) "
                       "SELECT count(*), count(*) FILTER (WHERE dwc.ml_predict_row('churn', c) = to_jsonb(c.churned)) FROM c")[0]
    assert n == 20000 and right >= 19800, (n, right)
    # pushed down to the workers, where there is no model: a clear refusal that says what to do
    with pytest.raises(psycopg2.Error) as e:
        run(co, "SELECT dwc.ml_predict_row('churn', c) FROM customers c")
    assert e.value.pgcode == "0A000" and "worker node" in str(e.value), e.value
    assert "MATERIALIZED" in (e.value.diag.message_hint or ""), e.value.diag.message_hint


def test_a_distributed_table_is_audited_into_the_coordinators_chain(citus):
    co = citus.coordinator
    run(co, ["CREATE TABLE accounts (id int8, region text, balance numeric, pin text, PRIMARY KEY (region, id))",
             "SELECT create_distributed_table('accounts', 'region')",
             "SELECT dwc.audit_table('accounts', redact => '{pin}')"])
    # a session of its own, with no Citus setting: the triggers are there for everyone
    run(co, ["INSERT INTO accounts SELECT g, 'r' || (g % 4), g * 10, 'pin' || g FROM generate_series(1, 40) g",
             "UPDATE accounts SET balance = balance + 1 WHERE id <= 10",
             "DELETE FROM accounts WHERE id > 35"])
    # the triggers fired on the worker nodes, which sealed the rows into their own chains
    on_workers = [w.scalar("SELECT count(*) FROM dwc.audit_log WHERE table_name = 'public.accounts'", dbname=IT_DB)
                  for w in citus.workers]
    assert sum(on_workers) == 40 + 10 + 5 and len([n for n in on_workers if n]) >= 2, on_workers
    # and the coordinator copied them into its trail, once each, named for the distributed table
    co.wait_for("SELECT count(*) = 55 FROM dwc.audit_log WHERE table_name = 'public.accounts'", dbname=IT_DB,
                timeout=60, message="the workers' audit rows reach the coordinator")
    counts = dict(run(co, "SELECT action, count(*) FROM dwc.audit_log WHERE table_name = 'public.accounts' "
                          "GROUP BY action"))
    assert counts == {"INSERT": 40, "UPDATE": 10, "DELETE": 5}, counts
    assert run(co, "SELECT count(*) FROM dwc.audit_log WHERE table_name LIKE 'public.accounts\\_%'")[0][0] == 0
    assert run(co, "SELECT count(*) FROM dwc.audit_log WHERE table_name = 'public.accounts' "
                   "AND coalesce(new_values, old_values) ->> 'pin' <> '[redacted]'")[0][0] == 0
    history = co.scalar("SELECT dwc.audit_record_history('accounts', '{\"region\": \"r3\", \"id\": 7}')", dbname=IT_DB)
    assert [h["action"] for h in history] == ["INSERT", "UPDATE"], history
    assert history[1]["old"] == {"balance": 70} and history[1]["new"] == {"balance": 71}, history
    # every node's chain verifies, the coordinator's with the copies sealed in it
    co.wait_for("SELECT (dwc.audit_verify() ->> 'unsealed')::int = 0", dbname=IT_DB, timeout=60)
    for n in citus.nodes:
        v = n.scalar("SELECT dwc.audit_verify()", dbname=IT_DB)
        assert v["ok"] is True, (n.port, v)
    # a change made after the collector passed arrives too, and nothing is copied twice
    run(co, "UPDATE accounts SET balance = 0 WHERE id = 1")
    co.wait_for("SELECT count(*) = 56 FROM dwc.audit_log WHERE table_name = 'public.accounts'", dbname=IT_DB,
                timeout=60)
    assert sum(run(co, "SELECT sum(copied) FROM dwc.audit_node_cursors")[0]) == 56
    # auditing stops on request, on every shard
    assert co.scalar("SELECT dwc.unaudit_table('accounts')", dbname=IT_DB) is True
    run(co, "INSERT INTO accounts VALUES (100, 'r0', 1, 'x')")
    assert sum(w.scalar("SELECT count(*) FROM dwc.audit_log WHERE table_name = 'public.accounts'", dbname=IT_DB)
               for w in citus.workers) == 56


def test_a_reference_table_is_not_audited(citus):
    run(citus.coordinator, ["CREATE TABLE regions (code text PRIMARY KEY)",
                            "SELECT create_reference_table('regions')"])
    with pytest.raises(psycopg2.Error) as e:
        run(citus.coordinator, "SELECT dwc.audit_table('regions')")
    assert e.value.pgcode == "0A000" and "reference table" in str(e.value), e.value


def automation_runs(node, name):
    return node.scalar("SELECT dwc.automation_runs(%s, 1000)", (name,), dbname=IT_DB)


def test_data_change_automations_on_a_distributed_table_fire_once_per_committed_change(citus):
    co = citus.coordinator
    run(co, ["CREATE TABLE orders (id int8, region text, amount numeric, note text, PRIMARY KEY (region, id))",
             "SELECT create_distributed_table('orders', 'region')",
             "CREATE TABLE orders_seen (region text, id int8, op text, PRIMARY KEY (region, id, op))"])
    co.scalar("SELECT dwc.create_automation('orders-seen', 'data_change', "
              "'{\"table\": \"orders\", \"operations\": [\"insert\", \"update\"]}', "
              "'[{\"type\": \"sql\", \"sql\": \"INSERT INTO public.orders_seen VALUES ($1->''new''->>''region'', "
              "($1->''new''->>''id'')::int8, $1->>''op'')\"}]', '{\"path\": \"new.note\", \"ne\": \"skip\"}')",
              dbname=IT_DB)
    committed = []
    lock = threading.Lock()

    def writer(w):
        conn = co.connect(IT_DB, autocommit=False)
        with conn.cursor() as cur:
            for i in range(30):
                k = w * 1000 + i
                cur.execute("INSERT INTO orders VALUES (%s, %s, 1, 'w'), (%s, %s, 1, 'skip')",
                            (k, "r%d" % (i % 3), k + 500, "r%d" % (i % 3)))
                if i % 5 == 4:
                    conn.rollback()                   # never happened: no run
                else:
                    conn.commit()
                    with lock:
                        committed.append(("r%d" % (i % 3), k, "insert"))
        conn.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run(co, "UPDATE orders SET amount = 2 WHERE id = 1")
    committed.append(("r1", 1, "update"))
    co.wait_for("SELECT count(*) = %s FROM orders_seen", (len(committed),), dbname=IT_DB, timeout=90,
                message="every committed change fired its automation")
    assert sorted(run(co, "SELECT region, id, op FROM orders_seen")) == sorted(committed)
    # the changes were kept on the worker nodes, and forgotten there once fired
    co.wait_for("SELECT sum(fired) = %s FROM dwc.shard_change_cursors", (len(committed),), dbname=IT_DB)
    runs = automation_runs(co, "orders-seen")
    assert len(runs) == len(committed) and {r["status"] for r in runs} == {"succeeded"}, runs[:3]
    assert runs[0]["trigger"]["table"] == "public.orders", runs[0]["trigger"]


def test_an_automation_loop_through_a_distributed_table_stops(citus):
    co = citus.coordinator
    run(co, ["CREATE TABLE counters (id int8, region text, n int4, PRIMARY KEY (region, id))",
             "SELECT create_distributed_table('counters', 'region')",
             "INSERT INTO counters VALUES (1, 'a', 0)"])
    # each run changes the row it watches: a loop that only the depth across nodes can stop
    co.scalar("SELECT dwc.create_automation('counter-loop', 'data_change', "
              "'{\"table\": \"counters\", \"operations\": [\"update\"]}', "
              "'[{\"type\": \"sql\", \"sql\": \"UPDATE public.counters SET n = n + 1 WHERE region = ''a'' AND id = 1\"}]')",
              dbname=IT_DB)
    run(co, "UPDATE counters SET n = 1 WHERE region = 'a' AND id = 1")
    co.wait_for("SELECT count(*) = 8 FROM jsonb_array_elements(dwc.automation_runs('counter-loop', 1000)) r "
                "WHERE r->>'status' = 'succeeded'", dbname=IT_DB, timeout=90)
    # the ninth change was kept and collected, but fired nothing; then the node forgot it
    for w in citus.workers:
        w.wait_for("SELECT count(*) = 0 FROM dwc.shard_changes", dbname=IT_DB, timeout=60)
    assert len(automation_runs(co, "counter-loop")) == 8
    assert run(co, "SELECT n FROM counters")[0][0] == 9
