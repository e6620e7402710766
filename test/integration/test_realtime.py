"""The real-time WebSocket gateway, with a real client (python3-websockets) and a real
browser (headless Chromium): authentication, rooms and who sees what, commit order,
resumption, limits, statistics, shutdown."""
import asyncio
import json
import shutil
import socket
import time

import pytest
import websockets

from browser import Browser, page_file
from conftest import IT_DB

PASSWORD = "tidy horse battery 42!"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gw(make_cluster):
    port = free_port()
    c = make_cluster(settings={"dwc.websocket_port": str(port), "dwc.websocket_max_connections": "4",
                               "dwc.websocket_max_message": "'1kB'"})
    c.wait_for("SELECT (dwc.realtime_stats())->>'listening' = 'true'", dbname=IT_DB, timeout=20)
    c.ws_url = "ws://127.0.0.1:%d/ws" % port
    return c


def sign_up(c, admin=False):
    name = "u%d" % (time.time_ns() % 10 ** 12)
    u = c.scalar("SELECT dwc.create_user(%s, %s, role => %s)", (name, PASSWORD, "dwc_admin" if admin else "dwc_user"),
                 dbname=IT_DB)
    tok = c.scalar("SELECT dwc.login(%s, %s)", (name, PASSWORD), dbname=IT_DB)["access_token"]
    return u["id"], tok


def as_user(c, tok, sql, params=None):
    """Run sql as the signed-in user of tok (role dwc_user, the token in request.headers)."""
    conn = c.connect(IT_DB)
    try:
        cur = conn.cursor()
        cur.execute("SELECT set_config('request.headers', %s, false)", (json.dumps({"authorization": "Bearer " + tok}),))
        cur.execute("SET ROLE dwc_user")
        cur.execute(sql, params)
        return cur.fetchone()[0] if cur.description else None
    finally:
        conn.close()


async def recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def connect(c, tok):
    ws = await websockets.connect(c.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": tok}))
    hello = await recv_json(ws)
    assert hello["type"] == "welcome", hello
    return ws


async def reply(ws, timeout=10):
    """The answer to a request: the first message that is not an event (events pass by)."""
    while True:
        m = await recv_json(ws, timeout)
        if m["type"] != "event":
            return m


def ours(m):
    # a user's own security events (user_created, login) reach them too, up to a second
    # after the fact (they are flushed by the maintenance worker): not what these tests are about
    return m["type"] == "event" and not m["kind"].startswith("security.")


async def events_until(ws, n, timeout=10):
    out = []
    while len(out) < n:
        m = await recv_json(ws, timeout)
        if ours(m):
            out.append(m)
    return out


async def nothing_more(ws, wait=0.5):
    deadline = time.time() + wait
    while True:
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.time())))
        except asyncio.TimeoutError:
            return True
        if ours(m) or m["type"] != "event":
            raise AssertionError("unexpected message: %s" % m)


