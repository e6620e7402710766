"""The Debian package: debian/ builds postgresql-<major>-dwc with pg_buildext from a copy of
the tree, dpkg would install it here (its dependencies are met), and a server run from a
PostgreSQL installation holding dwc only from the package's files creates the extension and
runs a job through its workers."""
import os
import pathlib
import shutil
import subprocess
import tempfile

from cluster import temp_cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_CONFIG = os.environ.get("PG_CONFIG", "pg_config")


def pg_config(opt):
    return subprocess.check_output([PG_CONFIG, opt], text=True).strip()


def test_the_deb_builds_installs_and_runs():
    # under /tmp itself: the postgres user runs the server from here (pytest's tmp_path is private)
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="dwc-pkg-"))
    try:
        build_install_and_run(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def build_install_and_run(tmp_path):
    # a copy of the tree as git has it (tracked files and untracked ones it does not ignore)
    src = tmp_path / "dwc"
    src.mkdir()
    files = subprocess.check_output(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT)
    subprocess.run(["tar", "-cf", "-", "--null", "-T", "-"], cwd=ROOT, input=files, check=True,
                   stdout=open(tmp_path / "tree.tar", "wb"))
    subprocess.run(["tar", "-xf", str(tmp_path / "tree.tar"), "-C", str(src)], check=True)
    build = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, capture_output=True,
                           text=True, timeout=900)
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]

    major = pg_config("--version").split()[1].split(".")[0]
    debs = [f for f in os.listdir(tmp_path) if f.startswith("postgresql-%s-dwc_" % major) and f.endswith(".deb")]
    assert len(debs) == 1, os.listdir(tmp_path)
    deb = str(tmp_path / debs[0])
    field = lambda name: subprocess.check_output(["dpkg-deb", "-f", deb, name], text=True).strip()
    assert field("Package") == "postgresql-%s-dwc" % major
    assert field("Version") == subprocess.check_output(
        ["sed", "-n", "s/^default_version = '\\(.*\\)'/\\1/p", os.path.join(ROOT, "dwc.control")], text=True).strip()
    contents = subprocess.check_output(["dpkg-deb", "-c", deb], text=True)
    for f in ("lib/dwc.so", "extension/dwc.control", "extension/dwc--0.2.0.sql", "extension/dwc--0.1.0--0.2.0.sql",
              "share/dwc/seed-api/seed_api.lua", "share/dwc/seed-api/routes.tsv", "share/dwc/seed-api/seed-api.conf"):
        assert f in contents, f
    # dpkg would install it on this machine: every dependency is met
    dry = subprocess.run(["dpkg", "--dry-run", "-i", deb], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stdout + dry.stderr

    # a PostgreSQL installation of its own (the server finds its libraries and extensions
    # relative to its binaries), with dwc taken out and the package unpacked over it
    root = tmp_path / "root"
    lib, share = pg_config("--pkglibdir"), pg_config("--sharedir")
    bindir = pg_config("--bindir")
    for d in (os.path.dirname(bindir), share):
        shutil.copytree(d, str(root) + d, symlinks=True)
    for d, names in ((str(root) + lib, ("dwc.so",)), (str(root) + share + "/extension", None)):
        for f in os.listdir(d):
            if (names and f in names) or (names is None and f.startswith("dwc")):
                os.unlink(os.path.join(d, f))
    assert not os.path.exists(str(root) + lib + "/dwc.so")
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(tmp_path)], check=True)

    c = temp_cluster(settings={"dwc.databases": "'pkg'", "dwc.naptime": "'200ms'"}, port=5595)
    c.bindir = str(root) + bindir
    c.init().start()
    try:
        c.create_database("pkg")
        assert c.scalar("SELECT dwc.version()", dbname="pkg") == field("Version")
        assert c.scalar("SELECT probin FROM pg_proc WHERE proname = 'version' "
                        "AND pronamespace = 'dwc'::regnamespace", dbname="pkg") == "$libdir/dwc"
        job = c.scalar("SELECT dwc.enqueue('sql', '{\"sql\": \"SELECT 42\"}')", dbname="pkg")
        c.wait_for("SELECT status = 'succeeded' FROM dwc.job_history WHERE id = %s", (job,), dbname="pkg",
                   timeout=60)
        # the server that ran it is the sandbox's, with the package's library mapped
        pid = c.scalar("SELECT pid FROM dwc.status() WHERE kind = 'launcher'", dbname="pkg")
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        assert str(root) + lib + "/dwc.so" in maps
    finally:
        c.destroy()


def test_every_place_that_names_the_version_names_the_same():
    """dwc.control, the Makefile, META.json (PGXN) and debian/changelog agree."""
    import json
    import re
    read = lambda p: open(os.path.join(ROOT, p)).read()
    control = re.search(r"^default_version = '([^']+)'", read("dwc.control"), re.M).group(1)
    make = re.search(r"^EXTVERSION = (\S+)", read("Makefile"), re.M).group(1)
    meta = json.loads(read("META.json"))
    changelog = re.match(r"dwc \(([^)]+)\)", read("debian/changelog")).group(1)
    assert control == make == meta["version"] == meta["provides"]["dwc"]["version"] == changelog, \
        (control, make, meta["version"], changelog)
    assert meta["provides"]["dwc"]["file"] == "dwc--%s.sql" % control
