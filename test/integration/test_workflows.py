"""AI workflows with real workers and a loopback AI server: a DAG with a branch and an approval
step, a failing step retried, classification and extraction from the provider's answers,
document steps as nodes of a chain, pause and resume, and a step that never succeeds."""
import json
import time
import uuid

import pytest

from conftest import one, q
from fakehttp import Reply


def provider(db, fake):
    name = "wf-ai-" + uuid.uuid4().hex[:6]
    q(db, "SELECT dwc.add_provider(%s, 'openai', %s, max_retries => 0, timeout => '2 seconds', cache_ttl => '0')",
      (name, fake.base_url))
    q(db, "SELECT dwc.set_provider_key(%s, %s)", (name, fake.key))
    return name


def create(db, name, steps):
    return one(db, "SELECT dwc.create_ai_workflow(%s, %s)", (name, json.dumps(steps)))


def run(db, name, data):
    return one(db, "SELECT dwc.run_ai_workflow(%s, %s)", (name, json.dumps(data)))["id"]


def wait_run(db, rid, statuses=("succeeded", "failed", "cancelled"), timeout=30):
    deadline = time.time() + timeout
    while True:
        r = one(db, "SELECT dwc.ai_workflow_run(%s)", (rid,))
        if r["status"] in statuses or time.time() > deadline:
            return r
        time.sleep(0.1)


def steps_of(r):
    return {s["step"]: s for s in r["steps"]}


def test_a_dag_with_a_branch_an_approval_and_a_retried_step(db, fake_ai):
    fake = fake_ai("openai")
    p = provider(db, fake)
    name = "dag_" + uuid.uuid4().hex[:6]
    create(db, name, [
        {"id": "facts", "type": "extract", "provider": p, "fields": ["title", "risk"]},
        {"id": "route", "type": "branch", "after": ["facts"], "if": {"path": "steps.facts.fields.risk", "eq": "high"},
         "then": ["review"], "else": ["fast"]},
        {"id": "review", "type": "approval", "after": ["route"], "message": "Check {{steps.facts.fields.title}}"},
        {"id": "fast", "type": "summarize", "after": ["route"], "text": "{{steps.facts.fields.title}}"},
        {"id": "draft", "type": "generate", "provider": p, "after": ["review", "fast"], "join": "any",
         "prompt": "Reply about {{steps.facts.fields.title}} (approved: {{steps.review.approved}})", "max_attempts": 4}])

    # high risk: the approval waits for a person; the provider fails twice when the draft is written
    fake.reply_text = 'Here: {"title": "Leaky roof", "risk": "high"}'
    rid = run(db, name, {"text": "The roof leaks into the server room."})
    r = wait_run(db, rid, statuses=("waiting", "failed"))
    s = steps_of(r)
    assert r["status"] == "waiting" and s["review"]["status"] == "waiting" and s["fast"]["status"] == "skipped", s
    assert s["facts"]["output"]["fields"] == {"title": "Leaky roof", "risk": "high"} and s["facts"]["tokens"] > 0
    assert one(db, "SELECT count(*) FROM dwc.events WHERE kind = 'workflow.approval_needed' AND subject = %s",
               ("ai_workflow_run:%d" % rid,)) == 1
    time.sleep(0.5)
    assert wait_run(db, rid, statuses=())["status"] == "waiting"             # nobody approved: it waits
    fake.reply_text = "A reply."
    fake.fail_next(Reply(500, {"error": {"message": "busy"}}), Reply(503, {"error": {"message": "busy"}}))
    q(db, "SELECT dwc.approve_ai_workflow_step(%s, 'review', true, 'go ahead')", (rid,))
    r = wait_run(db, rid, timeout=60)
    s = steps_of(r)
    assert r["status"] == "succeeded", r
    assert s["review"]["output"]["approved"] is True and s["review"]["output"]["comment"] == "go ahead"
    assert s["draft"]["status"] == "succeeded" and s["draft"]["attempts"] == 3 and s["draft"]["output"]["text"] == "A reply."
    prompt = json.dumps(fake.calls("chat")[-1].json())
    assert "Leaky roof (approved: true)" in prompt
    assert r["tokens"] >= s["facts"]["tokens"] + s["draft"]["tokens"] > 0

    # low risk: the other branch, no approval
    fake.reply_text = '{"title": "Squeaky door", "risk": "low"}'
    rid2 = run(db, name, {"text": "The door squeaks."})
    r2 = wait_run(db, rid2)
    s2 = steps_of(r2)
    assert r2["status"] == "succeeded" and s2["review"]["status"] == "skipped" and s2["fast"]["status"] == "succeeded", s2
    a = one(db, "SELECT dwc.ai_workflow_analytics(%s)", (name,))
    assert a["runs"] == 2 and a["by_status"] == {"succeeded": 2} and a["success_rate"] == 1
    draft = [x for x in a["steps"] if x["step"] == "draft"][0]
    assert draft["succeeded"] == 2 and draft["mean_attempts"] == 2


