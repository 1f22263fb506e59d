#!/usr/bin/env python3
"""Checks that every rust-version in the workspace is honest, from
`cargo metadata --locked` (the lockfile as committed):

- the workspace's `rust-version` is at least the highest `rust-version` of
  any package in Cargo.lock, so a member that inherits it promises nothing
  that cargo cannot build;
- every member's own `rust-version` is at least the highest one among what
  it depends on, dev-dependencies included (its tests must build too);
- README.md names the workspace's version.
"""
import json
import re
import subprocess
import sys
import tomllib


def key(v):
    return tuple(int(p) for p in v.split("."))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--locked", "--format-version", "1"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    by_id = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}

    def deps(pkg_id, kinds):
        for d in nodes[pkg_id]["deps"]:
            if any(k["kind"] in kinds for k in d["dep_kinds"]):
                yield d["pkg"]

    def closure(pkg_id, first_kinds):
        """Packages built for pkg_id: its dependencies of first_kinds, then
        their normal and build dependencies."""
        seen, todo = set(), list(deps(pkg_id, first_kinds))
        while todo:
            p = todo.pop()
            if p in seen or p == pkg_id:
                continue
            seen.add(p)
            todo.extend(deps(p, {None, "build"}))
        return seen

    def highest(ids):
        found = [by_id[i] for i in ids if i not in members and by_id[i].get("rust_version")]
        return max(found, key=lambda p: key(p["rust_version"]), default=None)

    failures = []
    workspace = tomllib.load(open("Cargo.toml", "rb"))
    declared = workspace.get("workspace", {}).get("package", {}).get("rust-version")
    top = highest(nodes)
    if not declared:
        failures.append("the workspace declares no rust-version")
    elif top and key(declared) < key(top["rust_version"]):
        failures.append(
            f"the workspace declares rust-version {declared}, but Cargo.lock has "
            f"{top['name']} {top['version']}, which needs {top['rust_version']}"
        )
    for m in sorted(members, key=lambda i: by_id[i]["name"]):
        pkg = by_id[m]
        need = highest(closure(m, {None, "build", "dev"}))
        own = pkg.get("rust_version")
        if not own:
            failures.append(f"{pkg['name']} declares no rust-version")
        elif need and key(own) < key(need["rust_version"]):
            failures.append(
                f"{pkg['name']} declares rust-version {own}, but its dependency "
                f"{need['name']} {need['version']} needs {need['rust_version']}"
            )
        else:
            print(f"{pkg['name']}: rust-version {own}, its dependencies need "
                  f"{need['rust_version'] if need else 'nothing in particular'}")
    readme = open("README.md", encoding="utf-8").read()
    if declared and not re.search(r"Rust " + re.escape(declared) + r"\b", readme):
        failures.append(f"README.md does not say that Rust {declared} is needed")
    if failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main()
