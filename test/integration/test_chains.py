"""Document workflow chains: context packing, branches, versions, status, ownership, async."""
import json
import select
import time

import psycopg2
import pytest

from conftest import IT_DB, one, q


def error(conn, sql, params=None):
    with pytest.raises(psycopg2.Error) as ei:
        q(conn, sql, params)
    return ei.value


def long_text(n_paragraphs, tag):
    """A document of distinct sentences, about 100 tokens per paragraph."""
    paras = []
    for i in range(n_paragraphs):
        paras.append(" ".join("Paragraph %d of %s explains point %d about solar panel topic %s-%d-%d clearly."
                              % (i, tag, j, tag, i, j) for j in range(5)))
    return "# About %s\n\n" % tag + "\n\n".join(paras)


def test_context_packing_stays_within_budget_and_uses_summaries(db, fake_ai):
    fake = fake_ai("openai")
    q(db, "SELECT dwc.remove_provider('chain-fake')")
    q(db, "SELECT dwc.add_provider('chain-fake', 'openai', %s, api_key => %s, cache_ttl => '0')",
      (fake.base_url, fake.key))
    budget, max_tokens = 1500, 200
    fake.reply_text = long_text(4, "root")
    chain = one(db, "SELECT dwc.create_chain('packing', 'Start the guide', provider => 'chain-fake', "
                    "context_budget => %s, max_tokens => %s)", (budget, max_tokens))
    cid = chain["id"]
    for i in range(5):
        fake.reply_text = long_text(4, "doc%d" % i)
        one(db, "SELECT dwc.continue_chain(%s, %s)", (cid, "Write part %d" % i))

    docs = q(db, "SELECT id, content, summary, metadata FROM dwc.documents WHERE chain_id = %s ORDER BY id", (cid,))
    by_id = {d[0]: d for d in docs}
    for i, (doc_id, content, summary, meta) in enumerate(docs):
        req = fake.calls("chat")[i].json()
        system = req["messages"][0]["content"]
        user = req["messages"][1]["content"]
        sent = one(db, "SELECT dwc.estimate_tokens(%s) + dwc.estimate_tokens(%s)", (system, user))
        assert sent + max_tokens <= budget, "request %d: %d tokens + %d to answer > budget %d" % (
            i, sent, max_tokens, budget)
        assert meta["context_budget"] == budget
        used = meta["context"]
        forms = [u["form"] for u in used]
        assert len(used) + meta["context_omitted"] == i, "every ancestor is accounted for"
        # newest first: full documents, then summaries, then (maybe) nothing
        order = {"full": 0, "summary": 1}
        assert [order[f] for f in forms] == sorted(order[f] for f in forms)
        assert [u["document_id"] for u in used] == [d[0] for d in reversed(docs[:i])][:len(used)]
        assert sum(u["tokens"] for u in used) == meta["context_tokens"]
        for u in used:
            anc_content, anc_summary = by_id[u["document_id"]][1], by_id[u["document_id"]][2]
            if u["form"] == "full":
                assert anc_content in system
            elif u["form"] == "summary":
                assert anc_summary in system and anc_content not in system
    last = docs[-1][3]["context"]
    assert [u["form"] for u in last][:1] == ["full"]
    assert "summary" in [u["form"] for u in last], "the oldest ancestors should be summarised"
    # ancestors are packed newest first: the parent comes first
    assert [u["document_id"] for u in last] == [d[0] for d in reversed(docs[:-1])]


