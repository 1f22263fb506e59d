#!/usr/bin/env bash
# Extracts amqp-client (with amqp-protocol, the code generator and the
# specification its build script reads, and the workspace manifest they
# inherit from) as of the commit the `before` build compares against, into
# ../target/before-src, where before/Cargo.toml's path dependencies point.
# Does nothing when that commit is extracted already (so cargo does not
# rebuild it).
#
#   before/extract.sh            # the commit in before/COMMIT
#   before/extract.sh <commit>   # another one (then rebuild before/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
commit=$(git -C "$here" rev-parse --verify "${1:-$(cat "$here/COMMIT")}^{commit}")
dest=$(cd "$here/.." && pwd)/target/before-src
if [ "$(cat "$dest/.commit" 2>/dev/null || true)" = "$commit" ]; then
    exit 0
fi
root=$(git -C "$here" rev-parse --show-toplevel)
rm -rf "$dest"
mkdir -p "$dest"
# What amqp-client needed at that commit (the specification moved into
# amqp-protocol, and amqp-socket came, along the way).
paths=$(git -C "$root" ls-tree --name-only "$commit" \
    | grep -xE 'Cargo.toml|amqp-client|amqp-protocol|amqp-codegen|amqp-socket|spec')
# shellcheck disable=SC2086
git -C "$root" archive "$commit" $paths | tar -x -C "$dest"
echo "$commit" > "$dest/.commit"
echo "extracted amqp-client at ${commit:0:7} into $dest" >&2
