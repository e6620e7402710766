"""A Citus cluster on loopback: a coordinator and workers, each a real PostgreSQL server with
Citus and dwc preloaded (docs/scaling.md).

Citus has no Debian package; tools/citus.sh builds it from ../shared/vendor/citus when
`./dwcctl test` runs. `unavailable()` says why the Citus tests cannot run here (no Citus
library in this server, and the reason tools/citus.sh wrote when it could not build one).
"""
import os
import subprocess

from cluster import PG_CONFIG, temp_cluster

SKIP_REASON_FILES = ("/var/cache/dwc/citus-skip-reason",
                     os.path.join(os.environ.get("TMPDIR", "/tmp"), "dwc-cache", "citus-skip-reason"))


def unavailable():
    """None when Citus can run here; otherwise why not."""
    lib = subprocess.check_output([PG_CONFIG, "--pkglibdir"], text=True).strip()
    if os.path.exists(os.path.join(lib, "citus.so")):
        return None
    for f in SKIP_REASON_FILES:
        if os.path.exists(f):
            with open(f) as fh:
                return "Citus is not installed: " + fh.read().strip()
    return "Citus is not installed in %s (tools/citus.sh builds it from ../shared/vendor/citus)" % lib


class CitusCluster:
    """A coordinator (nodes[0]) and `workers` worker nodes, on 127.0.0.1 ports from `port`.

    Each node is a kit Cluster with `citus,dwc` preloaded and the database `dbname` holding
    the citus extension; the workers are added to the coordinator's metadata. dwc itself is
    not installed: that is the coordinator's CREATE EXTENSION, which Citus propagates.
    """

    def __init__(self, dbname, settings, port=5720, workers=2):
        self.dbname = dbname
        self.settings = dict(settings)
        self.settings.update({
            "shared_preload_libraries": "'citus,dwc'",
            "listen_addresses": "'127.0.0.1'",
            # Citus commits DDL and multi-node writes in two phases
            "max_prepared_transactions": "40",
            "max_connections": "100",
        })
        self.port = port
        self.nworkers = workers
        self.nodes = []

    @property
    def coordinator(self):
        return self.nodes[0]

    @property
    def workers(self):
        return self.nodes[1:]

    def add_node(self):
        """A new node: started, with the citus extension; not yet in the metadata."""
        c = temp_cluster(prefix="dwc-citus-", port=self.port + len(self.nodes), settings=self.settings)
        self.nodes.append(c)
        c.init().start()
        c.create_database(self.dbname, extension=False)
        c.sql("CREATE EXTENSION citus", dbname=self.dbname)
        return c

    def start(self):
        try:
            self.add_node()
            self.coordinator.sql("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (self.port,),
                                 dbname=self.dbname)
            for _ in range(self.nworkers):
                self.activate(self.add_node())
        except Exception:
            self.destroy()
            raise
        return self

    def activate(self, node):
        """Adds a started node to the coordinator's metadata as a worker."""
        self.coordinator.sql("SELECT citus_add_node('127.0.0.1', %s)", (node.port,), dbname=self.dbname)

    def on_all(self, query, params=None):
        """The first column of `query`'s first row on every node, coordinator first."""
        return [n.scalar(query, params, dbname=self.dbname) for n in self.nodes]

    def log_tails(self, n=20):
        return "\n".join("--- node %d (%d) ---\n%s" % (i, c.port, c.log_tail(n))
                         for i, c in enumerate(self.nodes))

    def destroy(self):
        for c in reversed(self.nodes):
            c.destroy()
        self.nodes = []
