#!/usr/bin/env bash
# Profiles the measured part of one run (the pre-fill and the connection
# set-up are left out: the binaries enable perf's events when their meter
# starts and disable them when it stops, through BENCH_PERF_CTL).
#
#   ./profile.sh stat   CLIENT SCENARIO SIZE COUNT   # syscalls and switches per message
#   ./profile.sh record CLIENT SCENARIO SIZE COUNT   # perf record (DWARF call graphs;
#                                                    # PERF_FREQ sets the rate, default 2000 Hz)
#
# CLIENT is a binary with its mode: ours, "ours --mode callback", lapin,
# "lapin --mode inflight", amqprs, amiquip; before/ours (and before/ours_tokio,
# before/ours_smol, before/ours_el) for a -before build. Needs perf (linux-perf) and
# permission to use it (root, or kernel.perf_event_paranoid <= 1 and
# tracefs access for `stat`). Run ./run.sh --quick (or cargo build
# --release) first. Output: target/profiles/.
set -euo pipefail
cd "$(dirname "$0")"
[ $# -eq 5 ] || { sed -n 2,15p "$0" >&2; exit 2; }
what=$1 client=$2 scenario=$3 size=$4 count=$5
mkdir -p target/profiles
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkfifo "$dir/ctl"
export BENCH_PERF_CTL="$dir/ctl"
name=target/profiles/$(echo "$client" | tr -c 'a-z0-9\n' '_')-$scenario-$size
# shellcheck disable=SC2086
case "$client" in
    # A -before build (before/): "before/ours", "before/ours_tokio", ...
    before/*) run=(before/target/release/${client#before/} --scenario "$scenario" --size "$size" --count "$count") ;;
    *) run=(target/release/$client --scenario "$scenario" --size "$size" --count "$count") ;;
esac

case "$what" in
    stat)
        events=context-switches
        for s in sendto sendmsg write writev recvfrom recvmsg read readv futex epoll_wait poll setsockopt; do
            events+=",syscalls:sys_enter_$s"
        done
        perf stat -D -1 --control "fifo:$dir/ctl" -x, -e "$events" -o "$name.stat" "${run[@]}" \
            2> >(grep -v '^Events' >&2)
        awk -F, -v n="$count" '$1 ~ /^[0-9]+$/ && $1 > 0 {
                e = $3; sub("syscalls:sys_enter_", "", e); printf "%s %.2f/msg  ", e, $1 / n
            } END { print "" }' "$name.stat"
        ;;
    record)
        perf record -D -1 --control "fifo:$dir/ctl" -F ${PERF_FREQ:-2000} --call-graph dwarf,16384 \
            -o "$name.data" "${run[@]}" 2> >(grep -v '^Events\|^\[ perf record' >&2)
        echo "--- CPU by thread"
        perf report -i "$name.data" --no-children --sort comm --stdio -g none 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | head -8
        echo "--- top symbols (self)"
        perf report -i "$name.data" --no-children --sort comm,symbol --stdio -g none 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | head -25
        echo "(perf report -i $name.data --children for the call graphs)"
        ;;
    *) sed -n 2,15p "$0" >&2; exit 2 ;;
esac
