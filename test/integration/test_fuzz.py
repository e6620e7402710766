"""libFuzzer targets for the parsers that take outside input (cron expressions, model
artifacts), 10^6 executions each."""
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLANG = shutil.which("clang-14") or shutil.which("clang")

# name: (sources, libraries, longest input)
TARGETS = {
    "cron": (["test/fuzz/cron_fuzz.c", "src/scheduler/cron_parse.c"], [], 300),
    "artifact": (["test/fuzz/artifact_fuzz.c", "src/ml/artifact.c", "src/ml/predict.c", "src/ml/knn.c",
                  "src/ml/ml_util.c"], ["-lopenblas", "-lm"], 4096),
    "cond": (["test/fuzz/cond_fuzz.c", "src/cond/cond_parse.c"], ["-ljson-c", "-lm"], 2048),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target_runs_clean(name):
    assert CLANG, "clang is needed for the fuzz targets (tools/deps.sh installs clang-14)"
    work = tempfile.mkdtemp(prefix="dwc-fuzz-")
    try:
        binary = os.path.join(work, name + "_fuzz")
        sources, libs, max_len = TARGETS[name]
        subprocess.run([CLANG, "-g", "-O1", "-fsanitize=fuzzer,address,undefined",
                        "-fno-sanitize-recover=all", "-I" + os.path.join(ROOT, "src")]
                       + [os.path.join(ROOT, f) for f in sources] + libs + ["-o", binary],
                       check=True, capture_output=True, text=True)
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        # no limit on the whole run, which takes as long as the machine's load makes it: a
        # hang is one input running past libFuzzer's -timeout, which it reports as a finding
        r = subprocess.run([binary, corpus, os.path.join(ROOT, "test", "fuzz", "seeds-" + name),
                            "-runs=1000000", "-max_len=%d" % max_len, "-seed=1", "-timeout=30",
                            "-artifact_prefix=" + work + "/"],
                           capture_output=True, text=True)
        tail = "\n".join(r.stderr.splitlines()[-15:])
        assert r.returncode == 0, tail
        assert "Done 1000000 runs" in r.stderr, tail
    finally:
        shutil.rmtree(work, ignore_errors=True)