def test_regenerate_and_merge_send_the_provider_what_they_say(db, fake_ai):
    """Regenerating re-sends the same context and prompt; merging sends the other branch after the
    ancestors; a document written by hand is context like any other. Watched on the wire."""
    fake = fake_ai("openai")
    q(db, "SELECT dwc.remove_provider('edit-fake')")
    q(db, "SELECT dwc.add_provider('edit-fake', 'openai', %s, api_key => %s, cache_ttl => '0')",
      (fake.base_url, fake.key))
    fake.reply_text = "# Root\n\nThe root of the guide about tides."
    chain = one(db, "SELECT dwc.create_chain('editing', 'Start the tides guide', provider => 'edit-fake')")
    cid, root = chain["id"], chain["root"]["id"]
    fake.reply_text = "# Moon\n\nThe moon pulls the sea."
    d2 = one(db, "SELECT dwc.continue_chain(%s, 'About the moon')", (cid,))["id"]
    hand = one(db, "SELECT dwc.write_document(%s, %s, 'By hand')", (cid, "Written by hand: spring tides."))
    assert hand["provider"] == "human" and hand["parent_id"] == d2
    fake.reply_text = "# Sun\n\nThe sun pulls too."
    d4 = one(db, "SELECT dwc.continue_chain(%s, 'About the sun')", (cid,))
    assert d4["parent_id"] == hand["id"], "the head moved to the document written by hand"
    first = fake.calls("chat")[-1].json()["messages"]
    assert "Written by hand: spring tides." in first[0]["content"]

    fake.reply_text = "# Sun, again\n\nThe sun pulls less than the moon."
    again = one(db, "SELECT dwc.regenerate_document(%s)", (d4["id"],))
    second = fake.calls("chat")[-1].json()["messages"]
    assert second == first, "regenerating sends the same instructions, context and prompt"
    assert (again["id"], again["version"], again["title"]) == (d4["id"], 2, "Sun, again")
    diff = one(db, "SELECT dwc.diff_document(%s)", (d4["id"],))
    assert "-The sun pulls too." in diff and "+The sun pulls less than the moon." in diff

    # a branch from the root, then merged into the main line's head
    fake.reply_text = "# Wind\n\nWind makes waves."
    side = one(db, "SELECT dwc.continue_chain(%s, 'About wind', from_document => %s)", (cid, root))
    fake.reply_text = "# Together\n\nMoon, sun and wind."
    merged = one(db, "SELECT dwc.merge_branches(%s, %s)", (d4["id"], side["id"]))
    system = fake.calls("chat")[-1].json()["messages"][0]["content"]
    assert system.index("The sun pulls less than the moon.") < system.index("Wind makes waves."), \
        "the other branch comes after the document's own ancestors"
    assert merged["metadata"]["merged_from"] == side["id"] and merged["parent_id"] == d4["id"]
    assert one(db, "SELECT head_id FROM dwc.chains WHERE id = %s", (cid,)) == merged["id"]
    # its provider goes with the loopback server: nothing later finds a chain on a closed port
    q(db, "SELECT dwc.delete_chain(%s)", (cid,))
    q(db, "SELECT dwc.remove_provider('edit-fake')")


def test_a_model_grades_a_document_on_the_rubric(db, fake_ai):
    """dwc.grade_document asks the chain's provider, on the wire, with the rubric and the prompt,
    and keeps its grade beside the heuristic score; a malformed grade is refused, builtin too."""
    fake = fake_ai("openai")
    q(db, "SELECT dwc.remove_provider('grade-fake')")
    q(db, "SELECT dwc.add_provider('grade-fake', 'openai', %s, api_key => %s, cache_ttl => '0')",
      (fake.base_url, fake.key))
    fake.reply_text = "# Tides\n\nThe moon pulls the sea twice a day; spring tides follow new and full moons."
    chain = one(db, "SELECT dwc.create_chain('graded', 'Explain tides in two sentences.', provider => 'grade-fake')")
    doc = chain["root"]["id"]
    fake.reply_text = ('Here is my grade: {"clarity": 9, "coherence": 8, "specificity": 7, "fit": 10, '
                       '"language": 9, "comment": "Short and concrete."}')
    g = one(db, "SELECT dwc.grade_document(%s)", (doc,))
    assert g["score"] == 86.0 and g["comment"] == "Short and concrete." and g["provider"] == "grade-fake", g
    sent = fake.calls("chat")[-1].json()["messages"]
    assert "specificity" in sent[0]["content"] and "Explain tides in two sentences." in sent[1]["content"]
    stored = one(db, "SELECT quality FROM dwc.documents WHERE id = %s", (doc,))
    assert stored["graded"]["score"] == 86.0 and "fluency" in stored, "the grade sits beside the heuristic"
    assert one(db, "SELECT dwc.score_quality(%s)", (doc,))["graded"]["score"] == 86.0
    fake.reply_text = '{"clarity": 11, "coherence": 8, "specificity": 7, "fit": 10, "language": 9}'
    e = error(db, "SELECT dwc.grade_document(%s)", (doc,))
    assert e.pgcode == "38000"
    builtin = one(db, "SELECT dwc.create_chain('ungraded', 'Explain tides.')")["root"]["id"]
    assert error(db, "SELECT dwc.grade_document(%s)", (builtin,)).pgcode == "0A000"
    q(db, "SELECT dwc.delete_chain(%s)", (chain["id"],))
    q(db, "SELECT dwc.remove_provider('grade-fake')")


