"""What PostgREST does for one request, replayed over a psycopg2 connection.

    rest = PostgREST(conn, secret)
    status, body = rest.rpc("login", {"username": "ana", "password": "..."})
    status, body = rest.rpc("me", {}, token=access_token)
    status, body = rest.rpc("list_workflows", {}, api_key=key, get=True)

Per request, as PostgREST 12 does: verify the JWT (HS256, exp, aud) with its own code, here
Python's hmac, independent of dwc's; open a transaction (READ ONLY for GET); SET LOCAL ROLE
to the token's role claim or the anonymous role; set request.jwt.claims, request.headers,
request.method and request.path; call the pre-request function; call the function with named
arguments; read response.status; commit, or roll back on error. Errors become HTTP statuses
with PostgREST's mapping (docs.postgrest.org, "Errors").
"""
import base64
import hashlib
import hmac
import json
import time

import psycopg2
import psycopg2.extras

def read_conf(path=None):
    """The settings of the shipped postgrest.conf (key = "value" lines; # starts a comment)."""
    import os
    import shlex
    path = path or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "postgrest.conf")
    conf = {}
    with open(path) as f:
        for line in f:
            lex = shlex.shlex(line, posix=True)
            lex.commenters = "#"
            lex.whitespace_split = True
            lex.wordchars += "=-."
            words = list(lex)
            if len(words) >= 3 and words[1] == "=":
                conf[words[0]] = words[2]
            elif len(words) == 2 and words[1] == "=":
                conf[words[0]] = ""
    return conf


# what the replay does comes from the file the project ships
CONF = read_conf()
ANON = CONF["db-anon-role"]
SCHEMA = CONF["db-schemas"]


def _b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def http_status(sqlstate, anonymous):
    """PostgREST's SQLSTATE -> HTTP status mapping."""
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    exact = {"23503": 409, "23505": 409, "25006": 405, "53400": 500, "42883": 404, "42P01": 404, "P0001": 400}
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate == "42501":
        return 401 if anonymous else 403
    prefixes = [("08", 503), ("09", 500), ("0L", 403), ("0P", 403), ("25", 500), ("28", 403), ("2D", 500),
                ("38", 500), ("39", 500), ("3B", 500), ("40", 500), ("53", 503), ("54", 413), ("55", 500),
                ("57", 500), ("58", 500), ("F0", 500), ("HV", 500), ("P0", 500), ("XX", 500)]
    for p, status in prefixes:
        if sqlstate.startswith(p):
            return status
    return 400


def _adapt(v):
    """JSON objects (and arrays of them) go as json, as PostgREST passes them to jsonb parameters."""
    if isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict) for x in v)):
        return psycopg2.extras.Json(v)
    return v


class PostgREST:
    def __init__(self, conn, secret, audience=CONF["jwt-aud"], pre_request=CONF["db-pre-request"]):
        self.conn = conn
        self.secret = secret.encode()
        self.audience = audience
        self.pre_request = pre_request
        conn.autocommit = True

    def verify(self, token):
        """PostgREST's JWT check; returns claims or raises ValueError('...') -> 401."""
        try:
            h, p, s = token.split(".")
        except ValueError:
            raise ValueError("malformed token")
        header = json.loads(_b64url_decode(h))
        if header.get("alg") != "HS256":
            raise ValueError("wrong algorithm")
        mac = hmac.new(self.secret, (h + "." + p).encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(mac, _b64url_decode(s)):
            raise ValueError("JWSError JWSInvalidSignature")
        claims = json.loads(_b64url_decode(p))
        if "exp" in claims and time.time() > claims["exp"]:
            raise ValueError("JWT expired")
        if self.audience and "aud" in claims and claims["aud"] != self.audience:
            raise ValueError("JWT not in audience")
        return claims

    def sign(self, claims):
        """An HS256 token for claims, signed as an identity provider sharing the secret would."""
        enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        claims = dict({"aud": self.audience} if self.audience else {}, **claims)
        head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + enc(json.dumps(claims).encode())
        return head + "." + enc(hmac.new(self.secret, head.encode(), hashlib.sha256).digest())

    def enter(self, cur, claims, headers=None, path=None):
        """Inside an open transaction, become the request PostgREST would make for a token
        with these claims: SET LOCAL ROLE, request.jwt.claims and request.headers (with the
        Authorization header, which PostgREST passes like every other)."""
        hdrs = {"x-forwarded-for": "203.0.113.7", "user-agent": "dwc-contract-test"}
        if claims:
            hdrs["authorization"] = "Bearer " + self.sign(claims)
        hdrs.update(headers or {})
        cur.execute("SET LOCAL ROLE %s" % claims.get("role", ANON))
        cur.execute("SELECT set_config('request.jwt.claims', %s, true), set_config('request.headers', %s, true), "
                    "set_config('request.path', %s, true)", (json.dumps(claims), json.dumps(hdrs), path or "/"))

    def rpc(self, function, args=None, token=None, api_key=None, get=False, headers=None, path=None, raw=None):
        """raw: a request body for a function with a single unnamed json parameter, which
        PostgREST passes as sent (args are then ignored)."""
        args = args or {}
        claims = {}
        if token is not None:
            try:
                claims = self.verify(token)
            except ValueError as e:
                return 401, {"code": "PGRST301", "message": str(e)}
        role = claims.get("role", ANON)
        hdrs = {"x-forwarded-for": "203.0.113.7", "user-agent": "dwc-contract-test"}
        if token is not None:
            hdrs["authorization"] = "Bearer " + token   # PostgREST passes every header
        if api_key is not None:
            hdrs["x-api-key"] = api_key
        hdrs.update(headers or {})
        cur = self.conn.cursor()
        cur.execute("BEGIN" + (" READ ONLY" if get else ""))
        try:
            cur.execute("SET LOCAL ROLE %s" % role)
            cur.execute("SELECT set_config('request.jwt.claims', %s, true), set_config('request.headers', %s, true), "
                        "set_config('request.method', %s, true), set_config('request.path', %s, true)",
                        (json.dumps(claims), json.dumps(hdrs), "GET" if get else "POST",
                         path or "/rpc/" + function))
            if self.pre_request:
                cur.execute("SELECT %s()" % self.pre_request)
            if raw is not None:
                cur.execute("SELECT %s.%s(%%s::json)" % (SCHEMA, function), (raw,))
            else:
                # quoted like PostgREST does, so argument names that are keywords ("limit") work
                named = ", ".join("\"%s\" := %%(%s)s" % (k, k) for k in args)
                cur.execute("SELECT %s.%s(%s)" % (SCHEMA, function, named), {k: _adapt(v) for k, v in args.items()})
            body = cur.fetchone()[0]
            cur.execute("SELECT current_setting('response.status', true)")
            status = int(cur.fetchone()[0] or 200)
            cur.execute("COMMIT")
            return status, body
        except psycopg2.Error as e:
            cur.execute("ROLLBACK")
            return http_status(e.pgcode, role == ANON), {"code": e.pgcode, "message": e.diag.message_primary,
                                                          "details": e.diag.message_detail, "hint": e.diag.message_hint}
        finally:
            cur.close()
