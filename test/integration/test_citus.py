"""dwc on a Citus cluster (docs/scaling.md): a coordinator and two workers on loopback, each a
real server with Citus and dwc preloaded. CREATE EXTENSION dwc on the coordinator installs it
on every node with no setting changed; ML, the recommender, auditing and data-change
automations work over distributed tables. Skipped, with the reason, where Citus cannot be had
(tools/citus.sh builds it from ../shared/vendor/citus)."""
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
