"""bench/benchkit.py: what the benchmarks share: printing a figure, timing a statement inside
the server, and running pgbench as the cluster's owner."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "kit"))

from cluster import as_owner, chown_to_owner  # noqa: E402


def line(label, value, width=62):
    print("  %-*s %s" % (width, label, value), flush=True)


def pct(values, p):
    """The p-quantile (0..1) of values, interpolated."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p
    f = int(k)
    c = min(f + 1, len(v) - 1)
    return v[f] + (v[c] - v[f]) * (k - f)


def show(label, values_ms):
    line(label, "p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms"
         % (pct(values_ms, .5), pct(values_ms, .95), pct(values_ms, .99)))


def timed_sql(cur, sql, params=None):
    """Server-side time of one statement, in seconds (excludes the client round trip)."""
    cur.execute("DO $$ BEGIN PERFORM set_config('bench.t0', clock_timestamp()::text, false); END $$")
    cur.execute(sql, params)
    cur.execute("SELECT extract(epoch FROM clock_timestamp() - current_setting('bench.t0')::timestamptz)")
    return float(cur.fetchone()[0])


def pgbench(c, db, script, clients, transactions=None, seconds=None):
    """Run a pgbench script (-t transactions per client, or -T seconds) against database db
    of cluster c; returns (wall seconds, pgbench's output). Raises on failure."""
    work = tempfile.mkdtemp(prefix="dwc-bench-")
    chown_to_owner(work)
    path = os.path.join(work, "q.sql")
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o644)
    cmd = [os.path.join(c.bindir, "pgbench"), "-n", "-h", c.socket_dir, "-p", str(c.port), "-U", "postgres",
           "-c", str(clients), "-j", str(clients)]
    cmd += ["-t", str(transactions)] if transactions is not None else ["-T", str(seconds)]
    cmd += ["-f", path, db]
    t0 = time.monotonic()
    r = subprocess.run(as_owner(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stdout)
    return wall, r.stdout
