#!/usr/bin/env bash
# Runs the comparison benchmark (criterion) and the allocation counter, then
# prints amq-protocol time / amqp-protocol time per case from criterion's
# median estimates, and whether each target holds.
#
#   ./run.sh              benches + allocs + summary
#   ./run.sh FILTER...    only the benchmarks matching criterion's FILTER
#   ./run.sh --summary    only the summary of the results already measured
#
# Exits non-zero when a target is missed.
set -euo pipefail
cd "$(dirname "$0")"

target_dir="${CARGO_TARGET_DIR:-target}"
status=0

if [[ "${1:-}" != "--summary" ]]; then
    cargo bench --bench codec -- "$@"
    cargo run --release --quiet --bin allocs || status=$?
    echo
fi

python3 - "$target_dir/criterion" <<'EOF' || status=$?
import json, os, sys

root = sys.argv[1]
median = {}  # full id -> median ns per message
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
        continue
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        full_id = json.load(f)["full_id"]
    with open(os.path.join(dirpath, "estimates.json")) as f:
        median[full_id] = json.load(f)["median"]["point_estimate"]

if not median:
    sys.exit(f"no criterion results under {root}")

def fmt(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"

kinds = ["publish", "deliver"]
sizes = ["16B", "1KiB", "64KiB"]
failures = []

print("median time per message (method + header + body); ratio = amq-protocol / amqp-protocol")
head = f"{'case':<24}{'amqp-protocol':>15}{'amq-protocol':>15}{'ratio':>9}  {'target':<8}{'verdict'}"
print(head)
print("-" * len(head))
for op in ["decode", "encode"]:
    for kind in kinds:
        for size in sizes:
            case = f"{op}/{kind}/{size}"
            ours = median.get(f"{case}/amqp-protocol")
            theirs = median.get(f"{case}/amq-protocol")
            if ours is None or theirs is None:
                continue
            ratio = theirs / ours
            target, verdict = "-", ""
            if size in ("16B", "1KiB"):
                target = ">= 3x"
                verdict = "ok" if ratio >= 3 else "MISSED"
                if ratio < 3:
                    failures.append(f"{case}: {ratio:.2f}x < 3x")
            print(f"{case:<24}{fmt(ours):>15}{fmt(theirs):>15}{ratio:>8.2f}x  {target:<8}{verdict}")
    print()

print("for information (not targets)")
info = [
    ("decode", "amqp-protocol+assembler", "amqp-protocol", "ours through the Assembler / ours frames only"),
    ("encode", "amqp-protocol-frames", "amqp-protocol", "ours Frame::encode per frame / encode_content"),
    ("encode", "amq-protocol-vec", "amqp-protocol", "amq-protocol into a Vec / ours"),
]
for op, a, b, what in info:
    print(f"  {op}: {what}")
    for kind in kinds:
        for size in sizes:
            case = f"{op}/{kind}/{size}"
            x, y = median.get(f"{case}/{a}"), median.get(f"{case}/{b}")
            if x is None or y is None:
                continue
            print(f"    {case:<22}{fmt(x):>12}{fmt(y):>12}{x / y:>8.2f}x")
print()

print("decode cost of a 64 KiB message relative to a 16 B one (amqp-protocol; target <= 1.5x for deliver)")
for kind in kinds:
    big = median.get(f"decode/{kind}/64KiB/amqp-protocol")
    small = median.get(f"decode/{kind}/16B/amqp-protocol")
    if big is None or small is None:
        continue
    r = big / small
    verdict = ""
    if kind == "deliver":
        verdict = "ok" if r <= 1.5 else "MISSED"
        if r > 1.5:
            failures.append(f"decode/deliver 64KiB/16B: {r:.2f}x > 1.5x")
    print(f"  {kind:<10}{fmt(big):>12}{fmt(small):>12}{r:>8.2f}x  {verdict}")
    asm_big = median.get(f"decode/{kind}/64KiB/amqp-protocol+assembler")
    asm_small = median.get(f"decode/{kind}/16B/amqp-protocol+assembler")
    if asm_big and asm_small:
        print(f"  {kind + '+asm':<10}{fmt(asm_big):>12}{fmt(asm_small):>12}{asm_big / asm_small:>8.2f}x  (information)")
print()

if failures:
    print("speed targets MISSED:")
    for f in failures:
        print("  " + f)
    sys.exit(1)
print("speed targets: all met")
EOF

if [[ $status -ne 0 ]]; then
    echo "run.sh: at least one target missed (see above)"
fi
exit $status
