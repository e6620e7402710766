"""A real PostgreSQL cluster with dwc preloaded, for tests and the local tool.

Runs initdb and pg_ctl as the `postgres` OS user when the caller is root (PostgreSQL
refuses to run as root), as the caller otherwise. Clients connect over a private Unix
socket directory, so several clusters run side by side without touching TCP ports.
"""
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import psycopg2

PG_CONFIG = os.environ.get("PG_CONFIG", "pg_config")


def pg_bindir():
    return subprocess.check_output([PG_CONFIG, "--bindir"], text=True).strip()


def owner_user():
    """The OS user that owns and runs clusters: postgres when we are root."""
    return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def as_owner(cmd):
    """Prefix a command so that it runs as the cluster owner."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def chown_to_owner(path):
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def owner_can_reach(path):
    """Whether the cluster owner can traverse into `path` (a checkout under /root cannot)."""
    if os.geteuid() != 0:
        return True
    return subprocess.run(as_owner(["test", "-x", path]), cwd="/").returncode == 0


class Cluster:
    """One PostgreSQL cluster: initdb, configure, start, stop, restart, query.

    base: a directory for the cluster; data/ and the socket live inside it.
    settings: extra postgresql.conf lines, as a dict.
    """

    def __init__(self, base, port=5499, settings=None, preload=True, env=None):
        self.base = os.path.abspath(base)
        self.env = dict(env or {})          # extra environment of the server processes
        self.data = os.path.join(self.base, "data")
        self.socket_dir = self.base
        self.logfile = os.path.join(self.base, "postgres.log")
        self.port = port
        self.preload = preload
        self.settings = dict(settings or {})
        self.bindir = pg_bindir()

    # ---- life cycle -------------------------------------------------------------

    def exists(self):
        return os.path.exists(os.path.join(self.data, "PG_VERSION"))

    def _run(self, cmd, check=True, **kw):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", LC_ALL="C.UTF-8", **self.env)
        return subprocess.run(as_owner(cmd), cwd=self.base, env=env, check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)

    def init(self):
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o755)
        chown_to_owner(self.base)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "-N"])
        conf = {
            "port": str(self.port),
            "listen_addresses": "''",
            "unix_socket_directories": "'%s'" % self.socket_dir,
            "max_worker_processes": "32",
            "log_line_prefix": "'%m [%p] %b '",
            "fsync": "off",
        }
        if self.preload:
            conf["shared_preload_libraries"] = "'dwc'"
        conf.update(self.settings)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# written by dwc's test kit\n")
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        return self

    def set_conf(self, settings):
        """Append settings ({name: value as written in postgresql.conf}) to postgresql.conf;
        they take effect at the next reload or restart."""
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))

    def is_running(self):
        return self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "status"],
                         check=False).returncode == 0

    def start(self, timeout=60):
        r = self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                       "-w", "-t", str(timeout), "start"], check=False)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed:\n%s\n--- log ---\n%s" % (r.stdout, self.log_tail()))
        return self

    def stop(self, mode="fast"):
        if self.exists() and self.is_running():
            self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-m", mode, "stop"],
                      check=False)

    def restart(self, mode="fast", timeout=60):
        r = self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                       "-w", "-t", str(timeout), "-m", mode, "restart"], check=False)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl restart failed:\n%s\n--- log ---\n%s" % (r.stdout, self.log_tail()))
        return self

    def reload(self):
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "reload"])

    def destroy(self):
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    @staticmethod
    def kill9(pid):
        os.kill(pid, signal.SIGKILL)

    def kill9_postmaster(self, timeout=60):
        """kill -9 of the postmaster, then wait until its orphans have exited by themselves
        (a start waits for their shared memory) and its PID is gone, not a zombie (for its
        lock file to be taken over). The server is left stopped."""
        postmaster = self.postmaster_pid()
        # stopped first, so that it forks no process after its children are listed
        os.kill(postmaster, signal.SIGSTOP)
        children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent_of(int(p)) == postmaster]
        self.kill9(postmaster)
        deadline = time.time() + timeout
        while any(_alive(p) for p in children) or os.path.exists("/proc/%d" % postmaster):
            if time.time() > deadline:
                raise RuntimeError("orphaned server processes still running after %d s" % timeout)
            time.sleep(0.05)

    # ---- logs -------------------------------------------------------------------

    def log_text(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_size(self):
        try:
            return os.path.getsize(self.logfile)
        except FileNotFoundError:
            return 0

    def log_since(self, offset):
        with open(self.logfile, errors="replace") as f:
            f.seek(offset)
            return f.read()

    # ---- SQL --------------------------------------------------------------------

    def dsn(self, dbname="postgres", user="postgres"):
        return "host=%s port=%d dbname=%s user=%s" % (self.socket_dir, self.port, dbname, user)

    def connect(self, dbname="postgres", user="postgres", autocommit=True):
        conn = psycopg2.connect(self.dsn(dbname, user))
        conn.autocommit = autocommit
        return conn

    def sql(self, query, params=None, dbname="postgres", user="postgres"):
        """Run one statement in its own connection; return all rows (or None)."""
        with contextlib.closing(self.connect(dbname, user)) as conn:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None

    def scalar(self, query, params=None, dbname="postgres", user="postgres"):
        rows = self.sql(query, params, dbname, user)
        return rows[0][0] if rows else None

    def psql(self, *args, dbname="postgres"):
        """psql as a subprocess (for tests of what psql users see)."""
        cmd = [os.path.join(self.bindir, "psql"), "-X", "-h", self.socket_dir, "-p", str(self.port),
               "-U", "postgres", "-d", dbname] + list(args)
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(self, query, params=None, dbname="postgres", timeout=30.0, interval=0.05,
                 message=None):
        """Poll until `query` returns a true first column; tolerate restarts meanwhile.

        Returns the value; raises AssertionError on timeout with the last value or error.
        """
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                value = self.scalar(query, params, dbname)
                if value:
                    return value
                last = value
            except psycopg2.Error as e:
                last = "%s: %s" % (type(e).__name__, str(e).strip())
            if time.monotonic() > deadline:
                raise AssertionError("%s: condition not met within %.0f s (last: %r)\n  query: %s"
                                     % (message or "wait_for", timeout, last, query))
            time.sleep(interval)

    def create_database(self, name, extension=True):
        self.sql('CREATE DATABASE "%s"' % name.replace('"', '""'))
        if extension:
            self.sql("CREATE EXTENSION dwc", dbname=name)


def temp_cluster(prefix="dwc-test-", **kw):
    """A cluster in a new directory under /tmp that the owner can use."""
    base = tempfile.mkdtemp(prefix=prefix)
    return Cluster(base, **kw)


def _parent_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            # the command may hold spaces and parentheses: fields follow the last ")"
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def _alive(pid):
    """A process that exists and is not a zombie."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return "zombie" not in f.read().lower()
    except (FileNotFoundError, ProcessLookupError):    # gone, or going while read
        return False