def test_deep_chains_leave_the_oldest_out(db):
    """Past what even summaries can hold, the oldest ancestors are left out, and counted."""
    cid = one(db, "SELECT dwc.create_chain('deep', 'Write about lighthouses.', context_budget => 1000, "
                  "max_tokens => 300)")["id"]
    for _ in range(15):
        d = one(db, "SELECT dwc.continue_chain(%s)", (cid,))
    meta = d["metadata"]
    forms = [u["form"] for u in meta["context"]]
    assert set(forms) == {"summary"}, "with this many ancestors even the parent is summarised"
    assert meta["context_omitted"] > 0
    assert len(forms) + meta["context_omitted"] == 15
    assert meta["context_tokens"] <= 1000


def test_branch_from_a_middle_node(db):
    chain = one(db, "SELECT dwc.create_chain('branching', 'Write about rivers and their deltas.')")
    cid, root = chain["id"], chain["root"]["id"]
    d2 = one(db, "SELECT dwc.continue_chain(%s)", (cid,))["id"]
    d3 = one(db, "SELECT dwc.continue_chain(%s)", (cid,))["id"]
    d4 = one(db, "SELECT dwc.continue_chain(%s)", (cid,))["id"]
    b = one(db, "SELECT dwc.continue_chain(%s, 'Now cover floods instead.', from_document => %s)", (cid, d2))
    assert b["parent_id"] == d2 and b["depth"] == 2
    assert [u["document_id"] for u in b["metadata"]["context"]] == [d2, root], "a branch sees only its ancestors"
    # the default parent is the head, the end of the main line, which the branch did not move
    nxt = one(db, "SELECT dwc.continue_chain(%s)", (cid,))
    assert nxt["parent_id"] == d4
    assert [d["id"] for d in one(db, "SELECT dwc.main_line(%s)", (cid,))] == [root, d2, d3, d4, nxt["id"]]
    a = one(db, "SELECT dwc.chain_analytics(%s)", (cid,))
    assert a["documents"] == 6 and a["branches"] == 1 and a["depth"] == 5
    md = one(db, "SELECT dwc.export_chain_markdown(%s)", (cid,))
    # depth first: the branch follows document 2's subtree
    positions = [md.index("_Document %d," % d) for d in (root, d2, d3, d4, b["id"])]
    assert positions == sorted(positions)
    e = error(db, "SELECT dwc.continue_chain(%s, from_document => %s)",
              (one(db, "SELECT dwc.create_chain('other', 'x y z words here')")["id"], d3))
    assert e.pgcode == "P0002" and "is not part of chain" in e.pgerror


