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


def test_a_worker_node_down_holds_back_only_its_own_audit_rows(citus):
    co, down = citus.coordinator, citus.workers[1]
    run(co, ["CREATE TABLE ledger (id int8, region text, v int4, PRIMARY KEY (region, id))",
             "SELECT create_distributed_table('ledger', 'region')",
             "SELECT dwc.audit_table('ledger')"])
    # which regions live on which node
    where = dict(run(co, "SELECT r, nodeport FROM generate_series(0, 15) g, LATERAL (SELECT 'r' || g AS r) x, "
                         "LATERAL (SELECT nodeport FROM citus_shards s WHERE s.table_name = 'ledger'::regclass "
                         "AND s.shardid = get_shard_id_for_distribution_column('ledger', x.r)) n"))
    up_regions = [r for r, port in where.items() if port != down.port]
    down_regions = [r for r, port in where.items() if port == down.port]
    assert up_regions and down_regions, where
    down.stop("fast")
    try:
        run(co, "INSERT INTO ledger SELECT g, r, 1 FROM unnest(%s::text[]) WITH ORDINALITY u(r, g)", (up_regions,))
        # the reachable node's rows arrive while the other is down
        co.wait_for("SELECT count(*) = %s FROM dwc.audit_log WHERE table_name = 'public.ledger'", (len(up_regions),),
                    dbname=IT_DB, timeout=60, message="the reachable node's rows arrive")
    finally:
        down.start()
    run(co, "INSERT INTO ledger SELECT g + 100, r, 1 FROM unnest(%s::text[]) WITH ORDINALITY u(r, g)", (down_regions,))
    co.wait_for("SELECT count(*) = %s FROM dwc.audit_log WHERE table_name = 'public.ledger'", (len(where),),
                dbname=IT_DB, timeout=60, message="the node's rows arrive once it is back")


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


def test_dwc_distribute_spreads_the_recommenders_interactions(citus):
    co = citus.coordinator
    # a planted taste: users of group g rate the items of group g high, the others low
    n = run(co, "SELECT count(*) FROM (SELECT dwc.rec_interact('u' || u, 'i' || j, CASE WHEN u % 3 = j % 3 THEN 5 ELSE 1 END) "
                "FROM generate_series(0, 59) u, generate_series(0, 44) j WHERE (u * 7 + j * 3) % 5 < 2) x")[0][0]
    co.scalar("SELECT dwc.rec_create_model('taste', 'als', '{\"rank\": 4}')", dbname=IT_DB)
    before = co.scalar("SELECT dwc.rec_train('taste', '{\"seed\": 7}')", dbname=IT_DB)
    # a worker node distributes nothing
    with pytest.raises(psycopg2.Error) as e:
        run(citus.workers[0], "SELECT * FROM dwc.distribute()")
    assert e.value.pgcode == "0A000", e.value
    out = {str(r[0]): (r[1], r[2]) for r in run(co, "SELECT * FROM dwc.distribute()")}
    assert out["dwc.rec_interactions"] == ("owner", "distributed"), out
    for t in ("dwc.documents", "dwc.events", "dwc.audit_log", "dwc.job_history", "dwc.metric_samples"):
        assert out[t][0] is None and out[t][1].startswith("stays on the coordinator: "), out[t]
    # again: nothing to do
    assert run(co, "SELECT outcome FROM dwc.distribute('dwc.rec_interactions')") == [("already distributed",)]
    with pytest.raises(psycopg2.Error) as e:
        run(co, "SELECT * FROM dwc.distribute('dwc.events')")
    assert e.value.pgcode == "0A000" and "NOTIFY" in (e.value.diag.message_detail or ""), e.value
    with pytest.raises(psycopg2.Error) as e:
        run(co, "SELECT * FROM dwc.distribute('dwc.chains')")
    assert e.value.pgcode == "22023", e.value
    # the rows are in shards on the worker nodes, none left on the coordinator's table
    groups = dict(run(co, "SELECT p.groupid, count(*) FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) "
                          "WHERE s.logicalrelid = 'dwc.rec_interactions'::regclass GROUP BY 1"))
    assert 0 not in groups and len(groups) >= 2, groups
    assert run(co, "SELECT count(*) FROM dwc.rec_interactions")[0][0] == n
    # training reads them through Citus: the same data, the same seed, the same model
    after = co.scalar("SELECT dwc.rec_train('taste', '{\"seed\": 7}')", dbname=IT_DB)
    assert after["train_interactions"] == before["train_interactions"], (before, after)
    assert abs(after["metrics"]["rmse"] - before["metrics"]["rmse"]) < 1e-9, (before, after)
    top = [r[0] for r in run(co, "SELECT item_id FROM dwc.recommend('u3', 'taste', 5)")]
    assert len(top) == 5 and all(int(i[1:]) % 3 == 0 for i in top), top
    # a new interaction still folds its user in at once, from the coordinator
    assert run(co, "SELECT count(*) FROM dwc.rec_factors WHERE side = 'u' AND id = 'newcomer'")[0][0] == 0
    run(co, "SELECT dwc.rec_interact('newcomer', 'i3', 5)")
    assert run(co, "SELECT count(*) FROM dwc.rec_factors WHERE side = 'u' AND id = 'newcomer'")[0][0] == 1
    assert run(co, "SELECT count(*) FROM dwc.recommend_many('taste', ARRAY['u1', 'u2', 'newcomer'], 3)")[0][0] == 9
    assert run(co, "SELECT count(predicted) FROM dwc.rec_predict('taste', ARRAY['u1', 'u2'], ARRAY['i1', 'i2'])")[0][0] == 2
    # interactions kept in a distributed table of the user's, recorded as docs/scaling.md says
    run(co, ["CREATE TABLE my_ratings (user_id text, item_id text, rating float8)",
             "SELECT create_distributed_table('my_ratings', 'user_id')",
             "INSERT INTO my_ratings SELECT 'v' || g, 'i' || (g % 45), 4 FROM generate_series(1, 300) g"])
    assert run(co, "WITH r AS MATERIALIZED (SELECT user_id, item_id, rating FROM my_ratings) "
                   "SELECT count(dwc.rec_interact(user_id, item_id, rating)) FROM r")[0][0] == 300
    assert run(co, "SELECT count(*) FROM dwc.rec_interactions WHERE user_id LIKE 'v%'")[0][0] == 300
    # the rest of the recommender over them: a per-user held-out split, every user's lists, statistics
    r = co.scalar("SELECT dwc.rec_train('taste', '{\"split\": \"per_user\", \"test_size\": 0.25}')", dbname=IT_DB)
    assert r["test_interactions"] > 0 and r["metrics"]["users_evaluated"] > 0, r
    assert co.scalar("SELECT dwc.rec_recommend_all('taste', 3)", dbname=IT_DB) == 60 + 1 + 300
    st = co.scalar("SELECT dwc.rec_stats()", dbname=IT_DB)
    assert st["interactions"] == n + 1 + 300, st
    # every algorithm reads them through Citus
    for algo in ("popularity", "item_knn", "user_knn", "svd", "implicit_als", "bpr"):
        co.scalar("SELECT dwc.rec_create_model(%s, %s)", ("t-" + algo, algo), dbname=IT_DB)
        r = co.scalar("SELECT dwc.rec_train(%s)", ("t-" + algo,), dbname=IT_DB)
        assert r["train_interactions"] > 0, (algo, r)
        got = run(co, "SELECT count(*) FROM dwc.recommend('u3', %s, 3)", ("t-" + algo,))[0][0]
        assert got == 3, (algo, got)
