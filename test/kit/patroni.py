"""A Patroni cluster on loopback: one etcd and two or three PostgreSQL members with dwc
preloaded, each member a Patroni process managing its own server (docs/scaling.md).

Debian's `patroni` and `etcd-server` packages (tools/deps.sh installs them for the tests).
Patroni runs as the `postgres` OS user when we are root, as PostgreSQL must; etcd as we are.
Members use synchronous replication (`synchronous_mode`), so a commit a client saw is on a
standby before the leader can die, and Patroni promotes only that standby.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import psycopg2

from cluster import as_owner, chown_to_owner, pg_bindir


def unavailable():
    """None when Patroni and etcd can run here; otherwise why not."""
    for tool in ("patroni", "patronictl", "etcd"):
        if shutil.which(tool) is None:
            return "%s is not installed (tools/deps.sh test installs patroni and etcd-server)" % tool
    return None


class Member:
    def __init__(self, cluster, name, pg_port, api_port, ws_port):
        self.cluster = cluster
        self.name = name
        self.pg_port = pg_port
        self.api_port = api_port
        self.ws_port = ws_port              # dwc's WebSocket gateway, when this member leads
        self.dir = os.path.join(cluster.base, name)
        self.data = os.path.join(self.dir, "data")
        self.config = os.path.join(self.dir, "patroni.yml")
        self.log = os.path.join(self.dir, "patroni.log")
        self.proc = None

    def dsn(self, dbname="postgres"):
        return "host=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=3" % (self.pg_port, dbname)

    def connect(self, dbname="postgres"):
        conn = psycopg2.connect(self.dsn(dbname))
        conn.autocommit = True
        return conn

    def scalar(self, sql, params=None, dbname="postgres"):
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchone()[0] if cur.description else None
        finally:
            conn.close()

    def write_config(self, settings):
        c = self.cluster
        cfg = {
            "scope": c.scope,
            "name": self.name,
            "log": {"level": "INFO", "dir": self.dir, "file_num": 1},
            "restapi": {"listen": "127.0.0.1:%d" % self.api_port, "connect_address": "127.0.0.1:%d" % self.api_port},
            "etcd3": {"hosts": ["127.0.0.1:%d" % c.etcd_port]},
            "bootstrap": {
                "dcs": {
                    # the shortest Patroni allows: a dead leader's key expires after ttl
                    "ttl": 20, "loop_wait": 1, "retry_timeout": 5,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": True,
                    "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": dict(settings)},
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "no-sync"],
                "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                           "host replication replicator 127.0.0.1/32 trust"],
            },
            "postgresql": {
                "listen": "127.0.0.1:%d" % self.pg_port,
                "connect_address": "127.0.0.1:%d" % self.pg_port,
                "data_dir": self.data,
                "bin_dir": pg_bindir(),
                "pgpass": os.path.join(self.dir, "pgpass"),
                "authentication": {"superuser": {"username": "postgres", "password": "postgres"},
                                   "replication": {"username": "replicator", "password": "replicator"}},
                # settings of this member's own (the shared ones are in the DCS)
                "parameters": {"unix_socket_directories": self.dir, "port": self.pg_port,
                               "dwc.websocket_port": self.ws_port},
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False},
        }
        os.makedirs(self.dir, exist_ok=True)
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)          # JSON is YAML
        chown_to_owner(self.dir)
        chown_to_owner(self.config)

    def start(self):
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", LC_ALL="C.UTF-8", PATH=os.environ.get("PATH", ""))
        with open(os.path.join(self.dir, "patroni.out"), "ab") as out:
            self.proc = subprocess.Popen(as_owner(["patroni", self.config]), cwd=self.dir, env=env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def api(self, path="/patroni"):
        """The member's REST API answer (a dict), or None when it does not answer."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.api_port, path), timeout=2) as r:
                return json.loads(r.read())
        except Exception:
            return None

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def kill(self):
        """The whole member dies at once: Patroni and its server, as when its machine fails."""
        pid = self.postmaster_pid()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # its other server processes end on their own when the postmaster is gone; wait for them
        deadline = time.time() + 30
        while time.time() < deadline:
            r = subprocess.run(["pgrep", "-f", "-P", str(pid or 0)], stdout=subprocess.DEVNULL)
            if r.returncode != 0:
                break
            time.sleep(0.1)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        pid = self.postmaster_pid()
        if pid:
            subprocess.run(as_owner([os.path.join(pg_bindir(), "pg_ctl"), "-D", self.data, "-m", "immediate",
                                     "stop"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def log_tail(self, n=30):
        out = []
        for f in ("patroni.out", "patroni.log"):
            p = os.path.join(self.dir, f)
            if os.path.exists(p):
                with open(p, errors="replace") as fh:
                    out.append("--- %s %s ---\n%s" % (self.name, f, "".join(fh.readlines()[-n:])))
        for f in sorted(os.listdir(os.path.join(self.data, "log"))) if os.path.isdir(os.path.join(self.data, "log")) else []:
            with open(os.path.join(self.data, "log", f), errors="replace") as fh:
                out.append("--- %s %s ---\n%s" % (self.name, f, "".join(fh.readlines()[-n:])))
        return "\n".join(out)


class PatroniCluster:
    """etcd on etcd_port (and etcd_port + 1 for its peers) and `members` Patroni members, the
    k-th with PostgreSQL on pg_port + k, its REST API on api_port + k and dwc's WebSocket
    gateway on api_port + 100 + k."""

    def __init__(self, settings, members=3, pg_port=5760, api_port=8760, etcd_port=2479, scope="dwc-test"):
        self.base = tempfile.mkdtemp(prefix="dwc-patroni-")
        os.chmod(self.base, 0o755)
        chown_to_owner(self.base)
        self.scope = scope
        self.etcd_port = etcd_port
        self.etcd = None
        settings = dict(settings)
        settings.update({"shared_preload_libraries": "dwc", "max_worker_processes": 32,
                         "wal_level": "replica", "hot_standby": "on", "wal_keep_size": "256MB",
                         "max_wal_senders": 10, "max_replication_slots": 10, "logging_collector": "on",
                         "log_line_prefix": "%m [%p] %b ", "fsync": "off"})
        self.settings = {k: v.strip("'") if isinstance(v, str) else v for k, v in settings.items()}
        self.members = [Member(self, "m%d" % k, pg_port + k, api_port + k, api_port + 100 + k)
                        for k in range(members)]

    def start(self):
        try:
            self.start_etcd()
            for m in self.members:
                m.write_config(self.settings)
            # the first member bootstraps; the others clone it once it leads
            self.members[0].start()
            self.wait_leader(timeout=120)
            for m in self.members[1:]:
                m.start()
            self.wait(lambda: all(s.get("state") in ("running", "streaming") for s in self.states()
                                  if s.get("role") != "leader") and len(self.states()) == len(self.members),
                      120, "every member running")
        except Exception:
            print(self.log_tails())
            self.destroy()
            raise
        return self

    def start_etcd(self):
        d = os.path.join(self.base, "etcd")
        peer = "http://127.0.0.1:%d" % (self.etcd_port + 1)
        client = "http://127.0.0.1:%d" % self.etcd_port
        self.etcd_log = open(os.path.join(self.base, "etcd.log"), "ab")
        self.etcd = subprocess.Popen(
            ["etcd", "--name", "dwc", "--data-dir", d, "--listen-client-urls", client,
             "--advertise-client-urls", client, "--listen-peer-urls", peer,
             "--initial-advertise-peer-urls", peer, "--initial-cluster", "dwc=" + peer,
             "--initial-cluster-state", "new", "--log-level", "warn"],
            stdout=self.etcd_log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait(lambda: self._etcd_healthy(), 30, "etcd answers")

    def _etcd_healthy(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.etcd_port, timeout=2) as r:
                return json.loads(r.read()).get("health") == "true"
        except Exception:
            return False

    @staticmethod
    def wait(cond, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if cond():
                    return True
            except Exception:
                pass
            time.sleep(0.2)
        raise AssertionError("not within %d s: %s" % (timeout, what))

    def states(self):
        """Each answering member's /patroni: name, role (leader, replica), state."""
        out = []
        for m in self.members:
            a = m.api()
            if a is not None:
                a["name"] = m.name
                a["role"] = "leader" if a.get("role") in ("master", "primary") else a.get("role")
                out.append(a)
        return out

    def leader(self):
        """The member that leads and takes writes, or None."""
        for m in self.members:
            a = m.api()
            if a and a.get("role") in ("master", "primary") and a.get("state") == "running":
                return m
        return None

    def sync_standby(self):
        """The member that Patroni keeps as the synchronous standby (the only one it will
        promote in synchronous mode), or None."""
        for m in self.members:
            c = m.api("/cluster")
            if c is None:
                continue
            for x in c.get("members", []):
                if x.get("role") == "sync_standby" and x.get("state") in ("running", "streaming"):
                    return next(k for k in self.members if k.name == x["name"])
            return None
        return None

    def wait_leader(self, timeout=60, other_than=None):
        found = []

        def cond():
            m = self.leader()
            if m is not None and m is not other_than:
                try:
                    if not m.scalar("SELECT pg_is_in_recovery()"):
                        found.append(m)
                        return True
                except psycopg2.Error:
                    return False
            return False
        self.wait(cond, timeout, "a leader" + (" other than %s" % other_than.name if other_than else ""))
        return found[-1]

    def dsn(self, dbname="postgres", **extra):
        """A client's connection string to whichever member leads: every member's address,
        libpq keeps the one that takes writes."""
        parts = ["host=%s" % ",".join("127.0.0.1" for _ in self.members),
                 "port=%s" % ",".join(str(m.pg_port) for m in self.members),
                 "user=postgres", "dbname=%s" % dbname, "target_session_attrs=read-write", "connect_timeout=3"]
        parts += ["%s=%s" % kv for kv in extra.items()]
        return " ".join(parts)

    def patronictl(self, *args):
        return subprocess.run(as_owner(["patronictl", "-c", self.members[0].config] + list(args)),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")

    def log_tails(self, n=30):
        return "\n".join(m.log_tail(n) for m in self.members)

    def destroy(self):
        for m in self.members:
            try:
                m.stop()
            except Exception:
                pass
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(20)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
        shutil.rmtree(self.base, ignore_errors=True)
