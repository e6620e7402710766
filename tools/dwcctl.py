"""The body of ./dwcctl: the local cluster tool and the entry point of the test command."""
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))

from cluster import Cluster, owner_can_reach  # noqa: E402

DEFAULT_PORT = 5499
DB = "dwc"


def say(msg):
    print("dwc: " + msg, flush=True)


def local_base():
    """The local cluster's directory: .cluster/ in the checkout, unless the cluster owner
    (postgres, when run as root) cannot reach the checkout, e.g. under /root."""
    if os.environ.get("DWC_CLUSTER_DIR"):
        return os.environ["DWC_CLUSTER_DIR"]
    if owner_can_reach(ROOT):
        return os.path.join(ROOT, ".cluster")
    tag = hashlib.sha1(ROOT.encode()).hexdigest()[:8]
    base = "/var/tmp/dwc-cluster-%s" % tag
    say("the postgres user cannot reach %s; the cluster lives in %s" % (ROOT, base))
    return base


def build(werror=False):
    jobs = str(os.cpu_count() or 2)
    args = ["make", "-s", "-j", jobs] + (["WERROR=1"] if werror else [])
    say("building" + (" (warnings are errors)" if werror else ""))
    subprocess.run(args, cwd=ROOT, check=True)
    libdir = subprocess.check_output(["pg_config", "--pkglibdir"], text=True).strip()
    if not os.access(libdir, os.W_OK):
        sys.exit("dwc: cannot write to %s; run as root (or with sudo) to install" % libdir)
    subprocess.run(["make", "-s", "install"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    say("installed into %s" % libdir)


def configured_port(base):
    """The port an existing cluster was set up with (the last port = line of its
    postgresql.conf), or None."""
    port = None
    try:
        with open(os.path.join(base, "data", "postgresql.conf")) as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() == "port":
                    port = int(value.split("#")[0].strip().strip("'"))
    except (OSError, ValueError):
        return None
    return port


def local_cluster():
    """The local cluster, on the port it was made with: status, psql and stop need no
    DWC_PORT after an up that used one. DWC_PORT given to up moves it (see cmd_up)."""
    base = local_base()
    port = configured_port(base)
    if port is None or "DWC_PORT" in os.environ:
        port = int(os.environ.get("DWC_PORT", port or DEFAULT_PORT))
    return Cluster(base, port=port, settings={"dwc.databases": "'%s'" % DB})


def installed_library_digest():
    lib = os.path.join(subprocess.check_output(["pg_config", "--pkglibdir"], text=True).strip(), "dwc.so")
    with open(lib, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def loaded_stamp(cluster):
    """Where we note which dwc.so the running server loaded (a restart loads a new one)."""
    return os.path.join(cluster.base, "loaded-library.sha256")


def note_loaded_library(cluster):
    with open(loaded_stamp(cluster), "w") as f:
        f.write(installed_library_digest())


def library_changed(cluster):
    try:
        with open(loaded_stamp(cluster)) as f:
            return f.read().strip() != installed_library_digest()
    except FileNotFoundError:
        return True


def install_script_digest(version):
    share = subprocess.check_output(["pg_config", "--sharedir"], text=True).strip()
    with open(os.path.join(share, "extension", "dwc--%s.sql" % version), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def script_stamp(cluster):
    """Which install script created the extension in the local database."""
    return os.path.join(cluster.base, "install-script.sha256")


def ensure_database(cluster):
    if not cluster.scalar("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)):
        cluster.sql('CREATE DATABASE "%s"' % DB)
    installed = cluster.scalar("SELECT extversion FROM pg_extension WHERE extname = 'dwc'", dbname=DB)
    available = cluster.scalar("SELECT default_version FROM pg_available_extensions WHERE name = 'dwc'", dbname=DB)
    try:
        with open(script_stamp(cluster)) as f:
            stamp = f.read().strip()
    except FileNotFoundError:
        stamp = None
    if installed is not None and installed == available and stamp != install_script_digest(installed):
        # a development build changed the install script without a new version: there is no
        # upgrade path, so this local demo database starts again
        cluster.sql("DROP EXTENSION dwc CASCADE", dbname=DB)
        say("the install script of dwc %s changed since the extension was created here (a development "
            "build): recreating it in database %s; its dwc data is gone" % (installed, DB))
        installed = None
    if installed is None:
        cluster.sql("CREATE EXTENSION dwc", dbname=DB)
        say("created extension dwc in database %s" % DB)
    elif installed != available:
        cluster.sql("ALTER EXTENSION dwc UPDATE", dbname=DB)
        say("updated extension dwc in database %s" % DB)
    with open(script_stamp(cluster), "w") as f:
        f.write(install_script_digest(available))


def print_rows(cur):
    cols = [d[0] for d in cur.description]
    rows = [["" if v is None else str(v) for v in r] for r in cur.fetchall()]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    print("  " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("  " + "-+-".join("-" * w for w in widths))
    for r in rows:
        print("  " + " | ".join(v.ljust(w) for v, w in zip(r, widths)))


# A provider for the demo from the environment, first match wins: (kind, key variable,
# base URL variable). The key stays in the server's environment (api_key_env): it never
# appears in SQL text, tables or logs.
DEMO_PROVIDERS = [
    ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ("anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    ("google", "GEMINI_API_KEY", "GEMINI_BASE_URL"),
    ("openai_compatible", None, "DWC_AI_BASE_URL"),
]


def demo_provider(cluster):
    """Register the demo provider named by the environment; returns its name ('builtin' if none)."""
    for kind, key_var, url_var in DEMO_PROVIDERS:
        key = os.environ.get(key_var) if key_var else None
        url = os.environ.get(url_var)
        if (key_var and key) or (not key_var and url):
            model = os.environ.get("DWC_AI_MODEL")
            cluster.sql("DELETE FROM dwc.ai_providers WHERE name = 'demo'", dbname=DB)
            cluster.sql("SELECT dwc.add_provider('demo', %s, base_url => %s, default_model => %s, "
                        "api_key_env => %s)", (kind, url, model, key_var), dbname=DB)
            say("using the %s provider from the environment (%s)" % (kind, key_var or url_var))
            return "demo"
    say("using the builtin provider (offline, deterministic; set OPENAI_API_KEY, ANTHROPIC_API_KEY, "
        "GEMINI_API_KEY or DWC_AI_BASE_URL for a model)")
    return "builtin"


def main_job(cluster):
    """The main job: a document workflow chain end to end on the running workers."""
    want = cluster.scalar("SHOW dwc.job_workers", dbname=DB)
    say("main job: waiting for the launcher and %s job workers to be idle in database %s" % (want, DB))
    cluster.wait_for("SELECT count(*) = current_setting('dwc.job_workers')::int "
                     "FROM dwc.status() WHERE kind = 'job' AND state = 'idle' "
                     "AND database = current_database()", dbname=DB, timeout=60,
                     message="dwc workers did not come up")
    provider = demo_provider(cluster)
    with contextlib.closing(cluster.connect(DB)) as conn, conn.cursor() as cur:
        cur.execute("SELECT dwc.version()")
        say("dwc %s is running; a document workflow chain, end to end:" % cur.fetchone()[0])
        cur.execute("SELECT dwc.create_chain(%s, %s, provider => %s, context_budget => 3000, max_tokens => 400)",
                    ("Home solar guide " + time.strftime("%Y-%m-%d %H:%M:%S"),
                     "Write an introduction to rooftop solar panels for homeowners: costs, savings, "
                     "installation and maintenance.", provider))
        chain = cur.fetchone()[0]
        cid = chain["id"]
        say("created chain %d with its first document" % cid)
        # the second document in this session; the third as a queue job, announced by NOTIFY
        cur.execute("SELECT dwc.continue_chain(%s)", (cid,))
        say("continued chain %d (prompt derived from the first document)" % cid)
        cur.execute("LISTEN dwc_chain_%d" % cid)
        cur.execute("SELECT dwc.continue_chain_async(%s, 'Explain financing options and incentives.')", (cid,))
        job = cur.fetchone()[0]
        say("continued chain %d as job %d; waiting for its notification" % (cid, job))
        deadline = time.monotonic() + 120
        done = False
        while not done and time.monotonic() < deadline:
            conn.poll()
            for n in conn.notifies:
                if '"document_created"' in n.payload or '"continue_failed"' in n.payload:
                    done = True
            conn.notifies.clear()
            if not done:
                time.sleep(0.05)
        cur.execute("SELECT status, result, last_error FROM dwc.job_history WHERE id = %s "
                    "UNION ALL SELECT status, NULL, last_error FROM dwc.jobs WHERE id = %s", (job, job))
        row = cur.fetchone()
        if not done or row is None or row[0] != "succeeded" or not (row[1] or {}).get("ok"):
            sys.exit("dwc: the chain job did not complete: %r" % (row,))
        print()
        cur.execute("SELECT id AS document, coalesce(parent_id::text, '-') AS parent, title, "
                    "round(quality_score::numeric, 1) AS quality, tokens_out AS tokens, provider "
                    "FROM dwc.documents WHERE chain_id = %s ORDER BY id", (cid,))
        print_rows(cur)
        print()
        cur.execute("SELECT dwc.chain_analytics(%s)", (cid,))
        a = cur.fetchone()[0]
        say("chain %d: %d documents, %d tokens out, average quality %s; "
            "see it all with: SELECT dwc.export_chain_markdown(%d);"
            % (cid, a["documents"], a["tokens_out"], a["average_quality"], cid))


def cmd_up():
    build()
    c = local_cluster()
    if not c.exists():
        say("creating a cluster in %s (port %d)" % (c.base, c.port))
        c.init()
    elif configured_port(c.base) != c.port:
        # DWC_PORT names another port than the cluster's: move it, for good
        say("moving the cluster to port %d" % c.port)
        c.set_conf({"port": str(c.port)})
        if c.is_running():
            c.restart()
    if c.is_running():
        if library_changed(c):
            say("restarting the cluster to load the new library")
            c.restart()
        else:
            say("reusing the running cluster in %s" % c.base)
    else:
        say("starting the cluster in %s" % c.base)
        c.start()
    note_loaded_library(c)
    ensure_database(c)
    main_job(c)
    print()
    say("connect with:  psql -h %s -p %d -U postgres %s   (or ./dwcctl psql)" % (c.socket_dir, c.port, DB))
    say("stop with:     ./dwcctl stop")


def cmd_status():
    c = local_cluster()
    if not c.exists():
        say("no local cluster in %s (./dwcctl up creates it)" % c.base)
        return 1
    if not c.is_running():
        say("the local cluster in %s is stopped" % c.base)
        return 3
    say("the local cluster in %s is running on port %d" % (c.base, c.port))
    with c.connect(DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT kind, slot, pid, database, started_at, state FROM dwc.status() "
                    "ORDER BY kind <> 'launcher', kind, slot")
        print_rows(cur)
    return 0


def cmd_stop():
    c = local_cluster()
    if c.exists() and c.is_running():
        c.stop()
        say("stopped the local cluster")
    else:
        say("the local cluster is not running")
    return 0


def cmd_destroy():
    c = local_cluster()
    c.destroy()
    say("deleted %s" % c.base)
    return 0


def cmd_psql(args):
    c = local_cluster()
    os.execvp("psql", ["psql", "-h", c.socket_dir, "-p", str(c.port), "-U", "postgres", DB] + args)


def cmd_test(args):
    build(werror=True)
    os.execv(sys.executable, [sys.executable, os.path.join(ROOT, "test", "run.py")] + args)


HELP = """usage: ./dwcctl [command] [arguments]

  up                  install what is missing, build, install, start the local cluster and
                      run the main job (a document workflow chain); the default command
  test [--suite regress|integration] [-k EXPR]
                      install what is missing, build with -Werror, install, run the tests;
                      ends with one line "N passed, N failed"
  status              whether the local cluster runs, and dwc.status() when it does
  logs [-f] [N]       the last N lines (default 50) of the local cluster's server log;
                      -f keeps printing what is added
  psql [psql args]    psql into the local cluster's dwc database
  stop                stop the local cluster
  destroy             stop the local cluster and delete it
  help                this text

The local cluster lives in .cluster/ of the checkout (or DWC_CLUSTER_DIR) on port 5499 (or
DWC_PORT). See README.md and docs/install.md."""


def cmd_logs(args):
    follow = "-f" in args
    rest = [a for a in args if a != "-f"]
    try:
        lines = int(rest[0]) if rest else 50
    except ValueError:
        sys.exit("dwc: logs takes a number of lines, not %r" % rest[0])
    c = local_cluster()
    if not os.path.exists(c.logfile):
        say("no server log in %s (./dwcctl up creates the cluster)" % c.base)
        return 1
    cmd = ["tail", "-n", str(lines)] + (["-F"] if follow else []) + [c.logfile]
    os.execvp("tail", cmd)


def main(argv):
    cmd = argv[0] if argv else "up"
    rest = argv[1:]
    if cmd in ("help", "-h", "--help"):
        print(HELP)
        return 0
    if cmd == "logs":
        return cmd_logs(rest)
    if cmd == "up":
        cmd_up()
        return 0
    if cmd == "test":
        return cmd_test(rest)
    if cmd == "status":
        return cmd_status()
    if cmd == "stop":
        return cmd_stop()
    if cmd == "destroy":
        return cmd_destroy()
    if cmd == "psql":
        return cmd_psql(rest)
    print("dwc: unknown command %r\n" % cmd + HELP, file=sys.stderr)
    return 2


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # ./dwcctl status | head
    try:
        sys.exit(main(sys.argv[1:]))
    except subprocess.CalledProcessError as e:
        sys.exit("dwc: command failed (exit %d): %s" % (e.returncode, " ".join(map(str, e.cmd))))