def test_classification_documents_and_a_step_that_never_succeeds(db, fake_ai):
    fake = fake_ai("openai")
    p = provider(db, fake)
    name = "docs_" + uuid.uuid4().hex[:6]
    create(db, name, [
        {"id": "mood", "type": "classify", "provider": p, "labels": ["positive", "negative"]},
        {"id": "first", "type": "generate", "provider": p, "document": True, "after": ["mood"],
         "prompt": "A {{steps.mood.label}} note on {{input.text}}"},
        {"id": "second", "type": "generate", "provider": p, "document": True, "after": ["first"],
         "prompt": "Go on from {{steps.first.title}}"}])
    fake.reply_text = "Negative, I am afraid."
    rid = run(db, name, {"text": "the rain"})
    r = wait_run(db, rid)
    s = steps_of(r)
    assert r["status"] == "succeeded" and s["mood"]["output"]["label"] == "negative" and s["mood"]["output"]["by"] == p, s
    # the document steps are nodes of the run's chain, the second the child of the first
    assert r["chain_id"] and s["first"]["output"]["chain_id"] == r["chain_id"]
    docs = q(db, "SELECT id, parent_id FROM dwc.documents WHERE chain_id = %s ORDER BY id", (r["chain_id"],))
    assert [d[0] for d in docs] == [s["first"]["output"]["document_id"], s["second"]["output"]["document_id"]]
    assert docs[1][1] == docs[0][0]

    # an answer naming no label, again and again: the step fails after its attempts, the run with it
    fake.reply_text = "I cannot say."
    rid = run(db, name, {"text": "nothing"})
    r = wait_run(db, rid, timeout=60)
    s = steps_of(r)
    assert r["status"] == "failed" and s["mood"]["status"] == "failed" and s["mood"]["attempts"] == 3, s
    assert "names none of the labels" in s["mood"]["error"] and s["first"]["status"] == "cancelled"
    assert one(db, "SELECT count(*) FROM dwc.events WHERE kind = 'workflow.failed' AND subject = %s",
               ("ai_workflow_run:%d" % rid,)) == 1


def test_a_failing_step_leaves_independent_branches_running_as_its_on_error_says(db, fake_ai):
    """The issue's run: an extract step failing for good no longer cancels an approval in another
    branch; what depends on it is cancelled; skip and continue do what they say."""
    fake = fake_ai("openai")
    p = provider(db, fake)
    name = "fail_" + uuid.uuid4().hex[:6]
    create(db, name, [
        {"id": "pull", "type": "extract", "provider": p, "fields": ["who"], "max_attempts": 1},
        {"id": "use", "type": "generate", "provider": p, "after": ["pull"], "prompt": "Use {{steps.pull.text}}"},
        {"id": "review", "type": "approval", "message": "Look at {{input.text}}"},
        {"id": "mood", "type": "classify", "provider": p, "labels": ["calm", "angry"], "max_attempts": 1,
         "on_error": "continue", "default": {"label": "unknown"}},
        {"id": "reply", "type": "generate", "provider": p, "after": ["mood"], "prompt": "A {{steps.mood.label}} reply"},
        {"id": "extra", "type": "extract", "provider": p, "fields": ["when"], "max_attempts": 1, "on_error": "skip"},
        {"id": "after_extra", "type": "generate", "provider": p, "after": ["extra"], "prompt": "x"}])
    fake.reply_text = "I cannot say."          # no JSON object, no label: extract and classify fail
    rid = run(db, name, {"text": "the invoice"})
    r = wait_run(db, rid, statuses=("waiting", "failed", "succeeded"), timeout=60)
    s = steps_of(r)
    assert r["status"] == "waiting", r
    assert s["pull"]["status"] == "failed" and s["use"]["status"] == "cancelled", s
    assert "pull" in s["use"]["error"]
    assert s["review"]["status"] == "waiting", "an approval in another branch waits on"
    assert s["mood"]["status"] == "succeeded" and s["mood"]["output"]["label"] == "unknown"
    assert s["mood"]["output"]["failed"] is True and s["mood"]["error"]
    assert s["reply"]["status"] == "succeeded" and s["reply"]["output"]["text"]
    assert s["extra"]["status"] == "skipped" and s["after_extra"]["status"] == "skipped"
    # answered, the approval ends the run: failed, for the step that failed
    one(db, "SELECT dwc.approve_ai_workflow_step(%s, 'review', true, 'fine')", (rid,))
    r = wait_run(db, rid, timeout=30)
    assert r["status"] == "failed" and r["error"].startswith("pull: "), r
    assert steps_of(r)["review"]["status"] == "succeeded"
    kinds = dict(q(db, "SELECT payload->>'step', payload->>'on_error' FROM dwc.events "
                       "WHERE kind = 'workflow.step_failed' AND subject = %s", ("ai_workflow_run:%d" % rid,)))
    assert kinds == {"pull": "fail", "mood": "continue", "extra": "skip"}, kinds
    assert one(db, "SELECT count(*) FROM dwc.events WHERE kind = 'workflow.failed' AND subject = %s",
               ("ai_workflow_run:%d" % rid,)) == 1


