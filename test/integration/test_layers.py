"""The layers of src/ (tools/layers.py): every subsystem's SQL and C name only their own
objects and those of the subsystems below them, in the install script's order, which is the
order of the Init calls in src/dwc.c. A planted circle is caught."""
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import layers  # noqa: E402


def test_the_tree_has_no_arrow_up_the_layers():
    order, arrows, _ = layers.graph(ROOT)
    assert order[0] == "core" and order[-1] == "api", order
    # the graph is really read: the queue uses security, the api uses nearly everything
    assert ("queue", "security") in arrows and ("api", "chain") in arrows
    assert len(arrows) > 50, sorted(arrows)
    assert layers.faults(ROOT) == []


def copy_of_the_tree():
    work = tempfile.mkdtemp(prefix="dwc-layers-")
    shutil.copy(os.path.join(ROOT, "Makefile"), work)
    shutil.copytree(os.path.join(ROOT, "src"), os.path.join(work, "src"),
                    ignore=shutil.ignore_patterns("*.o", "*.so", "*.bc"))
    return work


def plant(work, path, text):
    with open(os.path.join(work, path), "a") as f:
        f.write(text)


def test_a_planted_circle_is_caught():
    work = copy_of_the_tree()
    try:
        # the queue (low) calling an automation function (high): with automation -> queue,
        # already there, a circle
        plant(work, "src/queue/queue.sql",
              "\nCREATE FUNCTION dwc._planted() RETURNS void LANGUAGE sql "
              "RETURN dwc._automation_fire(NULL, '{}');\n")
        found = layers.faults(work)
        assert any(f.startswith("queue -> automation points up") for f in found), found
        assert len(found) == 1, found
    finally:
        shutil.rmtree(work)


def test_a_planted_include_up_the_layers_is_caught():
    work = copy_of_the_tree()
    try:
        plant(work, "src/security/crypto.c", '\n#include "notify/notify.h"\n')
        found = layers.faults(work)
        assert any(f.startswith("security -> notify points up") for f in found), found
    finally:
        shutil.rmtree(work)


def test_init_order_and_install_order_must_agree():
    work = copy_of_the_tree()
    try:
        path = os.path.join(work, "src", "dwc.c")
        with open(path) as f:
            text = f.read()
        # the queue signing in before security, whose functions its SQL uses
        text = text.replace("\tDwcSecurityInit();\n", "").replace("\tDwcQueueInit();\n",
                                                                  "\tDwcQueueInit();\n\tDwcSecurityInit();\n")
        with open(path, "w") as f:
            f.write(text)
        found = layers.faults(work)
        assert any("Init calls of src/dwc.c" in f for f in found), found
    finally:
        shutil.rmtree(work)
