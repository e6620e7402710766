"""The recommender through the PostgREST replay with real workers: per-user models and
interactions, real-time fold-in, retraining as a leased job."""
import time
import uuid

from conftest import one, q

PASSWORD = "correct horse battery staple 9!"


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


def test_content_hybrid_and_bpr_with_retraining_jobs(rest):
    """A catalogue with text: a content model recommends an item nobody has seen once a
    retraining job has read it; a hybrid switches to it for a newcomer and blends it with
    BPR for a regular; BPR folds a new user in from the request that records them."""
    carol = signed_in(rest)
    conn = rest.conn
    books = {
        "c1": ("crime", "A detective hunts a murderer through the old port at night"),
        "c2": ("crime", "The murder of a banker puzzles an ageing detective"),
        "c3": ("crime", "A police inspector and a detective chase a killer"),
        "k1": ("cooking", "Quick recipes for the kitchen: pasta and sauces"),
        "k2": ("cooking", "Baking bread at home: recipes for beginners"),
        "k3": ("cooking", "The kitchen garden: recipes from vegetables"),
    }
    for item, (genre, text) in books.items():
        ok(rest.rpc("set_item_features", {"item_id": item, "features": {"genre": genre}, "content": text},
                    token=carol))
    for u in range(8):
        for item in (["c1", "c2", "c3"] if u < 4 else ["k1", "k2", "k3"]):
            if (u, item) not in ((0, "c3"), (4, "k3")):
                ok(rest.rpc("add_interaction", {"user_id": "r%d" % u, "item_id": item, "rating": 1},
                            token=carol))
    ok(rest.rpc("create_rec_model", {"name": "text", "algorithm": "content",
                                     "parameters": {"text_config": "english"}}, token=carol))
    ok(rest.rpc("create_rec_model", {"name": "ranker", "algorithm": "bpr",
                                     "parameters": {"rank": 4, "iterations": 200, "learning_rate": 0.1}},
                token=carol))
    for model in ("text", "ranker"):
        job = ok(rest.rpc("train_rec_model", {"model": model, "options": {"test_size": 0}, "async": True},
                          token=carol))["job_id"]
        assert wait_job(conn, job)["status"] == "succeeded"

    def top(user, model, n=1):
        recs = ok(rest.rpc("get_recommendations", {"user_id": user, "model": model, "n": n}, token=carol))
        return [r["item_id"] for r in recs["recommendations"]]

    assert top("r0", "text") == ["c3"] and top("r0", "ranker") == ["c3"]
    assert top("r4", "text") == ["k3"] and top("r4", "ranker") == ["k3"]

    # a new crime novel nobody has read: unknown until a retraining job reads the catalogue
    ok(rest.rpc("set_item_features", {"item_id": "c-new", "features": {"genre": "crime"},
                                      "content": "A detective and a murder on the night train"}, token=carol))
    assert "c-new" not in top("r1", "text", 3)
    job = ok(rest.rpc("train_rec_model", {"model": "text", "options": {"test_size": 0}, "async": True},
                      token=carol))["job_id"]
    s = wait_job(conn, job)
    assert s["status"] == "succeeded" and s["result"]["version"] == 2 and s["result"]["items"] == 7, s
    assert top("r1", "text") == ["c-new"]     # r1 has read every other crime novel

    # BPR folds a new reader in from the request that records their first reads
    ok(rest.rpc("add_interaction", {"user_id": "newreader", "item_id": "k1", "rating": 1}, token=carol))
    ok(rest.rpc("add_interaction", {"user_id": "newreader", "item_id": "k2", "rating": 1}, token=carol))
    assert top("newreader", "ranker") == ["k3"]

    # a hybrid: BPR and content blended; fewer than 2 reads switch to content alone
    ok(rest.rpc("create_rec_model", {"name": "blend", "algorithm": "hybrid", "parameters": {
        "models": [{"model": "ranker", "weight": 1}, {"model": "text", "weight": 1}],
        "cold_start": "text", "min_interactions": 2}}, token=carol))
    v = ok(rest.rpc("train_rec_model", {"model": "blend"}, token=carol))
    assert v["version"] == 1 and set(v["metrics"]["components"]) == {"ranker", "text"}, v
    assert top("r0", "blend") == ["c3"]
    # r0 read c1 and c2: c3 (both like it) before c-new (only content knows it)
    assert top("r0", "blend", 2) == ["c3", "c-new"]
    ok(rest.rpc("add_interaction", {"user_id": "stranger", "item_id": "c-new", "rating": 1}, token=carol))
    assert set(top("stranger", "blend", 3)) == {"c1", "c2", "c3"}
    why = one(conn, "SELECT dwc.rec_explain('stranger', 'c1', '#' || id) FROM dwc.rec_models WHERE name = 'blend' "
                    "AND owner_user = %s", (rest.verify(carol)["sub"],))
    assert why["strategy"] == "cold_start" and [c["model"] for c in why["components"]] == ["text"], why

    # another user cannot use carol's models, hybrid or not
    dave = signed_in(rest)
    status, body = rest.rpc("get_recommendations", {"user_id": "r0", "model": "blend"}, token=dave)
    assert status == 404, body