def test_edit_keeps_versions(db):
    chain = one(db, "SELECT dwc.create_chain('versions', 'Write about bread baking at home.')")
    doc = chain["root"]
    e1 = one(db, "SELECT dwc.edit_document(%s, %s)", (doc["id"], "# Sourdough\n\nStarter, flour, water and time."))
    e2 = one(db, "SELECT dwc.edit_document(%s, title => 'Sourdough at home')", (doc["id"],))
    assert (e1["version"], e2["version"]) == (2, 3)
    assert e1["title"] == "Sourdough" and e2["title"] == "Sourdough at home"
    assert e2["content"] == e1["content"]
    versions = one(db, "SELECT dwc.document_versions(%s)", (doc["id"],))
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["current"] for v in versions] == [False, False, True]
    assert versions[0]["content"] == doc["content"] and versions[0]["title"] == doc["title"]
    assert versions[1]["content"] == e1["content"]
    assert versions[0]["content_hash"] != versions[1]["content_hash"]
    assert one(db, "SELECT dwc.chain_analytics(%s)", (chain["id"],))["edits"] == 2
    # quality and summary follow the new content
    assert e1["quality_score"] != doc["quality_score"]
    assert "Starter, flour, water and time." in e1["summary"]
    e = error(db, "SELECT dwc.edit_document(%s, '   ')", (doc["id"],))
    assert e.pgcode == "22023"


def test_status_transitions(db):
    cid = one(db, "SELECT dwc.create_chain('status', 'Write about chess openings.')")["id"]
    assert one(db, "SELECT dwc.pause_chain(%s)", (cid,))["status"] == "paused"
    e = error(db, "SELECT dwc.continue_chain(%s)", (cid,))
    assert e.pgcode == "55000" and "is paused" in e.pgerror and "dwc.resume_chain" in e.pgerror
    assert one(db, "SELECT dwc.resume_chain(%s)", (cid,))["status"] == "active"
    c = one(db, "SELECT dwc.complete_chain(%s)", (cid,))
    assert c["status"] == "completed" and c["completed_at"]
    e = error(db, "SELECT dwc.resume_chain(%s)", (cid,))
    assert e.pgcode == "55000"
    assert "cannot go from completed to active" in e.pgerror and "may go to: archived" in e.pgerror
    e = error(db, "SELECT dwc.edit_document((SELECT min(id) FROM dwc.documents WHERE chain_id = %s), 'x')", (cid,))
    assert e.pgcode == "55000"
    e = error(db, "SELECT dwc.set_chain_status(%s, 'finished')", (cid,))
    assert e.pgcode == "22023" and 'invalid chain status "finished"' in e.pgerror
    assert one(db, "SELECT dwc.set_chain_status(%s, 'archived')", (cid,))["status"] == "archived"
    e = error(db, "SELECT dwc.set_chain_status(%s, 'active')", (cid,))
    assert e.pgcode == "55000" and "final" in e.pgerror
    events = [r[0] for r in q(db, "SELECT event FROM dwc.chain_events WHERE chain_id = %s ORDER BY id", (cid,))]
    assert events == ["created", "document_created", "status_paused", "status_active", "status_completed",
                      "status_archived"]


def test_unknown_chains_and_documents(db):
    for sql in ("SELECT dwc.get_chain(987654321)", "SELECT dwc.continue_chain(987654321)",
                "SELECT dwc.pause_chain(987654321)", "SELECT dwc.export_chain_json(987654321)",
                "SELECT dwc.chain_analytics(987654321)", "SELECT dwc.delete_chain(987654321)"):
        e = error(db, sql)
        assert e.pgcode == "P0002" and "chain 987654321 does not exist" in e.pgerror, sql
    e = error(db, "SELECT dwc.get_document(987654321)")
    assert e.pgcode == "P0002" and "document 987654321 does not exist" in e.pgerror
    e = error(db, "SELECT dwc.create_chain('x', 'y', provider => 'no-such-provider')")
    assert e.pgcode == "42704"
    e = error(db, "SELECT dwc.create_chain('x', '  ')")
    assert e.pgcode == "22023"
    e = error(db, "SELECT dwc.create_chain('x', 'y', context_budget => 10)")
    assert e.pgcode == "22023" and "context_budget" in e.pgerror


