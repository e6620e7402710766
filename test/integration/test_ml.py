"""Machine learning with live workers and sessions: training as a queue job, the model
cache across backends, the /ml endpoints through PostgREST's contract, and rights."""
import json
import os
import time

import psycopg2
import pytest

from conftest import IT_DB, JWT_SECRET, one, q
from postgrest import PostgREST
from test_security import new_user, token_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IRIS_ROW = {"sepal_length_cm": 6.7, "sepal_width_cm": 3.0, "petal_length_cm": 5.2, "petal_width_cm": 2.3}


@pytest.fixture
def rest(cluster):
    conn = cluster.connect(IT_DB)
    yield PostgREST(conn, JWT_SECRET)
    conn.close()


@pytest.fixture(scope="module")
def iris(cluster):
    """public.ml_iris from test/data/iris.csv, readable by web users."""
    conn = cluster.connect(IT_DB)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS public.ml_iris")
    cur.execute("CREATE TABLE public.ml_iris (sepal_length_cm float8, sepal_width_cm float8, "
                "petal_length_cm float8, petal_width_cm float8, species text)")
    with open(os.path.join(ROOT, "test", "data", "iris.csv")) as f:
        cur.copy_expert("COPY public.ml_iris FROM STDIN CSV HEADER", f)
    cur.execute("GRANT SELECT ON public.ml_iris TO dwc_user")
    yield "public.ml_iris"
    cur.execute("DROP TABLE public.ml_iris")
    conn.close()