def test_pause_holds_the_next_step_and_resume_runs_it(db, fake_ai):
    fake = fake_ai("openai")
    p = provider(db, fake)
    name = "pause_" + uuid.uuid4().hex[:6]
    create(db, name, [{"id": "gate", "type": "approval"},
                      {"id": "work", "type": "generate", "provider": p, "after": ["gate"], "prompt": "go"}])
    rid = run(db, name, {})
    q(db, "SELECT dwc.pause_ai_workflow_run(%s)", (rid,))
    q(db, "SELECT dwc.approve_ai_workflow_step(%s, 'gate')", (rid,))
    time.sleep(1.5)
    r = one(db, "SELECT dwc.ai_workflow_run(%s)", (rid,))
    assert r["status"] == "paused" and steps_of(r)["work"]["status"] in ("pending", "queued") and fake.calls("chat") == []
    q(db, "SELECT dwc.resume_ai_workflow_run(%s)", (rid,))
    r = wait_run(db, rid)
    assert r["status"] == "succeeded" and len(fake.calls("chat")) == 1, r


def test_an_automation_starts_a_workflow_run(db):
    name = "fromauto_" + uuid.uuid4().hex[:6]
    create(db, name, [{"id": "sum", "type": "summarize", "sentences": 1}])
    a = "runs_" + name
    one(db, "SELECT dwc.create_automation(%s, 'api', '{}', %s)",
        (a, json.dumps([{"type": "workflow", "workflow": name, "input": {"text": "{{data.text}}"}}])))
    q(db, "SELECT dwc.run_automation(%s, %s)", (a, json.dumps({"text": "One sentence. And another one here."})))
    deadline = time.time() + 20
    while time.time() < deadline:
        rs = one(db, "SELECT dwc.automation_runs(%s)", (a,))
        if rs and rs[0]["status"] == "succeeded":
            break
        time.sleep(0.1)
    rid = rs[0]["results"][0]["result"]["run_id"]
    r = wait_run(db, rid)
    assert r["status"] == "succeeded" and r["input"] == {"text": "One sentence. And another one here."}, r


def test_translate_ml_and_recommend_steps(db, fake_ai):
    fake = fake_ai("openai")
    p = provider(db, fake)
    tag = uuid.uuid4().hex[:6]
    # a regression model (y = 2x) and a popularity model, trained here
    q(db, "SELECT dwc.ml_create_model(%s, 'regression', 'linear_regression')", ("lin" + tag,))
    q(db, "SELECT dwc.ml_train(%s, training_data => (SELECT jsonb_agg(jsonb_build_object('x', g, 'y', 2 * g)) "
          "FROM generate_series(1, 40) g), target => 'y', options => '{\"test_size\": 0}')", ("lin" + tag,))
    q(db, "SELECT count(dwc.rec_interact('u' || g % 3, 'item' || g % 4)) FROM generate_series(1, 30) g")
    q(db, "SELECT dwc.rec_create_model(%s, 'popularity')", ("pop" + tag,))
    q(db, "SELECT dwc.rec_train(%s, '{\"test_size\": 0}')", ("pop" + tag,))
    name = "mix_" + tag
    create(db, name, [
        {"id": "es", "type": "translate", "provider": p, "language": "{{input.language}}"},
        {"id": "double", "type": "ml", "model": "lin" + tag, "input": {"x": "{{input.x}}"}},
        {"id": "picks", "type": "recommend", "model": "pop" + tag, "user_id": "nobody", "n": 2}])
    fake.reply_text = "Hola mundo"
    r = wait_run(db, run(db, name, {"text": "Hello world", "language": "Spanish", "x": 21}))
    s = steps_of(r)
    assert r["status"] == "succeeded", r
    assert s["es"]["output"]["text"] == "Hola mundo"
    assert "Translate into Spanish" in json.dumps(fake.calls("chat")[-1].json())
    assert s["double"]["output"]["prediction"] == pytest.approx(42, abs=1e-6)
    assert len(s["picks"]["output"]["items"]) == 2


def test_on_the_builtin_provider_classify_falls_back_and_extract_says_it_needs_a_model(db):
    """The builtin provider writes from templates: a classify step with a fallback takes it
    (by "fallback", saying why), one without and an extract step fail saying a provider is
    needed; generation steps work."""
    name = "wf_builtin_%d" % int(time.time() * 1000)
    create(db, name, [
        {"id": "mood", "type": "classify", "labels": ["positive", "negative"], "fallback": "positive"},
        {"id": "facts", "type": "extract", "fields": ["title"], "after": ["mood"]}])
    r = wait_run(db, run(db, name, {"text": "the rain"}))
    s = steps_of(r)
    assert s["mood"]["output"]["label"] == "positive" and s["mood"]["output"]["by"] == "fallback", s
    assert "builtin provider cannot classify" in s["mood"]["output"]["why"], s
    assert r["status"] == "failed" and "builtin provider cannot extract fields" in (s["facts"]["error"] or ""), s