def test_chains_belong_to_their_owner(cluster, db):
    q(db, "DROP ROLE IF EXISTS dwc_it_alice")
    q(db, "DROP ROLE IF EXISTS dwc_it_bob")
    q(db, "CREATE ROLE dwc_it_alice")
    q(db, "CREATE ROLE dwc_it_bob")
    q(db, "GRANT USAGE ON SCHEMA dwc TO dwc_it_alice, dwc_it_bob")
    try:
        q(db, "SET ROLE dwc_it_alice")
        cid = one(db, "SELECT dwc.create_chain('alice''s', 'Write about owls at night.')")["id"]
        assert one(db, "SELECT dwc.get_chain(%s)", (cid,))["owner"] == "dwc_it_alice"
        q(db, "SET ROLE dwc_it_bob")
        e = error(db, "SELECT dwc.get_chain(%s)", (cid,))
        assert e.pgcode == "P0002", "another role's chain is invisible"
        assert one(db, "SELECT dwc.list_chains()") == []
        assert one(db, "SELECT dwc.search_documents('owls')") == []
        e = error(db, "SELECT * FROM dwc.documents")
        assert e.pgcode == "42501"
        q(db, "RESET ROLE")
        assert one(db, "SELECT dwc.get_chain(%s)", (cid,))["id"] == cid, "superusers see every chain"
    finally:
        q(db, "RESET ROLE")
        q(db, "DELETE FROM dwc.chains WHERE owner = 'dwc_it_alice'::regrole")
        q(db, "REVOKE ALL ON SCHEMA dwc FROM dwc_it_alice, dwc_it_bob")
        q(db, "DROP ROLE dwc_it_alice")
        q(db, "DROP ROLE dwc_it_bob")


def test_async_continue_notifies_and_records(cluster, db):
    cid = one(db, "SELECT dwc.create_chain('async', 'Write about mountain hiking safety.')")["id"]
    listener = cluster.connect(IT_DB)
    try:
        q(listener, "LISTEN dwc_chain_%d" % cid)
        job = one(db, "SELECT dwc.continue_chain_async(%s, 'Cover the weather.')", (cid,))
        deadline = time.monotonic() + 10
        got = None
        while got is None and time.monotonic() < deadline:
            if select.select([listener], [], [], 0.5)[0]:
                listener.poll()
                for n in listener.notifies:
                    msg = json.loads(n.payload)
                    if msg["event"] == "document_created":
                        got = msg
                listener.notifies.clear()
        assert got is not None, "no document_created notification within 10 s"
        assert got["chain_id"] == cid and got["job_id"] == job
        doc = one(db, "SELECT dwc.get_document(%s)", (got["document_id"],))
        assert doc["prompt"] == "Cover the weather." and doc["depth"] == 1
        assert q(db, "SELECT job_id FROM dwc.chain_events WHERE chain_id = %s AND event = 'document_created' "
                     "AND document_id = %s", (cid, doc["id"])) == [(job,)]
        cluster.wait_for("SELECT status = 'succeeded' FROM dwc.job_history WHERE id = %s", (job,), dbname=IT_DB)

        # a job that cannot succeed (the chain was paused before it ran) ends and says why
        q(db, "BEGIN")
        job2 = one(db, "SELECT dwc.continue_chain_async(%s)", (cid,))
        q(db, "SELECT dwc.pause_chain(%s)", (cid,))
        q(db, "COMMIT")
        cluster.wait_for("SELECT count(*) = 1 FROM dwc.chain_events WHERE job_id = %s AND event = 'continue_failed'",
                         (job2,), dbname=IT_DB)
        detail = one(db, "SELECT detail FROM dwc.chain_events WHERE job_id = %s", (job2,))
        assert detail["sqlstate"] == "55000"
        # and the job itself ended dead, not succeeded
        cluster.wait_for("SELECT status = 'dead' AND attempts = 1 FROM dwc.job_history WHERE id = %s", (job2,),
                         dbname=IT_DB)
        e = error(db, "SELECT dwc.continue_chain_async(%s)", (cid,))
        assert e.pgcode == "55000"
    finally:
        listener.close()


