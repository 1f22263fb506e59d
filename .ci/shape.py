#!/usr/bin/env python3
"""The shape of amqp-client: its core's code lines against its adapters',
hand-written files over 800 lines, and two-file import circles inside an
adapter.

A code line is neither blank nor a comment (`//`, `//!`, `///`, block
comments), and lies outside `#[cfg(test)]` modules. `params`, `error`,
`tls` and `sys` count for neither side.

    python3 .ci/shape.py           # report
    python3 .ci/shape.py --check   # also fail on an import circle or a file over 850 lines
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "amqp-client", "src")
CORE = ["core"]
ADAPTERS = ["blocking", "asynch", "tokio", "futures_io", "event_loop"]


def code_lines(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    n = 0
    in_block = False
    skip_depth = None  # brace depth at which a #[cfg(test)] module ends
    depth = 0
    pending_cfg_test = False
    for raw in lines:
        line = raw.strip()
        if in_block:
            if "*/" in line:
                in_block = False
            continue
        if line.startswith("/*"):
            if "*/" not in line:
                in_block = True
            continue
        if skip_depth is None and line == "#[cfg(test)]":
            pending_cfg_test = True
            continue
        if pending_cfg_test:
            pending_cfg_test = False
            if re.match(r"(pub(\([^)]*\))? )?mod \w+ \{", line):
                skip_depth = depth
                depth += line.count("{") - line.count("}")
                continue
        opened = line.count("{") - line.count("}")
        if skip_depth is not None:
            depth += opened
            if depth <= skip_depth:
                skip_depth = None
            continue
        depth += opened
        if not line or line.startswith("//"):
            continue
        n += 1
    return n


def side(folders):
    total = 0
    for f in folders:
        p = os.path.join(ROOT, f)
        if os.path.isfile(p + ".rs"):
            total += code_lines(p + ".rs")
        for d, _, files in os.walk(p):
            for name in files:
                if name.endswith(".rs"):
                    total += code_lines(os.path.join(d, name))
    return total


def module_of(folder, path):
    rel = os.path.relpath(path, os.path.join(ROOT, folder))
    name = rel[:-3]
    return "mod" if name == "mod" else name.replace(os.sep, "::")


def circles(folder):
    """Two-file import circles inside an adapter folder: file A names an item
    of file B (`super::b::`, `use super::{b, ..}`, or a `super::` item that
    the parent module defines) and B names one of A."""
    base = os.path.join(ROOT, folder)
    if not os.path.isdir(base):
        return []
    files = {}
    for d, _, names in os.walk(base):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(d, n)
                files[module_of(folder, p)] = open(p, encoding="utf-8").read()
    mods = set(files)
    parent_items = set(re.findall(r"^(?:pub(?:\([^)]*\))? )?(?:fn|struct|enum|type|const|static|trait) (\w+)", files.get("mod", ""), re.M))
    edges = set()
    for m, text in files.items():
        # strip comments
        text = re.sub(r"//[^\n]*", "", text)
        for other in mods:
            if other == m:
                continue
            if other == "mod":
                continue
            leaf = other.split("::")[-1]
            bare = m == "mod" and re.search(r"(?<![\w:])%s::" % leaf, text)
            if bare or re.search(r"\b(super|self|crate::%s)::%s\b" % (folder, leaf), text) or re.search(r"use (super|self)::\{[^}]*\b%s\b" % leaf, text):
                edges.add((m, other))
        if m != "mod":
            for item in parent_items:
                if re.search(r"\bsuper::%s\b" % item, text) or re.search(r"use super::\{[^}]*\b%s\b" % item, text):
                    edges.add((m, "mod"))
                    break
    return sorted({tuple(sorted((a, b))) for (a, b) in edges if (b, a) in edges})


def main():
    core = side(CORE)
    adapters = {a: side([a]) for a in ADAPTERS}
    total = sum(adapters.values())
    print(f"core: {core}")
    for a, n in adapters.items():
        print(f"  {a}: {n}")
    print(f"adapters: {total}")
    print(f"core / adapters: {core / max(total, 1):.2f}")
    big = []
    for d, _, files in os.walk(ROOT):
        for name in files:
            p = os.path.join(d, name)
            n = sum(1 for _ in open(p, encoding="utf-8"))
            if n > 800:
                big.append((n, os.path.relpath(p, ROOT)))
    for n, p in sorted(big, reverse=True):
        print(f"over 800 lines: {p} ({n})")
    found = []
    for a in ADAPTERS:
        for x, y in circles(a):
            print(f"import circle in {a}: {x} <-> {y}")
            found.append((a, x, y))
    if "--check" in sys.argv[1:]:
        too_big = [p for n, p in big if n > 850]
        if found or too_big:
            print("shape check failed", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
