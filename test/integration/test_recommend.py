"""The recommender through the PostgREST replay with real workers: per-user models and
interactions, real-time fold-in, retraining as a leased job."""
import time
import uuid

import pytest

from conftest import IT_DB, JWT_SECRET, one, q
from postgrest import PostgREST

PASSWORD = "correct horse battery staple 9!"


@pytest.fixture
def rest(cluster):
    conn = cluster.connect(IT_DB)
    q(conn, "SELECT dwc.set_rate_limit('address', '203.0.113.7', 1000, 1000)")
    yield PostgREST(conn, JWT_SECRET)
    conn.close()


def signed_in(rest):
    name = "rec" + uuid.uuid4().hex[:8]
    uid = one(rest.conn, "SELECT dwc.create_user(%s, %s)->>'id'", (name, PASSWORD))
    q(rest.conn, "SELECT dwc.set_rate_limit('user', %s, 1000, 1000)", (uid,))   # more calls than 20/s
    status, body = rest.rpc("login", {"username": name, "password": PASSWORD})
    assert status == 200, body
    return body["access_token"]


def ok(status_body):
    status, body = status_body
    assert status == 200, body
    return body


def wait_job(conn, job, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = one(conn, "SELECT dwc.job_status(%s)", (job,))
        if s["status"] in ("succeeded", "dead", "cancelled"):
            return s
        time.sleep(0.1)
    raise AssertionError("job %s did not finish: %s" % (job, s))


def test_fold_in_and_retraining_per_user(rest):
    alice, bob = signed_in(rest), signed_in(rest)
    ok(rest.rpc("create_rec_model", {"name": "shop", "parameters": {"rank": 2, "lambda": 0.05}}, token=alice))
    # two tastes: users a* like items x*, users b* like items y*
    for u in range(6):
        for i in range(4):
            taste = "a" if u < 3 else "b"
            rating = 5 if (taste == "a") == (i < 2) else 1
            ok(rest.rpc("add_interaction", {"user_id": "%s%d" % (taste, u), "item_id": "%s%d" % ("x" if i < 2 else "y", i),
                                            "rating": rating}, token=alice))
    v = ok(rest.rpc("train_rec_model", {"model": "shop", "options": {"test_size": 0}}, token=alice))
    assert v["version"] == 1 and v["users"] == 6 and v["items"] == 4

    # a new user rates one x item highly: folded in by that request, x-items come first
    ok(rest.rpc("add_interaction", {"user_id": "newcomer", "item_id": "x0", "rating": 5}, token=alice))
    recs = ok(rest.rpc("get_recommendations", {"user_id": "newcomer", "model": "shop", "n": 3}, token=alice))
    assert recs["recommendations"][0]["item_id"] == "x1", recs
    assert one(rest.conn, "SELECT count(*) FROM dwc.rec_factors WHERE side = 'u' AND id = 'newcomer'") == 1

    # bob sees neither alice's model nor her interactions
    status, body = rest.rpc("get_recommendations", {"user_id": "newcomer", "model": "shop"}, token=bob)
    assert status == 404, body
    conn = rest.conn
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        rest.enter(cur, {"role": "dwc_user", "sub": rest.verify(bob)["sub"], "exp": int(time.time()) + 60})
        cur.execute("SELECT count(*) FROM dwc.rec_interactions")
        assert cur.fetchone()[0] == 0
        cur.execute("ROLLBACK")

    # retraining as a job, with the workers: a new version is deployed
    job = ok(rest.rpc("train_rec_model", {"model": "shop", "options": {"test_size": 0.2}, "async": True},
                      token=alice))["job_id"]
    s = wait_job(conn, job)
    assert s["status"] == "succeeded" and s["result"]["ok"] is True and s["result"]["version"] == 2, s
    info = ok(rest.rpc("get_rec_model", {"model": "shop"}, token=alice))
    assert info["deployed_version"] == 2 and len(info["versions"]) == 2
    assert info["versions"][1]["test_interactions"] > 0 and "rmse" in info["versions"][1]["metrics"]

    # batch recommendations for every user, as a job submitted over HTTP
    job = ok(rest.rpc("submit_task", {"task_type": "rec.recommend_all", "payload": {"model": "shop", "n": 2}},
                      token=alice))["id"]
    s = wait_job(conn, job)
    assert s["status"] == "succeeded" and s["result"]["users"] == 7, s
    assert one(conn, "SELECT items->0->>'item_id' FROM dwc.rec_batches WHERE user_id = 'newcomer'") == "x1"

    # a retrain that cannot work (bob has no interactions) ends dead and says why
    ok(rest.rpc("create_rec_model", {"name": "empty"}, token=bob))
    job = ok(rest.rpc("train_rec_model", {"model": "empty", "async": True}, token=bob))["job_id"]
    s = wait_job(conn, job)
    assert s["status"] == "dead" and s["attempts"] == 1 and "no interactions" in s["last_error"], (s["result"], s["last_error"])
