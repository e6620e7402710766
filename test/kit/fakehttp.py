"""Loopback HTTP(S) servers with scripted responses, standing in for external services.

    srv = FakeHTTP()                       # or FakeHTTP(tls=True)
    srv.route("POST", "/v1/chat", Reply(200, {"ok": True}))
    srv.route("GET", "/slow", Reply(200, "late", delay=5))
    srv.script("GET", "/flaky", Reply(500), Reply(200, "ok"))   # one per request, last repeats
    url = srv.url("/v1/chat")
    ...
    srv.requests       # every request received: Request(method, path, headers, body)
    srv.close()

Later fakes (OpenAI, Anthropic, Gemini, webhooks) build on this with handlers that speak
those services' real JSON.
"""
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: object = b""            # bytes, str, or anything JSON-serialisable
    headers: dict = field(default_factory=dict)
    delay: float = 0.0            # seconds before the status line is sent
    drip: float = 0.0             # seconds between body chunks (sent 1 byte at a time)
    redirect: str = None          # Location header value, for 3xx

    def encoded(self):
        b = self.body
        if isinstance(b, bytes):
            return b, None
        if isinstance(b, str):
            return b.encode(), "text/plain; charset=utf-8"
        return json.dumps(b).encode(), "application/json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _serve(self):
        srv = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with srv.lock:
            srv.requests.append(req)
        reply = srv.reply_for(req)
        if callable(reply):
            reply = reply(req)
        if reply.delay:
            time.sleep(reply.delay)
        data, ctype = reply.encoded()
        try:
            self.send_response(reply.status)
            headers = dict(reply.headers)
            if ctype and "Content-Type" not in headers:
                headers["Content-Type"] = ctype
            if reply.redirect:
                headers["Location"] = reply.redirect
            headers["Content-Length"] = str(len(data))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            if reply.drip:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(reply.drip)
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # dwc hanging up on a slow reply (its timeout tests) is expected, not a failure
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class FakeHTTP:
    def __init__(self, tls=False):
        self.requests = []
        self.lock = threading.Lock()
        self._routes = {}
        self._scripts = {}
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self
        self.tls = tls
        if tls:
            self._certdir = tempfile.mkdtemp(prefix="dwc-fake-tls-")
            cert = os.path.join(self._certdir, "cert.pem")
            key = os.path.join(self._certdir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path="/"):
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.port, path)

    def route(self, method, path, reply):
        """Answer every `method path` request with `reply` (a Reply or a function of Request)."""
        self._routes[(method, path)] = reply

    def script(self, method, path, *replies):
        """Answer successive requests with successive replies; the last one repeats."""
        self._scripts[(method, path)] = list(replies)

    def reply_for(self, req):
        key = (req.method, req.path.split("?")[0])
        with self.lock:
            script = self._scripts.get(key)
            if script:
                return script.pop(0) if len(script) > 1 else script[0]
        return self._routes.get(key, Reply(404, {"error": "no route for %s %s" % key}))

    def count(self, method=None, path=None):
        with self.lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method)
                       and (path is None or r.path.split("?")[0] == path))

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