def test_auth_users_rooms_and_who_sees_what(gw):
    a, tok_a = sign_up(gw)
    b, tok_b = sign_up(gw)
    _, tok_admin = sign_up(gw, admin=True)

    async def run():
        # a bad token is refused and the connection closed (1008)
        ws = await websockets.connect(gw.ws_url)
        await ws.send(json.dumps({"type": "auth", "token": "not.a.token"}))
        err = await recv_json(ws)
        assert err["type"] == "error" and err["code"] == "auth_failed", err
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 1008
        # nothing but auth before auth
        ws = await websockets.connect(gw.ws_url)
        await ws.send(json.dumps({"type": "join", "room": "user"}))
        assert (await recv_json(ws))["code"] == "not_authenticated"
        await ws.close()

        # an API key signs in as well as a token
        key = as_user(gw, tok_a, "SELECT (dwc.create_api_key('ws', '{*}'))->>'key'")
        wk = await websockets.connect(gw.ws_url)
        await wk.send(json.dumps({"type": "auth", "api_key": key}))
        hello = await recv_json(wk)
        assert hello["type"] == "welcome" and hello["user_id"] == a, hello
        await wk.close()
        wk = await websockets.connect(gw.ws_url)
        await wk.send(json.dumps({"type": "auth", "api_key": key[:-4] + "xxxx"}))
        assert (await recv_json(wk))["code"] == "auth_failed"
        await wk.close()

        wa, wb, wadm = await connect(gw, tok_a), await connect(gw, tok_b), await connect(gw, tok_admin)
        await wadm.send(json.dumps({"type": "join", "room": "*"}))
        assert (await reply(wadm)) == {"type": "joined", "room": "*"}
        await wb.send(json.dumps({"type": "join", "room": "*"}))
        assert (await reply(wb))["code"] == "forbidden"

        # a's own event: a and the administrator see it, b does not
        eid = as_user(gw, tok_a, "SELECT dwc.emit('app.note', 'n', '{\"x\": 1}')")
        (e,) = await events_until(wa, 1)
        assert e["id"] == eid and e["kind"] == "app.note" and e["payload"] == {"x": 1}
        # the administrator's "*" room also carries dwc's own events (audit.sealed, jobs...)
        seen = []
        while not any(m["id"] == eid for m in seen):
            seen += await events_until(wadm, 1)
        assert [m["id"] for m in seen if m["kind"].startswith("app.")] == [eid], seen
        assert await nothing_more(wb)

        # a chain of a's: b may not join its room
        chain = as_user(gw, tok_a, "SELECT (dwc.create_chain('Live', 'Write about tides.'))->'id'")
        await wb.send(json.dumps({"type": "join", "room": "chain:%d" % chain}))
        assert (await reply(wb))["code"] == "forbidden"
        await wa.send(json.dumps({"type": "join", "room": "chain:%d" % chain}))
        assert (await reply(wa))["type"] == "joined"

        # a named room: members only; a broadcast reaches who joined, once each
        as_user(gw, tok_a, "SELECT dwc.create_room('lobby', ARRAY[%s])", (a,))
        await wb.send(json.dumps({"type": "join", "room": "room:lobby"}))
        r = await reply(wb)
        assert r["code"] == "forbidden", r
        await wa.send(json.dumps({"type": "join", "room": "room:lobby"}))
        assert (await reply(wa))["type"] == "joined"
        as_user(gw, tok_a, "SELECT dwc.room_members('lobby', ARRAY[%s])", (b,))
        await wb.send(json.dumps({"type": "join", "room": "room:lobby"}))
        assert (await reply(wb))["type"] == "joined"
        bid = as_user(gw, tok_a, "SELECT dwc.broadcast('lobby', 'chat.message', '{\"text\": \"hi\"}')")
        # a: the chain's creation events first, then the broadcast (and only once, though a is
        # in both "user" and "room:lobby")
        seen = []
        while not any(m["id"] == bid for m in seen):
            seen += await events_until(wa, 1)
        assert [m["id"] for m in seen].count(bid) == 1
        (mb,) = await events_until(wb, 1)
        assert mb["id"] == bid and mb["subject"] == "room:lobby" and mb["payload"] == {"text": "hi"}
        assert await nothing_more(wa) and await nothing_more(wb)

        # leave: no more of that room
        await wb.send(json.dumps({"type": "leave", "room": "room:lobby"}))
        assert (await reply(wb))["type"] == "left"
        as_user(gw, tok_a, "SELECT dwc.broadcast('lobby', 'chat.message', '{}')")
        await events_until(wa, 1)
        assert await nothing_more(wb)
        for w in (wa, wb, wadm):
            await w.close()

    asyncio.run(run())
    st = gw.scalar("SELECT dwc.realtime_stats()", dbname=IT_DB)
    assert st["connections_total"] >= 5 and st["auth_failures"] >= 1 and st["events_sent"] >= 4, st


def test_commit_order_and_resume_after_a_disconnection(gw):
    a, tok = sign_up(gw)

    async def run():
        ws = await connect(gw, tok)
        # t1 takes the lower id but commits after t2
        t1 = gw.connect(IT_DB, autocommit=False)
        c1 = t1.cursor()
        c1.execute("SELECT set_config('request.headers', %s, false)", (json.dumps({"authorization": "Bearer " + tok}),))
        c1.execute("SET ROLE dwc_user")
        c1.execute("SELECT dwc.emit('app.first_taken')")
        low = c1.fetchone()[0]
        high = as_user(gw, tok, "SELECT dwc.emit('app.first_committed')")
        (e,) = await events_until(ws, 1)
        assert e["id"] == high
        t1.commit()
        t1.close()
        (e,) = await events_until(ws, 1)
        assert e["id"] == low and low < high
        last = high
        await ws.close()
        # three events while away; a new connection resumes after the last id it saw
        ids = [as_user(gw, tok, "SELECT dwc.emit('app.away', NULL, %s)", (json.dumps({"n": i}),)) for i in range(3)]
        ws = await connect(gw, tok)
        await ws.send(json.dumps({"type": "resume", "last_event_id": last}))
        r = await recv_json(ws)
        # the replay: every event of the user after the last one seen, which may include its
        # sign-up's security events when the maintenance worker wrote them late (a loaded machine)
        assert r["type"] == "resumed" and r["count"] >= 3, r
        replayed = [await recv_json(ws) for _ in range(r["count"])]
        assert all(m["id"] > last for m in replayed), replayed
        assert [m["id"] for m in replayed if ours(m)] == ids, replayed
        await ws.close()

    asyncio.run(run())


