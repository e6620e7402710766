"""The maps of the tree are true: each src/ folder has a README whose file table names every
file of the folder (a header goes with its C file of the same name), and names no file that
is not there; src/README.md gives the layers in the install script's order; no source file is over 800
lines."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")
SOURCE = (".c", ".h", ".sql")


def named_in_table(readme):
    """The `file` names in the first column of the README's tables."""
    names = set()
    with open(readme) as f:
        for line in f:
            if not line.startswith("|") or line.startswith("|---") or line.startswith("| file"):
                continue
            first = line.split("|")[1]
            names.update(re.findall(r"`([^`]+)`", first))
    return names


def test_every_folder_has_a_readme_naming_its_files():
    problems = []
    for folder in sorted(os.listdir(SRC)):
        d = os.path.join(SRC, folder)
        if not os.path.isdir(d):
            continue
        readme = os.path.join(d, "README.md")
        if not os.path.exists(readme):
            problems.append("src/%s has no README.md" % folder)
            continue
        named = named_in_table(readme)
        files = {f for f in os.listdir(d) if f.endswith(SOURCE)}
        # a header goes with its C file of the same name
        covered = named | {f[:-2] + ".h" for f in named if f.endswith(".c")}
        for f in sorted(files - covered):
            problems.append("src/%s/README.md does not name %s" % (folder, f))
        for f in sorted(named - files):
            problems.append("src/%s/README.md names %s, which is not there" % (folder, f))
    assert problems == [], "\n".join(problems)


def test_src_readme_gives_the_layers_in_the_install_order():
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import layers
    order, _, _ = layers.graph(ROOT)
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    listed = re.findall(r"^\| \d+ \| `([a-z_]+)/`", text, re.M)
    assert listed == order, (listed, order)


def test_docs_index_links_every_page():
    docs = os.path.join(ROOT, "docs")
    with open(os.path.join(docs, "index.md")) as f:
        text = f.read()
    pages = sorted(f for f in os.listdir(docs) if f.endswith(".md") and f != "index.md")
    assert [p for p in pages if "(%s)" % p not in text] == []


def test_test_readme_names_every_suite():
    with open(os.path.join(ROOT, "test", "README.md")) as f:
        text = f.read()
    suites = sorted(f for f in os.listdir(os.path.join(ROOT, "test", "integration"))
                    if f.startswith("test_") and f.endswith(".py"))
    suites += sorted("sql/" + f for f in os.listdir(os.path.join(ROOT, "sql")) if f.endswith(".sql"))
    assert [s for s in suites if "`%s`" % s not in text] == []


def test_no_source_file_is_over_800_lines():
    """Small files with one purpose: a C, header or SQL file past 800 lines holds more than one
    (it fails naming the file, as it would have for src/queue/queue.sql at 801)."""
    long = []
    for d, _, files in os.walk(SRC):
        for f in files:
            if f.endswith(SOURCE):
                path = os.path.join(d, f)
                with open(path) as fh:
                    n = sum(1 for _ in fh)
                if n > 800:
                    long.append("%s: %d lines" % (os.path.relpath(path, ROOT), n))
    assert long == [], "\n".join(sorted(long))
