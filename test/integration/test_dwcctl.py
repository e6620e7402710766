"""./dwcctl finds its cluster's port by itself: after an up that used DWC_PORT, status, psql,
logs and stop work without it; help says what each command does."""
import os
import subprocess
import sys

from cluster import temp_cluster
from conftest import TEST_SETTINGS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def dwcctl(base, *args):
    env = {k: v for k, v in os.environ.items() if k != "DWC_PORT"}
    env["DWC_CLUSTER_DIR"] = base
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "dwcctl.py")] + list(args),
                          env=env, capture_output=True, text=True, timeout=60)


def test_status_psql_and_stop_use_the_clusters_own_port():
    # a cluster as ./dwcctl up makes it, on a port other than the default
    c = temp_cluster(settings=dict(TEST_SETTINGS, **{"dwc.databases": "'dwc'"}), port=5577).init().start()
    try:
        c.create_database("dwc")
        r = dwcctl(c.base, "status")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "running on port 5577" in r.stdout and "launcher" in r.stdout
        r = dwcctl(c.base, "psql", "-XAtc", "SELECT current_setting('port'), dwc.version() IS NOT NULL")
        assert r.returncode == 0 and r.stdout.strip() == "5577|t", r.stdout + r.stderr
        # the server log's last lines: the launcher's start is among them
        r = dwcctl(c.base, "logs", "400")
        assert r.returncode == 0 and "dwc launcher" in r.stdout, r.stdout + r.stderr
        r = dwcctl(c.base, "logs", "lots")
        assert r.returncode != 0 and "number of lines" in r.stderr
        r = dwcctl(c.base, "stop")
        assert r.returncode == 0 and "stopped the local cluster" in r.stdout, r.stdout + r.stderr
        assert not c.is_running()
        r = dwcctl(c.base, "status")
        assert r.returncode == 3 and "is stopped" in r.stdout
    finally:
        c.destroy()


def test_help_names_every_command_and_an_unknown_one_is_refused():
    r = dwcctl("/nonexistent", "help")
    assert r.returncode == 0, r.stderr
    for cmd in ("up", "test", "status", "logs", "psql", "stop", "destroy", "help"):
        assert "\n  %s " % cmd in r.stdout, cmd
    r = dwcctl("/nonexistent", "bogus")
    assert r.returncode == 2 and "unknown command 'bogus'" in r.stderr and "usage:" in r.stderr