def test_limits_statistics_and_clean_shutdown(gw):
    _, tok = sign_up(gw)

    async def run():
        # a message over dwc.websocket_max_message (1 kB) closes with 1009
        ws = await connect(gw, tok)
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 2000}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                # the user's own security events may arrive first; nothing else may
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert m["type"] == "event" and m["kind"].startswith("security."), m
        assert closed.value.rcvd.code == 1009
        # at most 4 connections
        conns = [await connect(gw, tok) for _ in range(4)]
        extra = await websockets.connect(gw.ws_url)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(extra.recv(), 5)
        assert closed.value.rcvd.code == 1008
        await conns[0].send(json.dumps({"type": "ping"}))
        assert (await reply(conns[0])) == {"type": "pong"}
        time.sleep(0.5)
        st = gw.scalar("SELECT dwc.realtime_stats()", dbname=IT_DB)
        assert st["open"] == 4 and st["connections_rejected"] >= 1, st
        assert len(st["connections"]) == 4 and all(c["user_id"] for c in st["connections"]), st
        assert max(c["messages_in"] for c in st["connections"]) >= 2
        # SIGTERM: every client is told the server is going away (1001)
        pid = gw.scalar("SELECT pid FROM dwc.status() WHERE kind = 'realtime'", dbname=IT_DB)
        gw.sql("SELECT pg_terminate_backend(%s)", (pid,))
        for w in conns:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(w.recv(), 5)
            assert closed.value.rcvd.code == 1001
        # and the launcher brings the gateway back
        gw.wait_for("SELECT (dwc.realtime_stats())->>'listening' = 'true' AND "
                    "(SELECT pid FROM dwc.status() WHERE kind = 'realtime') <> %s", (pid,), dbname=IT_DB, timeout=20)
        ws = await connect(gw, tok)
        await ws.close()

    asyncio.run(run())


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>chain</title></head>
<body><h1>Chain %(chain)d</h1><ol id="docs"></ol><p id="status">connecting</p>
<script>
const ws = new WebSocket(%(url)s);
ws.onopen = () => ws.send(JSON.stringify({type: "auth", token: %(token)s}));
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.type === "welcome") ws.send(JSON.stringify({type: "join", room: "chain:%(chain)d"}));
  else if (msg.type === "joined") document.getElementById("status").textContent = "live";
  else if (msg.type === "event" && msg.kind === "chain.document_created") {
    const li = document.createElement("li");
    li.textContent = "document " + msg.payload.document_id + ": " + msg.payload.title;
    document.getElementById("docs").appendChild(li);
  }
};
</script></body></html>
"""


def test_a_browser_page_shows_a_chain_growing_live(gw, tmp_path):
    _, tok = sign_up(gw)
    chain = as_user(gw, tok, "SELECT (dwc.create_chain('Tides', 'Write about tides.'))->'id'")
    url, d = page_file(PAGE % {"chain": chain, "url": json.dumps(gw.ws_url), "token": json.dumps(tok)})
    try:
        with Browser(url) as b:
            # the page signed in and joined the chain's room
            b.wait_for("document.getElementById('status').textContent === 'live'")
            added = []
            for i in range(3):
                added.append(as_user(gw, tok, "SELECT dwc.continue_chain(%s, %s)",
                                     (chain, "Part %d: the moon's pull." % (i + 1))))
                # each document shows up while the chain grows, not at the end
                b.wait_for("document.querySelectorAll('#docs li').length === %d" % (i + 1))
            items = b.evaluate("[...document.querySelectorAll('#docs li')].map(li => li.textContent)")
            shot = b.screenshot(str(tmp_path / "chain.png"))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert items == ["document %d: %s" % (doc["id"], doc["title"]) for doc in added], items
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_running_jobs_progress_reaches_its_user_only(gw):
    """A job's progress (dwc.job_progress(), said in its open transaction) is pushed to its
    user's connections, not to another user's; one message per push however often it is
    said."""
    a, tok_a = sign_up(gw)
    b, tok_b = sign_up(gw)
    holder = gw.connect(IT_DB)
    holder.cursor().execute("SELECT pg_advisory_lock(7717)")

    async def run():
        wa, wb = await connect(gw, tok_a), await connect(gw, tok_b)
        job = as_user(gw, tok_a, "SELECT dwc.enqueue('sql', %s)",
                      (json.dumps({"sql": "SELECT dwc.job_progress('halfway', 5, 10); "
                                          "SELECT pg_advisory_lock(7717)"}),))
        while True:
            m = await recv_json(wa, 20)
            if m["type"] == "progress":
                break
        assert (m["job_id"], m["subject"], m["kind"], m["phase"], m["done"], m["total"], m["percent"]) == \
            (job, "job:%d" % job, "sql", "halfway", 5, 10, 50.0), m
        holder.cursor().execute("SELECT pg_advisory_unlock(7717)")
        gw.wait_for("SELECT dwc.job_status(%s)->>'status' = 'succeeded'", (job,), dbname=IT_DB)
        assert await nothing_more(wb)
        stats = gw.scalar("SELECT dwc.realtime_stats()", dbname=IT_DB)
        assert stats["progress_sent"] >= 1, stats
        await wa.close()
        await wb.close()

    try:
        asyncio.run(run())
    finally:
        holder.close()
