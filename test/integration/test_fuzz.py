"""libFuzzer targets for the parsers that take user text, 10^6 executions each."""
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLANG = shutil.which("clang-14") or shutil.which("clang")

TARGETS = {
    "cron": ["test/fuzz/cron_fuzz.c", "src/scheduler/cron_parse.c"],
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target_runs_clean(name):
    assert CLANG, "clang is needed for the fuzz targets (tools/deps.sh installs clang-14)"
    work = tempfile.mkdtemp(prefix="dwc-fuzz-")
    try:
        binary = os.path.join(work, name + "_fuzz")
        subprocess.run([CLANG, "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
                        "-fno-sanitize-recover=all", "-I" + os.path.join(ROOT, "src")]
                       + [os.path.join(ROOT, f) for f in TARGETS[name]] + ["-o", binary],
                       check=True, capture_output=True, text=True)
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        r = subprocess.run([binary, corpus, os.path.join(ROOT, "test", "fuzz", "seeds-" + name),
                            "-runs=1000000", "-max_len=300", "-seed=1",
                            "-artifact_prefix=" + work + "/"],
                           capture_output=True, text=True, timeout=600)
        tail = "\n".join(r.stderr.splitlines()[-15:])
        assert r.returncode == 0, tail
        assert "Done 1000000 runs" in r.stderr, tail
    finally:
        shutil.rmtree(work, ignore_errors=True)
