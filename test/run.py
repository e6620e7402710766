#!/usr/bin/python3
"""dwc's test runner: every pg_regress suite and every integration test, one summary line.

Usually started by `./dwcctl test`, which first installs dependencies and builds and
installs dwc with -Werror. Starts one throwaway cluster with dwc preloaded, runs
`make installcheck` against it, then the pytest integration suites (which may start
clusters of their own), stops everything (also on failure or Ctrl-C), and ends with

    N passed, N failed, N skipped

counting every test of every suite. Exits non-zero if anything failed.

    test/run.py [--suite regress|integration] [-k PYTEST_EXPRESSION]
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "kit"))
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))

from cluster import temp_cluster  # noqa: E402
from conftest import TEST_SETTINGS, prepare  # noqa: E402

RUNNER_PORT = 5590


class Totals:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def line(self):
        s = "%d passed, %d failed" % (self.passed, self.failed)
        if self.skipped:
            s += ", %d skipped" % self.skipped
        return s


REGRESS_RE = [
    # PostgreSQL 15: "test core ... ok   12 ms", or indented inside a parallel group
    re.compile(r"^(?:test\s+|\s+)(\S+)\s+\.\.\.\s+(ok|FAILED|failed \(ignored\))"),
    # PostgreSQL 16+: "ok 1 - core  12 ms" / "not ok 2 - queue  30 ms"
    re.compile(r"^(ok|not ok)\s+\d+\s+[-+]\s+(\S+)"),
]


def run_regress(cluster, totals):
    print("== pg_regress suites ==", flush=True)
    env = dict(os.environ, PGHOST=cluster.socket_dir, PGPORT=str(cluster.port), PGUSER="postgres")
    p = subprocess.run(["make", "-s", "installcheck"], cwd=ROOT, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(p.stdout, end="", flush=True)
    seen = 0
    for line in p.stdout.splitlines():
        m = REGRESS_RE[0].match(line)
        if m:
            ok = m.group(2) != "FAILED"
        else:
            m = REGRESS_RE[1].match(line)
            if not m:
                continue
            ok = m.group(1) == "ok"
        seen += 1
        if ok:
            totals.passed += 1
        else:
            totals.failed += 1
    # every suite in sql/ must have run: a suite that pg_regress skipped or whose line we
    # could not read is a failure, never a silent pass
    expected = len([f for f in os.listdir(os.path.join(ROOT, "sql")) if f.endswith(".sql")])
    if seen < expected:
        print("pg_regress ran %d suites, but sql/ holds %d" % (seen, expected))
        totals.failed += expected - seen
    diffs = os.path.join(ROOT, "regression.diffs")
    if p.returncode != 0:
        if os.path.exists(diffs):
            print("---- regression.diffs ----")
            with open(diffs, errors="replace") as f:
                print(f.read())
        if seen == 0 or totals.failed == 0:
            totals.failed += 1      # the suite itself broke
            print("pg_regress exited with status %d" % p.returncode)


def run_integration(cluster, totals, keyword):
    print("== integration tests ==", flush=True)
    junit = tempfile.NamedTemporaryFile(prefix="dwc-junit-", suffix=".xml", delete=False).name
    env = dict(os.environ, DWC_TEST_CLUSTER=cluster.base, DWC_TEST_PORT=str(cluster.port),
               PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", os.path.join(ROOT, "test", "integration"),
           "-p", "no:cacheprovider", "-q", "-rfE", "--junitxml=" + junit]
    if keyword:
        cmd += ["-k", keyword]
    p = subprocess.run(cmd, cwd=ROOT, env=env)
    try:
        suites = ET.parse(junit).getroot()
        suites = [suites] if suites.tag == "testsuite" else list(suites)
        tests = failures = skipped = 0
        for s in suites:
            tests += int(s.get("tests", 0))
            failures += int(s.get("failures", 0)) + int(s.get("errors", 0))
            skipped += int(s.get("skipped", 0))
        totals.passed += tests - failures - skipped
        totals.failed += failures
        totals.skipped += skipped
        if tests == 0:
            print("pytest collected no tests")
            totals.failed += 1
        if p.returncode not in (0, 1, 5) and failures == 0:
            totals.failed += 1
    except (ET.ParseError, FileNotFoundError):
        print("pytest produced no report (exit status %d)" % p.returncode)
        totals.failed += 1
    finally:
        if os.path.exists(junit):
            os.unlink(junit)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", choices=["regress", "integration"])
    ap.add_argument("-k", dest="keyword")
    args = ap.parse_args()

    # SIGTERM (CI timeouts) ends the run like Ctrl-C: through the finally below
    signal.signal(signal.SIGTERM, on_sigterm)

    totals = Totals()
    cluster = temp_cluster(prefix="dwc-run-", port=RUNNER_PORT, settings=TEST_SETTINGS)
    interrupted = False
    try:
        cluster.init().start()
        prepare(cluster)
        if args.suite in (None, "regress"):
            run_regress(cluster, totals)
        if args.suite in (None, "integration"):
            run_integration(cluster, totals, args.keyword)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted")
    except Exception as e:   # a broken runner is a failure, never a silent pass
        totals.failed += 1
        print("test runner error: %s" % e)
        print(cluster.log_tail())
    finally:
        if totals.failed or interrupted:
            print("---- server log (last lines) ----")
            print(cluster.log_tail(30))
        cluster.destroy()

    if interrupted:
        totals.failed += 1
    print(totals.line())
    sys.exit(1 if totals.failed else 0)


if __name__ == "__main__":
    main()
