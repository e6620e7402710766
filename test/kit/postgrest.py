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

A set-returning function is read as PostgREST reads a table: `query` holds the query string's
other parameters (`select=a,b`, `order=a.desc.nullslast,b`, `limit`, `offset`, and filters
`col=eq.x`, `neq`, `gt`, `gte`, `lt`, `lte`, `like`, `ilike`, `is.null`, `in.(a,b)`), the body is
the JSON array of the rows, and `rest.headers["Content-Range"]` is `first-last/total` (`*` without
`Prefer: count=exact`); a partial page of a counted read answers 206.
"""
import re
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


def _bad(what):
    raise ValueError("PGRST100: unsupported " + what)


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
        self.headers = {}           # the last response's headers (Content-Range of a set)
        self._sets = {}
        self._set_status = None
        conn.autocommit = True

    def _read_set(self, cur, function, args, query, hdrs):
        """The rows of a set-returning function as PostgREST reads them: one statement, the
        function called once, its rows filtered, counted (Prefer: count=exact), ordered and paged."""
        cols, where, order, page, params = self._read_query(query)
        named = ", ".join("\"%s\" := %%s" % k for k in args)
        counted = "count=exact" in {k.lower(): v for k, v in hdrs.items()}.get("prefer", "")
        cur.execute("WITH src AS (SELECT * FROM %s.%s(%s) t%s) "
                    "SELECT %s, coalesce((SELECT json_agg(p) FROM (SELECT %s FROM src%s%s) p), '[]')"
                    % (SCHEMA, function, named, where, "(SELECT count(*) FROM src)" if counted else "NULL",
                       cols, order, page),
                    [_adapt(v) for v in args.values()] + params)
        total, body = cur.fetchone()
        first = int((query or {}).get("offset", 0))
        self.headers["Content-Range"] = ("%d-%d" % (first, first + len(body) - 1) if body else "*") + \
            "/" + (str(total) if total is not None else "*")
        self._set_status = 206 if total is not None and len(body) < total - first else None
        return body

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

    def returns_set(self, function):
        if function not in self._sets:
            with self.conn.cursor() as cur:
                cur.execute("SELECT bool_or(proretset) FROM pg_proc WHERE proname = %s AND pronamespace = %s::regnamespace",
                            (function, SCHEMA))
                self._sets[function] = bool(cur.fetchone()[0])
        return self._sets[function]

    @staticmethod
    def _read_query(query):
        """PostgREST's query string over a set: (select list, WHERE, ORDER BY, LIMIT/OFFSET, params)."""
        name = lambda c: '"%s"' % c if re.fullmatch(r"[a-z_][a-z0-9_]*", c) else _bad("column " + c)
        cols, where, order, page, params = "*", [], "", "", []
        ops = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "LIKE",
               "ilike": "ILIKE"}
        for k, v in (query or {}).items():
            if k == "select":
                cols = ", ".join(name(c.strip()) for c in v.split(","))
            elif k == "order":
                terms = []
                for t in v.split(","):
                    parts = t.split(".")
                    term = name(parts[0]) + "".join({"asc": " ASC", "desc": " DESC", "nullsfirst": " NULLS FIRST",
                                                      "nullslast": " NULLS LAST"}.get(m) or _bad("order " + m)
                                                     for m in parts[1:])
                    terms.append(term)
                order = " ORDER BY " + ", ".join(terms)
            elif k in ("limit", "offset"):
                page += " %s %d" % (k.upper(), int(v))
            else:
                op, _, val = v.partition(".")
                if op == "is" and val in ("null", "true", "false"):
                    where.append("%s IS %s" % (name(k), val.upper()))
                elif op == "in":
                    items = [x.strip() for x in val.strip("()").split(",")]
                    where.append("%s::text = ANY(%%s)" % name(k))
                    params.append(items)
                elif op in ops:
                    val = val.replace("*", "%") if op in ("like", "ilike") else val
                    where.append("%s %s %%s" % (name(k), ops[op]))
                    params.append(val)
                else:
                    _bad("operator " + op)
        return cols, (" WHERE " + " AND ".join(where)) if where else "", order, page, params

    def rpc(self, function, args=None, token=None, api_key=None, get=False, headers=None, path=None, raw=None,
            query=None):
        """raw: a request body for a function with a single unnamed json parameter, which
        PostgREST passes as sent (args are then ignored). query: see the module's docstring."""
        args = args or {}
        self.headers = {}
        self._set_status = None
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
                body = cur.fetchone()[0]
            elif self.returns_set(function):
                body = self._read_set(cur, function, args, query, hdrs)
            else:
                # quoted like PostgREST does, so argument names that are keywords ("limit") work
                named = ", ".join("\"%s\" := %%(%s)s" % (k, k) for k in args)
                cur.execute("SELECT %s.%s(%s)" % (SCHEMA, function, named), {k: _adapt(v) for k, v in args.items()})
                body = cur.fetchone()[0]
            cur.execute("SELECT current_setting('response.status', true)")
            status = int(cur.fetchone()[0] or self._set_status or 200)
            cur.execute("COMMIT")
            return status, body
        except ValueError as e:            # a query string PostgREST would refuse
            cur.execute("ROLLBACK")
            return 400, {"code": "PGRST100", "message": str(e)}
        except psycopg2.Error as e:
            cur.execute("ROLLBACK")
            return http_status(e.pgcode, role == ANON), {"code": e.pgcode, "message": e.diag.message_primary,
                                                          "details": e.diag.message_detail, "hint": e.diag.message_hint}
        finally:
            cur.close()
