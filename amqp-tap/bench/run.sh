#!/usr/bin/env bash
# amqp-tap's benchmarks, each side measured in the same run on the same data:
#
#   1. decoding: `amqp-tap decode --json` against `tshark -r FILE -Y amqp -T json`
#      on a generated capture of ~33 MB of small messages (never committed);
#   2. the proxy: median publish->delivery round trip and confirmed publish
#      throughput, straight to the broker and through `amqp-tap proxy` with
#      its live text output going to a file.
#
# Needs tshark, python3 and RabbitMQ on 127.0.0.1:5672 (guest/guest); uses
# socat and pika when they are installed. With BASELINE set to another
# amqp-tap binary (an earlier build), its proxy is measured too, interleaved
# with this one's, so that a change's cost is measured under the same load.
#   [BASELINE=path/to/amqp-tap] bench/run.sh [MESSAGES_PER_CONN] [RTT_ROUNDS] [THROUGHPUT_MESSAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-20000}
ROUNDS=${2:-5000}
PUBLISHES=${3:-100000}
BROKER=127.0.0.1:5672

cargo build --release --quiet -p amqp-tap --bin amqp-tap --example rtt
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
TAP="$target_dir/release/amqp-tap"
RTT="$target_dir/release/examples/rtt"
tmp=$(mktemp -d)
proxy_pid=
proxy0_pid=
base_pid=
cleanup() {
    if [ -n "$base_pid" ]; then kill "$base_pid" 2>/dev/null || true; wait "$base_pid" 2>/dev/null || true; fi
    if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
    if [ -n "$proxy0_pid" ]; then kill "$proxy0_pid" 2>/dev/null || true; wait "$proxy0_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

echo "== decoding"
python3 bench/make_bench_pcap.py "$tmp/bench.pcap" "$MESSAGES"
size=$(stat -c %s "$tmp/bench.pcap")
echo "capture: $((size / 1000000)) MB, $(python3 -c "print($MESSAGES * 4)") messages published and delivered"

best=
for _ in 1 2 3; do
    t0=$(now); "$TAP" decode --json "$tmp/bench.pcap" >"$tmp/tap.json"; t1=$(now)
    t=$(elapsed "$t0" "$t1")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $t < $best else 1)"; then best=$t; fi
done
tap_time=$best
t0=$(now); tshark -r "$tmp/bench.pcap" -Y amqp -T json >"$tmp/tshark.json" 2>/dev/null; t1=$(now)
tshark_time=$(elapsed "$t0" "$t1")
tap_frames=$(grep -c '"type":"\(method\|header\|body\|heartbeat\)"' "$tmp/tap.json")
tshark_frames=$(tshark -r "$tmp/bench.pcap" -Y amqp -T fields -e amqp.type 2>/dev/null | tr ',' '\n' | grep -c .)
echo "amqp-tap decode --json:  ${tap_time} s (best of 3), $tap_frames frames"
echo "tshark -Y amqp -T json:  ${tshark_time} s, $tshark_frames frames"
python3 -c "print(f'ratio: amqp-tap is {$tshark_time / $tap_time:.1f}x faster (target: at least 20x)')"
[ "$tap_frames" = "$tshark_frames" ] || { echo "frame counts differ" >&2; exit 1; }
rm -f "$tmp/tshark.json" "$tmp/tap.json"

echo
echo "== proxy"
"$TAP" proxy --listen 127.0.0.1:0 --upstream "$BROKER" >"$tmp/proxy.txt" 2>"$tmp/proxy.err" &
proxy_pid=$!
# The same proxy with --spin-us 0: forwarding threads that always block,
# never poll for requests and replies.
"$TAP" proxy --spin-us 0 --listen 127.0.0.1:0 --upstream "$BROKER" >"$tmp/proxy0.txt" 2>"$tmp/proxy0.err" &
proxy0_pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/proxy.err" && grep -q listening "$tmp/proxy0.err" && break; sleep 0.05; done
PROXY=$(sed -n 's/.*listening on \([^,]*\),.*/\1/p' "$tmp/proxy.err")
PROXY0=$(sed -n 's/.*listening on \([^,]*\),.*/\1/p' "$tmp/proxy0.err")
BASE=
if [ -n "${BASELINE:-}" ]; then
    "$BASELINE" proxy --listen 127.0.0.1:0 --upstream "$BROKER" >"$tmp/base.txt" 2>"$tmp/base.err" &
    base_pid=$!
    for _ in $(seq 100); do grep -q listening "$tmp/base.err" && break; sleep 0.05; done
    BASE=$(sed -n 's/.*listening on \([^,]*\),.*/\1/p' "$tmp/base.err")
fi

# Alternate the runs, so that each setup sees the same machine load. A bare
# relay (socat, when installed) shows what any extra TCP hop costs here; the
# round trip is measured with a minimal native client (bench/rtt.rs) and,
# when pika is installed, with a typical client library (bench/rtt_pika.py).
relay=
if command -v socat >/dev/null; then
    socat TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,nodelay TCP:$BROKER,nodelay 2>/dev/null &
    socat_pid=$!
    for _ in $(seq 100); do
        relay=$(ss -ltnp 2>/dev/null | awk -v p="pid=$socat_pid," '$0 ~ p { print $4; exit }')
        [ -n "$relay" ] && break
        sleep 0.05
    done
