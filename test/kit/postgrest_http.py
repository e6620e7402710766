"""The PostgREST replay (postgrest.py) behind a real HTTP socket, for what must sit in front of
PostgREST in a test (the nginx of contrib/seed-api): POST /rpc/<name> with a JSON object body,
GET /rpc/<name>?arg=value, the Authorization and other headers passed on. The answer is the
replay's status and JSON body. One request at a time, on the replay's one connection.

    with PostgRESTHTTP(rest) as server:
        urllib.request.urlopen(server.url + "/rpc/health")
"""
import http.server
import json
import threading
import urllib.parse


class PostgRESTHTTP:
    def __init__(self, rest):
        self.rest = rest
        replay = rest

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _call(self, get):
                url = urllib.parse.urlsplit(self.path)
                if not url.path.startswith("/rpc/"):
                    return self._answer(404, {"code": "PGRST125", "message": "not a function's path"})
                args = dict(urllib.parse.parse_qsl(url.query)) if get else {}
                if not get:
                    raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    try:
                        args = json.loads(raw or b"{}")
                    except ValueError:
                        return self._answer(400, {"code": "PGRST102", "message": "the body is not JSON"})
                    if not isinstance(args, dict):
                        return self._answer(400, {"code": "PGRST102", "message": "the body is not an object"})
                auth = self.headers.get("Authorization", "")
                token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
                headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
                status, body = replay.rpc(url.path[len("/rpc/"):], args, token=token, get=get, headers=headers,
                                          api_key=self.headers.get("X-API-Key"))
                self._answer(status, body)

            def do_GET(self):
                self._call(True)

            def do_POST(self):
                self._call(False)

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