def wait_job(conn, job_id, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = one(conn, "SELECT dwc.job_status(%s)", (job_id,))
        if s["status"] in ("succeeded", "dead", "cancelled"):
            return s
        time.sleep(0.1)
    raise AssertionError("job %s did not finish: %s" % (job_id, s))


def test_training_as_a_job(db, iris):
    """ml_train_async: the queue's worker trains as the caller; the name given is resolved at
    submission in the caller's search_path; bad input ends the job without retries."""
    q(db, "SELECT dwc.ml_create_model('job_forest', 'classification', 'random_forest', '{\"n_estimators\": 20}')")
    q(db, "SET search_path = public")
    job = one(db, "SELECT dwc.ml_train_async('job_forest', 'ml_iris', target => 'species')")
    q(db, "RESET search_path")
    s = wait_job(db, job)
    assert s["status"] == "succeeded", s
    assert s["payload"]["source"] == "public.ml_iris", s
    assert s["result"]["ok"] is True and s["result"]["version"] == 1 and s["result"]["deployed_version"] == 1
    assert one(db, "SELECT dwc.ml_predict('job_forest', %s)", (json.dumps(IRIS_ROW),)) == "virginica"
    # an error no retry can fix: the job is dead after one attempt, and says why
    job = one(db, "SELECT dwc.ml_train_async('job_forest', 'public.ml_iris', target => 'no_column')")
    s = wait_job(db, job)
    assert s["status"] == "dead" and s["result"]["ok"] is False and s["attempts"] == 1, s
    assert "no_column" in s["result"]["error"] and "no_column" in s["last_error"]
    assert one(db, "SELECT count(*) FROM dwc.ml_model_versions v JOIN dwc.ml_models m ON m.id = v.model_id "
                   "WHERE m.name = 'job_forest'") == 1
    # a rolled-back submission trains nothing
    cur = db.cursor()
    cur.execute("BEGIN")
    cur.execute("SELECT dwc.ml_train_async('job_forest', 'public.ml_iris', target => 'species')")
    rolled = cur.fetchone()[0]
    cur.execute("ROLLBACK")
    assert one(db, "SELECT count(*) FROM dwc.jobs WHERE id = %s", (rolled,)) == 0
    q(db, "SELECT dwc.ml_delete_model('job_forest')")


def test_deployments_reach_other_sessions_at_commit(cluster, db, iris):
    """Another backend's cached model is replaced as soon as a deployment commits, and not
    before; deleting the model makes it an error there too."""
    q(db, "SELECT dwc.ml_create_model('cached', 'classification', 'decision_tree', '{\"max_depth\": 1}')")
    q(db, "SELECT dwc.ml_train('cached', 'public.ml_iris', target => 'species')")
    q(db, "SELECT dwc.ml_update_model('cached', '{\"max_depth\": 4}')")
    q(db, "SELECT dwc.ml_train('cached', 'public.ml_iris', target => 'species', deploy => 'never')")
    other = cluster.connect(IT_DB)
    other.autocommit = True
    predict = "SELECT dwc.ml_predict('cached', %s)"
    try:
        assert one(other, predict, (json.dumps(IRIS_ROW),)) == "versicolor"      # version 1: one split
        cur = db.cursor()
        cur.execute("BEGIN")
        cur.execute("SELECT dwc.ml_deploy('cached', 2)")
        assert one(other, predict, (json.dumps(IRIS_ROW),)) == "versicolor"      # not committed yet
        cur.execute("COMMIT")
        assert one(other, predict, (json.dumps(IRIS_ROW),)) == "virginica"       # version 2, at once
        # and back: a rollback deployment
        q(db, "SELECT dwc.ml_deploy('cached', strategy => 'rollback')")
        assert one(other, predict, (json.dumps(IRIS_ROW),)) == "versicolor"
        q(db, "SELECT dwc.ml_delete_model('cached')")
        with pytest.raises(psycopg2.Error) as e:
            one(other, predict, (json.dumps(IRIS_ROW),))
        assert e.value.pgcode == "P0002"
    finally:
        other.close()


def test_many_predictions_keep_backend_memory_flat(db, iris):
    q(db, "SELECT dwc.ml_create_model('mem_knn', 'classification', 'knn')")
    q(db, "SELECT dwc.ml_train('mem_knn', 'public.ml_iris', target => 'species')")
    rows = "SELECT count(dwc.ml_predict('mem_knn', to_jsonb(t) - 'species')) FROM public.ml_iris t, generate_series(1, %s)"
    mem = ("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
    q(db, rows, (20,))
    before = one(db, mem)
    q(db, rows, (200,))
    after = one(db, mem)
    assert after - before < 1024 * 1024, (before, after)
    q(db, "SELECT dwc.ml_delete_model('mem_knn')")


def test_ml_endpoints_through_postgrest(rest, iris):
    """The seed's /ml calls: create, train (JSON rows or a table), predict with probabilities,
    get, list, performance, deploy, stats, delete; users keep to their own models."""
    alice, _ = new_user(rest)
    bob, _ = new_user(rest)
    ta, tb = token_of(rest, alice), token_of(rest, bob)
    status, body = rest.rpc("create_ml_model", {"name": "Customer Churn Prediction", "model_type": "classification",
                                                "algorithm": "random_forest", "description": "Predict customer churn",
                                                "parameters": {"n_estimators": 100, "max_depth": 10}}, token=ta)
    assert status == 200 and body["algorithm"] == "random_forest", body
    rows = [{"age": 20 + i % 40, "income": 30000 + (i % 11) * 5000, "churn": int(i % 5 == 0)} for i in range(80)]
    status, body = rest.rpc("train_ml_model", {"model": "Customer Churn Prediction", "training_data": rows,
                                               "target_column": "churn", "test_size": 0.2}, token=ta)
    assert status == 200 and body["version"] == 1 and body["test_rows"] == 16, body
    status, body = rest.rpc("predict_ml_model", {"model": "Customer Churn Prediction",
                                                 "input_data": [{"age": 30, "income": 60000}],
                                                 "return_probabilities": True}, token=ta, get=True)
    assert status == 200, body
    p = body["predictions"][0]
    assert p["prediction"] in (0, 1) and abs(sum(p["probabilities"].values()) - 1) < 1e-9
    # the same name is bob's to take; alice's model is invisible to him
    assert rest.rpc("get_ml_model", {"model": "Customer Churn Prediction"}, token=tb, get=True)[0] == 404
    assert rest.rpc("predict_ml_model", {"model": "Customer Churn Prediction", "input_data": {"age": 30, "income": 1}},
                    token=tb, get=True)[0] == 404
    status, body = rest.rpc("create_ml_model", {"name": "Customer Churn Prediction", "model_type": "regression",
                                                "algorithm": "ridge"}, token=tb)
    assert status == 200, body
    assert [m["name"] for m in rest.rpc("list_ml_models", {}, token=tb, get=True)[1]] == ["Customer Churn Prediction"]
    # a table the user may read, by name
    status, body = rest.rpc("create_ml_model", {"name": "iris", "model_type": "classification",
                                                "algorithm": "logistic_regression"}, token=ta)
    status, body = rest.rpc("train_ml_model", {"model": "iris", "source": iris, "target_column": "species"}, token=ta)
    assert status == 200 and body["metrics"]["accuracy"] > 0.85, body
    status, body = rest.rpc("get_ml_model", {"model": "iris"}, token=ta, get=True)
    assert status == 200 and body["schema"]["classes"] == ["setosa", "versicolor", "virginica"]
    status, body = rest.rpc("ml_model_performance", {"model": "iris"}, token=ta, get=True)
    assert status == 200 and len(body["versions"]) == 1
    status, body = rest.rpc("deploy_ml_model", {"model": "iris", "version": 5}, token=ta)
    assert status == 404, body
    status, body = rest.rpc("ml_stats", {}, token=ta, get=True)
    assert status == 200 and body["models"] == 2 and body["deployed"] == 2
    # errors carry their statuses
    status, body = rest.rpc("train_ml_model", {"model": "iris", "source": iris, "target_column": "kind"}, token=ta)
    assert status == 400 and "kind" in body["message"], body
    status, body = rest.rpc("predict_ml_model", {"model": "iris", "input_data": {"petal_width_cm": 1}}, token=ta, get=True)
    assert status == 400 and "missing" in body["message"], body
    assert rest.rpc("list_ml_models", {}, get=True)[0] == 401                  # anonymous
    # training writes: not through a read-only (GET) request
    assert rest.rpc("train_ml_model", {"model": "iris", "source": iris, "target_column": "species"},
                    token=ta, get=True)[0] >= 400
    assert rest.rpc("delete_ml_model", {"model": "iris"}, token=ta)[1] is True
    assert rest.rpc("get_ml_model", {"model": "iris"}, token=ta, get=True)[0] == 404


def test_training_reads_with_the_callers_rights(cluster, rest, iris):
    """A web user cannot train on a table they may not read, even though dwc's own functions
    run with more rights; nor can a query reach other users' models."""
    conn = rest.conn
    q(conn, "CREATE TABLE IF NOT EXISTS public.ml_secret (x float8, y float8)")
    q(conn, "REVOKE ALL ON public.ml_secret FROM PUBLIC")
    q(conn, "INSERT INTO public.ml_secret SELECT i, 2 * i FROM generate_series(1, 20) i")
    user, _ = new_user(rest)
    tok = token_of(rest, user)
    assert rest.rpc("create_ml_model", {"name": "peek", "model_type": "regression", "algorithm": "ridge"},
                    token=tok)[0] == 200
    status, body = rest.rpc("train_ml_model", {"model": "peek", "source": "public.ml_secret", "target_column": "y"},
                            token=tok)
    assert status == 403 and body["code"] == "42501", body
    status, body = rest.rpc("train_ml_model", {"model": "peek", "source": "SELECT * FROM dwc.users",
                                               "target_column": "id"}, token=tok)
    assert status == 403, body
    # other users' model versions are there, but row-level security keeps them from this user
    assert one(conn, "SELECT count(*) FROM dwc.ml_model_versions") > 0
    status, body = rest.rpc("train_ml_model", {"model": "peek", "source": "SELECT train_rows, score FROM dwc.ml_model_versions",
                                               "target_column": "score"}, token=tok)
    assert status == 400 and "no rows" in body["message"], body
    # the owner's models are rows under RLS: a user sees only theirs
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        rest.enter(cur, {"role": "dwc_user", "sub": "nobody-in-particular"})
        cur.execute("SELECT count(*) FROM dwc.ml_models")
        assert cur.fetchone()[0] == 0
        cur.execute("ROLLBACK")
    q(conn, "DROP TABLE public.ml_secret")


def test_training_as_a_job_says_its_progress(db):
    """ml.train says its phases and, for a forest, trees done of trees: the reading phase is
    held by a lock on the table it reads, then the trees are watched as they grow."""
    q(db, "CREATE TABLE ml_prog AS SELECT g AS id, random() AS a, random() AS b, random() AS c, "
          "(random() > 0.5) AS y FROM generate_series(1, 20000) g")
    q(db, "SELECT dwc.ml_create_model('prog_forest', 'classification', 'random_forest', '{\"n_estimators\": 400}')")
    locker = psycopg2.connect(db.dsn)
    try:
        lc = locker.cursor()
        lc.execute("LOCK TABLE ml_prog IN ACCESS EXCLUSIVE MODE")     # in an open transaction
        job = one(db, "SELECT dwc.ml_train_async('prog_forest', 'public.ml_prog', target => 'y', "
                      "features => '{a,b,c}')")
        deadline = time.monotonic() + 60
        while one(db, "SELECT count(*) FROM dwc.progress WHERE job_id = %s "
                      "AND phase = 'reading the training data'", (job,)) == 0:
            assert time.monotonic() < deadline, "no reading phase"
            time.sleep(0.05)
        locker.rollback()           # the lock goes: the data is read, the trees grow
        seen = set()
        while len(seen) < 2:
            row = q(db, "SELECT phase, done, total FROM dwc.progress WHERE job_id = %s", (job,))
            if row and row[0][0] == "training trees":
                assert row[0][2] == 400 and 0 <= row[0][1] < 400, row
                seen.add(row[0][1])
            assert time.monotonic() < deadline, "trees seen: %s" % seen
            time.sleep(0.01)
    finally:
        locker.close()
    s = wait_job(db, job, timeout=120)
    assert s["status"] == "succeeded", s
    assert "progress" not in s
    q(db, "SELECT dwc.ml_delete_model('prog_forest')")
    q(db, "DROP TABLE ml_prog")