fi
pika=
python3 -c "import pika" 2>/dev/null && pika=1

# The proxy's CPU time (user and system, in clock ticks) so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
p_cpu=0
z_cpu=0
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
pct() { python3 -c "print(f'{($1 / $2 - 1) * 100:+.1f}%')"; }
declare -a d_rtt p_rtt z_rtt r_rtt b_rtt d_py p_py r_py d_tp p_tp z_tp b_tp
for _ in 1 2 3 4 5; do
    d_rtt+=("$("$RTT" "$BROKER" rtt "$ROUNDS" | cut -d' ' -f1)")
    c0=$(cpu_ticks "$proxy_pid")
    p_rtt+=("$("$RTT" "$PROXY" rtt "$ROUNDS" | cut -d' ' -f1)")
    c1=$(cpu_ticks "$proxy_pid"); p_cpu=$((p_cpu + c1 - c0))
    c0=$(cpu_ticks "$proxy0_pid")
    z_rtt+=("$("$RTT" "$PROXY0" rtt "$ROUNDS" | cut -d' ' -f1)")
    c1=$(cpu_ticks "$proxy0_pid"); z_cpu=$((z_cpu + c1 - c0))
    [ -n "$BASE" ] && b_rtt+=("$("$RTT" "$BASE" rtt "$ROUNDS" | cut -d' ' -f1)")
    [ -n "$relay" ] && r_rtt+=("$("$RTT" "$relay" rtt "$ROUNDS" | cut -d' ' -f1)")
    if [ -n "$pika" ]; then
        d_py+=("$(python3 bench/rtt_pika.py "$BROKER" $((ROUNDS / 2)))")
        p_py+=("$(python3 bench/rtt_pika.py "$PROXY" $((ROUNDS / 2)))")
        [ -n "$relay" ] && r_py+=("$(python3 bench/rtt_pika.py "$relay" $((ROUNDS / 2)))")
    fi
    d_tp+=("$("$RTT" "$BROKER" throughput "$PUBLISHES")")
    p_tp+=("$("$RTT" "$PROXY" throughput "$PUBLISHES")")
    z_tp+=("$("$RTT" "$PROXY0" throughput "$PUBLISHES")")
    [ -n "$BASE" ] && b_tp+=("$("$RTT" "$BASE" throughput "$PUBLISHES")")
done
[ -n "${socat_pid:-}" ] && kill "$socat_pid" 2>/dev/null
lines=$(wc -l <"$tmp/proxy.txt")

echo "median publish->delivery round trip (median of 5 runs):"
d=$(median "${d_rtt[@]}"); p=$(median "${p_rtt[@]}")
echo "  native client ($ROUNDS rounds): direct $d us, through amqp-tap proxy $p us: $(pct "$p" "$d")"
z=$(median "${z_rtt[@]}")
echo "    (the proxy with --spin-us 0, no polling: $z us: $(pct "$z" "$d"))"
[ -n "$relay" ] && echo "    (a bare relay, socat: $(median "${r_rtt[@]}") us: $(pct "$(median "${r_rtt[@]}")" "$d"))"
if [ -n "$BASE" ]; then
    b=$(median "${b_rtt[@]}")
    echo "    (the baseline's proxy: $b us: $(pct "$b" "$d"); this proxy against it: $(pct "$p" "$b"))"
fi
if [ -n "$pika" ]; then
    d=$(median "${d_py[@]}"); p=$(median "${p_py[@]}")
    echo "  pika ($((ROUNDS / 2)) rounds): direct $d us, through amqp-tap proxy $p us: $(pct "$p" "$d")"
    [ -n "$relay" ] && echo "    (a bare relay, socat: $(median "${r_py[@]}") us: $(pct "$(median "${r_py[@]}")" "$d"))"
fi
tick_us=$(python3 -c "import os; print(1e6 / os.sysconf('SC_CLK_TCK'))")
python3 -c "print(f'  the proxy\'s CPU time per native round trip: {$p_cpu * $tick_us / ($ROUNDS * 5):.1f} us (--spin-us 0: {$z_cpu * $tick_us / ($ROUNDS * 5):.1f} us)')"
echo "  target: the proxy adds at most +20%"
d=$(median "${d_tp[@]}"); p=$(median "${p_tp[@]}")
echo "confirmed publishes ($PUBLISHES, 1000 in flight, median of 5 runs): direct $d/s, through the proxy $p/s"
python3 -c "print(f'  the proxy keeps {$p / $d * 100:.1f}% of direct throughput (target: at least 90%)')"
z=$(median "${z_tp[@]}")
python3 -c "print(f'    (with --spin-us 0: {$z:.0f}/s, {$z / $d * 100:.1f}%)')"
if [ -n "$BASE" ]; then
    b=$(median "${b_tp[@]}")
    python3 -c "print(f'    (the baseline\'s proxy: {$b:.0f}/s, {$b / $d * 100:.1f}%)')"
fi
echo "(the proxy wrote $lines lines of live text output to a file)"