def test_export_and_search(db):
    cid = one(db, "SELECT dwc.create_chain('export', 'Write about coffee roasting and brewing.')")["id"]
    one(db, "SELECT dwc.continue_chain(%s, 'Explain espresso extraction and grind size.')", (cid,))
    one(db, "SELECT dwc.continue_chain(%s, 'Describe tea ceremonies in Japan.')", (cid,))
    ex = one(db, "SELECT dwc.export_chain_json(%s)", (cid,))
    assert ex["format"] == "dwc.chain/1" and len(ex["documents"]) == 3
    assert ex["chain"]["name"] == "export"
    md = one(db, "SELECT dwc.export_chain_markdown(%s)", (cid,))
    assert md.startswith("# export\n")
    for d in ex["documents"]:
        assert d["title"] in md
    hits = one(db, "SELECT dwc.search_documents('espresso grind', %s)", (cid,))
    assert hits[0]["title"] == ex["documents"][1]["title"]
    assert hits[0]["text_rank"] > 0 and hits[0]["similarity"] > 0
    hits = one(db, "SELECT dwc.search_documents('japan tea ceremonies')")
    assert hits and hits[0]["document_id"] == ex["documents"][2]["id"]
    e = error(db, "SELECT dwc.search_documents('')")
    assert e.pgcode == "22023"


def test_exports_convert_to_office_and_ebook_formats_with_pandoc(db, tmp_path):
    """docs/chains.md's recipe: the Markdown export through Debian's pandoc into DOCX, ODT and
    EPUB, each a real package of its format holding the chapters; and the HTML page."""
    import subprocess
    import zipfile
    cid = one(db, "SELECT dwc.create_chain('Tea guide', 'Write about green tea.')")["id"]
    one(db, "SELECT dwc.continue_chain(%s, 'Explain brewing temperatures.')", (cid,))
    side = one(db, "SELECT dwc.continue_chain(%s, 'Describe matcha.', from_document => %s)",
               (cid, one(db, "SELECT head_id FROM dwc.chains WHERE id = %s", (cid,)) - 1))
    md = one(db, "SELECT dwc.export_chain_markdown(%s)", (cid,))
    chapter = [l for l in md.splitlines() if l.startswith("## 2. ")][0][len("## 2. "):]
    assert "## Other branches" in md and "### 1a.1. " + side["title"] in md
    src = tmp_path / "tea.md"
    src.write_text(md)
    inside = {"docx": "word/document.xml", "odt": "content.xml", "epub": None}
    for fmt, part in inside.items():
        out = tmp_path / ("tea." + fmt)
        subprocess.run(["pandoc", "-f", "markdown", "-t", fmt, "-o", str(out), str(src),
                        "--metadata", "title=Tea guide"], check=True, timeout=120)
        with zipfile.ZipFile(out) as z:
            names = z.namelist()
            texts = [z.read(n).decode("utf-8", "replace") for n in names
                     if (n == part if part else n.endswith(".xhtml"))]
        assert texts, "%s: no %s in %s" % (fmt, part or "xhtml", names)
        assert any(chapter in x for x in texts), "%s lacks the chapter %r" % (fmt, chapter)
    html = one(db, "SELECT dwc.export_chain_html(%s)", (cid,))
    assert html.startswith("<!DOCTYPE html>") and "<h2>2. " + chapter + "</h2>" in html
    assert "@media print" in html


