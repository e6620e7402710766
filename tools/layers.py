#!/usr/bin/python3
"""tools/layers.py: the dependency graph between dwc's subsystem folders, and its check.

A subsystem is a folder of src/. Folder A depends on folder B when A's SQL names one of
B's objects (a function, table, view, type or sequence that B's SQL creates, by its
schema-qualified name: dwc.x, api_impl.x, api.x) or A's C includes one of B's headers.
The layer order is the order in which the folders first appear in the Makefile's
SQL_PARTS (the install script's order); each folder's files must stand together there,
the order must agree with the order of the Init calls in src/dwc.c, and every arrow must
point to an earlier folder. (src/core/core_end.sql, which closes the install script, is last
by design.) Anything else (an arrow upwards, and so every circle) is
reported.

    tools/layers.py            prints the order and every arrow (with what it names);
                               exits 1 and lists the faults when there are any
"""
import collections
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFINES = re.compile(
    r"\bcreate\s+(?:or\s+replace\s+)?(?:unlogged\s+)?(?:materialized\s+)?"
    r"(?:function|procedure|table|view|type|sequence|aggregate)\s+(?:if\s+not\s+exists\s+)?"
    r"(dwc|api_impl)\.([a-z_][a-z0-9_]*)", re.I)
NAMES = re.compile(r"\b(dwc|api_impl|api)\.([a-z_][a-z0-9_]*)", re.I)
INCLUDES = re.compile(r'^#include "([a-z_]+)/', re.M)
INIT_CALL = re.compile(r"^\s*Dwc([A-Z][A-Za-z]*)Init\(\);", re.M)


def sql_parts(root):
    with open(os.path.join(root, "Makefile")) as f:
        text = f.read()
    block = re.search(r"^SQL_PARTS\s*=(.*?)\n\s*\n", text, re.S | re.M).group(1)
    return block.replace("\\", " ").split()


def folder_of(path):
    return path.split("/")[1]


def strip_sql(text):
    """SQL without its comments, COMMENT ON texts and errors' hints, which name objects without using them."""
    text = re.sub(r"--[^\n]*", "", text)
    text = re.sub(r"\b(HINT|DETAIL|MESSAGE)\s*=\s*'(?:[^']|'')*'", "", text, flags=re.I)
    return re.sub(r"COMMENT ON .*? IS\s+(?:'(?:[^']|'')*'\s*)+;", "", text, flags=re.S | re.I)


def graph(root=ROOT):
    """(order, arrows): the folders in layer order, and {(from, to): {what}}."""
    parts = sql_parts(root)
    order, faults = [], []
    for i, p in enumerate(parts):
        f = folder_of(p)
        if i == len(parts) - 1 and p == "src/core/core_end.sql":
            continue    # closes the install script (revokes, wakes the workers): last by design
        if f not in order:
            order.append(f)
        elif order[-1] != f:
            faults.append("SQL_PARTS: %s is apart from the other files of src/%s" % (p, f))
    texts, owner = {}, {}
    for p in parts:
        with open(os.path.join(root, p)) as fh:
            texts[p] = strip_sql(fh.read())
        for m in DEFINES.finditer(texts[p]):
            owner.setdefault((m.group(1).lower(), m.group(2).lower()), folder_of(p))
    arrows = collections.defaultdict(set)
    for p, text in texts.items():
        here = folder_of(p)
        for m in NAMES.finditer(text):
            schema, name = m.group(1).lower(), m.group(2).lower()
            # api.x are made from api_impl.x at the end of the install script
            there = owner.get(("api_impl" if schema == "api" else schema, name))
            if there and there != here:
                arrows[(here, there)].add("%s.%s in %s" % (schema, name, p))
    src = os.path.join(root, "src")
    for here in sorted(os.listdir(src)):
        d = os.path.join(src, here)
        if not os.path.isdir(d):
            continue
        for fn in sorted(os.listdir(d)):
            if fn.endswith((".c", ".h")):
                with open(os.path.join(d, fn)) as fh:
                    for there in INCLUDES.findall(fh.read()):
                        if there != here and os.path.isdir(os.path.join(src, there)):
                            arrows[(here, there)].add("#include in src/%s/%s" % (here, fn))
    return order, arrows, faults


def init_order(root=ROOT):
    """The subsystems in the order _PG_init calls their Init (after the binary-upgrade return)."""
    with open(os.path.join(root, "src", "dwc.c")) as f:
        body = f.read().split("IsBinaryUpgrade", 1)[1]
    return [name.lower() for name in INIT_CALL.findall(body)]


def faults(root=ROOT):
    order, arrows, found = graph(root)
    rank = {f: i for i, f in enumerate(order)}
    inits = [f for f in init_order(root) if f in rank]
    if inits != sorted(inits, key=rank.get):
        found.append("the Init calls of src/dwc.c (%s) are not in the layer order (%s)"
                     % (", ".join(inits), ", ".join(order)))
    for (a, b), what in sorted(arrows.items()):
        if a not in rank or b not in rank:
            found.append("%s -> %s: a folder without SQL in SQL_PARTS has no place in the layers" % (a, b))
            continue
        if rank[b] >= rank[a]:
            found.append("%s -> %s points up the layers: %s" % (a, b, "; ".join(sorted(what)[:5])))
    return found


def main():
    order, arrows, _ = graph()
    print("layers, lowest first: " + " < ".join(order))
    for (a, b), what in sorted(arrows.items()):
        print("%s -> %s  (%d: %s)" % (a, b, len(what), ", ".join(sorted(what)[:3])))
    bad = faults()
    for f in bad:
        print("FAULT: " + f)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
