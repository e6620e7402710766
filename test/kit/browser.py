"""Debian's Chromium, headless, driven over the DevTools protocol (python3-websockets).

    with Browser("file:///tmp/page.html") as b:
        b.wait_for("document.querySelectorAll('li').length >= 3")
        text = b.evaluate("document.body.innerText")
        b.screenshot("/tmp/page.png")
"""
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import websockets


def chromium():
    return shutil.which("chromium")


class Browser:
    def __init__(self, url, width=1000, height=700):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.profile = tempfile.mkdtemp(prefix="dwc-chromium-")
        # Chromium refuses to run as root without --no-sandbox; the tests run as root in CI
        self.proc = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--remote-allow-origins=*", "--window-size=%d,%d" % (width, height),
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=%d" % self.port,
             "--user-data-dir=" + self.profile, url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.loop = asyncio.new_event_loop()
        self.ws = self.loop.run_until_complete(self._attach(url))
        self.next_id = 0

    async def _attach(self, url):
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json" % self.port, timeout=2) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    return await websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=2 ** 26)
            except OSError:
                pass
            if time.time() > deadline:
                raise AssertionError("Chromium's DevTools did not come up")
            await asyncio.sleep(0.1)

    async def _call(self, method, params):
        self.next_id += 1
        my = self.next_id
        await self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if m.get("id") == my:
                if "error" in m:
                    raise AssertionError("%s: %s" % (method, m["error"]))
                return m["result"]

    def call(self, method, **params):
        return self.loop.run_until_complete(self._call(method, params))

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError("page error: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def wait_for(self, expression, timeout=20):
        """Until expression is true; errors (the page still loading) count as false."""
        deadline = time.time() + timeout
        while True:
            try:
                v = self.evaluate(expression)
            except AssertionError:
                v = None
            if v:
                return v
            if time.time() > deadline:
                raise AssertionError("in the page, not true within %ss: %s" % (timeout, expression))
            time.sleep(0.1)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            self.loop.run_until_complete(self.ws.close())
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        self.loop.close()
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def page_file(html, name="page.html"):
    """Write html to a file the browser can open (file://); returns its URL and directory."""
    d = tempfile.mkdtemp(prefix="dwc-page-")
    os.chmod(d, 0o755)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(html)
    return "file://" + path, d
