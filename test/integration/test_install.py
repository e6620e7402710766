"""docs/install.md is enough: a server given only the settings that page shows (preloading,
dwc.databases, the two secrets its "Checking an installation" section names) passes
`make installcheck`, every pg_regress suite."""
import os
import re
import subprocess

from cluster import temp_cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def settings_from_install_md():
    """Every `name = value` line of install.md's postgresql.conf blocks, as written there."""
    with open(os.path.join(ROOT, "docs", "install.md")) as f:
        text = f.read()
    out = {}
    for block in re.findall(r"```\n(# postgresql\.conf.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if "=" in line:
                name, value = (x.strip() for x in line.split("=", 1))
                out[name] = value
    return out


def test_installcheck_passes_on_a_server_set_up_as_install_md_says(tmp_path):
    conf = settings_from_install_md()
    # the page's own lines, nothing of the test kit's (its dwc.* settings are not here)
    assert set(conf) == {"shared_preload_libraries", "dwc.databases", "dwc.jwt_secret",
                         "dwc.encryption_keys"}, conf
    c = temp_cluster(settings=conf, port=5590).init().start()
    try:
        out = tmp_path / "results"
        env = dict(os.environ, PGHOST=c.socket_dir, PGPORT=str(c.port), PGUSER="postgres")
        # its own output directory, so that it does not overwrite the main run's results/
        p = subprocess.run(["make", "-s", "installcheck", "REGRESS_OPTS=--load-extension=dwc --outputdir=%s" % out],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        diffs = out / "regression.diffs"
        assert p.returncode == 0, p.stdout[-3000:] + (diffs.read_text()[:6000] if diffs.exists() else "")
        suites = len([f for f in os.listdir(os.path.join(ROOT, "sql")) if f.endswith(".sql")])
        assert len(re.findall(r"\.\.\. ok|^ok \d+", p.stdout, re.M)) == suites, p.stdout
    finally:
        c.destroy()
