"""Loopback stand-ins for AI providers, speaking their real wire formats.

    ai = FakeAI("openai")            # or "anthropic", "google", "openai_compatible"
    ai.base_url                      # what dwc.add_provider(base_url => ...) takes
    ai.key                           # the API key it accepts (None: any, for openai_compatible)
    ai.fail_next(Reply(429, ..., headers={"Retry-After": "1"}))   # then normal answers resume
    ai.calls("chat") / ai.calls("embed")                           # requests that reached it

Each fake checks what the real service would reject: the auth header, the path, the body's
required fields. A request it would reject gets the service's own error shape (401 for a bad
key, 400 for a bad body), so a dwc bug shows up as a test failure, not a silent pass.

Answers are deterministic: the reply text is "[<kind> <model>] " followed by the last user
message, so tests can see which message reached the provider. Token usage is counted as
words, the way these services report usage fields.
"""
import threading

from fakehttp import FakeHTTP, Reply

KEYS = {
    "openai": "sk-test-openai-5f2b9c1e7a",
    "anthropic": "sk-ant-test-8d41c0e2b9",
    "google": "AIza-test-google-3c7e91d0",
    "openai_compatible": None,
}


def _words(s):
    return len(str(s).split())


class FakeAI:
    def __init__(self, kind, key=None, tls=False):
        assert kind in KEYS, kind
        self.kind = kind
        self.key = key if key is not None else KEYS[kind]
        self.http = FakeHTTP(tls=tls)
        self._lock = threading.Lock()
        self._failures = []          # replies served before normal answers, in order
        self.delay = 0.0             # seconds before each normal answer
        self.reply_text = None       # override the answer text
        self.embedding_dim = 8
        prefix = {"openai": "/v1", "anthropic": "/v1", "google": "/v1beta",
                  "openai_compatible": "/v1"}[kind]
        self.base_url = self.http.url(prefix)
        self._prefix = prefix
        self._install_routes()

    # ---- scripting -------------------------------------------------------------------

    def fail_next(self, *replies):
        """Serve these replies (Reply objects) to the next requests, then answer normally."""
        with self._lock:
            self._failures.extend(replies)

    def calls(self, what=None):
        """Requests received: all, or only "chat" or "embed" ones."""
        with self.http.lock:
            reqs = list(self.http.requests)
        if what is None:
            return reqs
        return [r for r in reqs if self._what(r.path) == what]

    def close(self):
        self.http.close()

    # ---- the services ----------------------------------------------------------------

    def _what(self, path):
        path = path.split("?")[0]
        if path.endswith("/chat/completions") or path.endswith("/messages") or path.endswith(":generateContent"):
            return "chat"
        if path.endswith("/embeddings") or path.endswith(":embedContent"):
            return "embed"
        return "other"

    def _install_routes(self):
        p = self._prefix
        if self.kind in ("openai", "openai_compatible"):
            self.http.route("POST", p + "/chat/completions", self._handle)
            self.http.route("POST", p + "/embeddings", self._handle)
        elif self.kind == "anthropic":
            self.http.route("POST", p + "/messages", self._handle)
        else:
            # Gemini puts the model in the path; FakeHTTP routes exact paths, so dispatch here
            self.http.reply_for = self._google_reply_for

    def _google_reply_for(self, req):
        path = req.path.split("?")[0]
        if req.method == "POST" and path.startswith(self._prefix + "/models/") and \
                (path.endswith(":generateContent") or path.endswith(":embedContent")):
            return self._handle
        return Reply(404, {"error": {"code": 404, "message": "not found: %s" % path, "status": "NOT_FOUND"}})

    def _handle(self, req):
        with self._lock:
            scripted = self._failures.pop(0) if self._failures else None
        if scripted is not None:
            return scripted
        bad = self._auth_error(req)
        if bad:
            return bad
        try:
            body = req.json()
        except ValueError:
            return self._error(400, "request body is not JSON")
        what = self._what(req.path)
        try:
            reply = self._chat(req, body) if what == "chat" else self._embed(req, body)
        except (KeyError, TypeError, IndexError, AssertionError) as e:
            return self._error(400, "invalid request: %r" % (e,))
        reply.delay = self.delay
        return reply

    def _auth_error(self, req):
        h = req.headers
        if self.kind in ("openai", "openai_compatible"):
            if self.key is None:
                return None
            if h.get("authorization") != "Bearer " + self.key:
                return Reply(401, {"error": {"message": "Incorrect API key provided.",
                                             "type": "invalid_request_error", "code": "invalid_api_key"}})
        elif self.kind == "anthropic":
            if h.get("anthropic-version") != "2023-06-01":
                return self._error(400, "anthropic-version header is required")
            if h.get("x-api-key") != self.key:
                return Reply(401, {"type": "error", "error": {"type": "authentication_error",
                                                               "message": "invalid x-api-key"}})
        else:
            if h.get("x-goog-api-key") != self.key or "key=" in req.path:
                return Reply(403, {"error": {"code": 403, "message": "API key not valid. Please pass a valid API key.",
                                             "status": "PERMISSION_DENIED"}})
        return None

    def _error(self, status, message):
        if self.kind == "anthropic":
            return Reply(status, {"type": "error", "error": {"type": "invalid_request_error", "message": message}})
        if self.kind == "google":
            return Reply(status, {"error": {"code": status, "message": message, "status": "INVALID_ARGUMENT"}})
        return Reply(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def _answer(self, model, last_user):
        if self.reply_text is not None:
            return self.reply_text
        return "[%s %s] %s" % (self.kind, model, last_user)

    def _chat(self, req, body):
        if self.kind in ("openai", "openai_compatible"):
            model = body["model"]
            msgs = body["messages"]
            assert isinstance(msgs, list) and msgs
            for m in msgs:
                assert m["role"] in ("system", "user", "assistant") and isinstance(m["content"], str)
            last = [m["content"] for m in msgs if m["role"] == "user"][-1]
            text = self._answer(model, last)
            return Reply(200, {
                "id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": sum(_words(m["content"]) for m in msgs),
                          "completion_tokens": _words(text),
                          "total_tokens": sum(_words(m["content"]) for m in msgs) + _words(text)}})
        if self.kind == "anthropic":
            model = body["model"]
            assert isinstance(body["max_tokens"], int)
            msgs = body["messages"]
            assert msgs and msgs[0]["role"] == "user"
            for m in msgs:
                assert m["role"] in ("user", "assistant"), "system goes in the top-level system field"
            last = [m["content"] for m in msgs if m["role"] == "user"][-1]
            text = self._answer(model, last)
            return Reply(200, {
                "id": "msg_test", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "usage": {"input_tokens": sum(_words(m["content"]) for m in msgs) + _words(body.get("system", "")),
                          "output_tokens": _words(text)}})
        # google generateContent
        model = req.path.split("/models/")[1].split(":")[0]
        contents = body["contents"]
        assert contents
        for c in contents:
            assert c["role"] in ("user", "model") and c["parts"][0]["text"] is not None
        last = [c["parts"][0]["text"] for c in contents if c["role"] == "user"][-1]
        text = self._answer(model, last)
        prompt_tokens = sum(_words(c["parts"][0]["text"]) for c in contents)
        return Reply(200, {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": _words(text),
                              "totalTokenCount": prompt_tokens + _words(text)},
            "modelVersion": model})

    def _vector(self, text):
        v = [0.0] * self.embedding_dim
        for w in str(text).lower().split():
            v[sum(map(ord, w)) % self.embedding_dim] += 1.0
        return v

    def _embed(self, req, body):
        if self.kind == "google":
            text = body["content"]["parts"][0]["text"]
            return Reply(200, {"embedding": {"values": self._vector(text)}})
        assert self.kind != "anthropic", "Anthropic has no embeddings API"
        text = body["input"]
        assert isinstance(text, str)
        return Reply(200, {"object": "list", "model": body["model"],
                           "data": [{"object": "embedding", "index": 0, "embedding": self._vector(text)}],
                           "usage": {"prompt_tokens": _words(text), "total_tokens": _words(text)}})