def test_workflows_over_postgrest_belong_to_their_user(cluster):
    """Two users of the same role, through PostgREST's per-request transaction."""
    import uuid
    from conftest import JWT_SECRET
    from postgrest import PostgREST
    conn = cluster.connect(IT_DB)
    rest = PostgREST(conn, JWT_SECRET)
    try:
        tokens = {}
        for who in ("ana", "bea"):
            name = "%s-%s" % (who, uuid.uuid4().hex[:8])
            assert rest.rpc("register", {"username": name, "password": "Tide-Pool-42!x"})[0] == 200
            tokens[who] = rest.rpc("login", {"username": name, "password": "Tide-Pool-42!x"})[1]["access_token"]
        ana, bea = tokens["ana"], tokens["bea"]
        status, w = rest.rpc("create_workflow", {"name": "plan", "initial_prompt": "Write about tides and moons."},
                             token=ana)
        assert status == 200 and w["owner_user"] == rest.verify(ana)["sub"]
        wid = w["id"]
        assert rest.rpc("get_workflow", {"id": wid}, token=ana, get=True)[1]["id"] == wid
        assert rest.rpc("get_workflow", {"id": wid}, token=bea, get=True)[0] == 404
        assert rest.rpc("list_workflows", token=bea, get=True)[1] == []
        status, r = rest.rpc("execute_workflow", {"id": wid, "steps": 2}, token=ana)
        assert status == 200 and [n["depth"] for n in r["nodes"]] == [1, 2]
        # in the background: the job runs as ana, so it may grow ana's workflow
        status, r = rest.rpc("execute_workflow", {"id": wid, "async": True}, token=ana)
        assert status == 200 and r["channel"] == "dwc_chain_%d" % wid
        cluster.wait_for("SELECT status = 'succeeded' AND (result->>'ok')::bool FROM dwc.job_history WHERE id = %s",
                         (r["job_id"],), dbname=IT_DB)
        assert rest.rpc("workflow_analytics", {"id": wid}, token=ana, get=True)[1]["documents"] == 4
        md = rest.rpc("export_workflow", {"id": wid, "format": "markdown"}, token=ana, get=True)[1]
        assert md["content"].startswith("# plan")
        status, body = rest.rpc("export_workflow", {"id": wid, "format": "pdf"}, token=ana, get=True)
        assert status == 400 and body["code"] == "22023"
        assert rest.rpc("update_workflow", {"id": wid, "status": "paused"}, token=ana)[1]["status"] == "paused"
        assert rest.rpc("delete_workflow", {"id": wid}, token=bea)[0] == 404
        assert rest.rpc("delete_workflow", {"id": wid}, token=ana)[1] is True
    finally:
        conn.close()


def test_a_slow_chain_job_holds_no_lock_of_its_batch(cluster, db, fake_ai):
    """chain.continue is a leased kind: its AI call runs after the claiming transaction
    has committed, with the job's row leased (status running, lease_until), not locked."""
    fake = fake_ai("openai")
    q(db, "SELECT dwc.remove_provider('lease-fake')")
    q(db, "SELECT dwc.add_provider('lease-fake', 'openai', %s, api_key => %s, cache_ttl => '0')",
      (fake.base_url, fake.key))
    cid = one(db, "SELECT dwc.create_chain('leased', 'Write about tides.', provider => 'lease-fake')")["id"]
    fake.delay = 3.0
    job = one(db, "SELECT dwc.continue_chain_async(%s, 'And the moon.')", (cid,))
    cluster.wait_for("SELECT status = 'running' AND lease_until IS NOT NULL FROM dwc.jobs WHERE id = %s",
                     (job,), dbname=IT_DB, timeout=10)
    # the AI call is under way, and the row is free: another session locks it at once
    other = cluster.connect(IT_DB, autocommit=False)
    try:
        with other.cursor() as cur:
            cur.execute("SELECT id FROM dwc.jobs WHERE id = %s FOR UPDATE NOWAIT", (job,))
            assert cur.fetchall() == [(job,)]
        other.rollback()
    finally:
        other.close()
    cluster.wait_for("SELECT status = 'succeeded' FROM dwc.job_history WHERE id = %s", (job,),
                     dbname=IT_DB, timeout=20)
    assert one(db, "SELECT count(*) FROM dwc.documents WHERE chain_id = %s", (cid,)) == 2
    assert len(fake.calls("chat")) >= 2
