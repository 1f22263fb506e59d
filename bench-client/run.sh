#!/usr/bin/env bash
# Client benchmark: amqp-client (blocking, tokio, smol, event loop) against
# lapin, amqprs and amiquip on a live RabbitMQ. Builds every binary once,
# then for each size and scenario runs the clients interleaved (ours, lapin,
# lapin-inflight, amqprs, amiquip, then again ...), one process per run, and
# prints a table of the medians (summarize.py). Raw results:
# target/bench-results/<stamp>.jsonl.
#
#   ./run.sh                # full: 3 runs per client, ~15-20 minutes
#   ./run.sh --quick        # smoke test: 1 run, small counts
#   ./run.sh --runs 5       # more runs
#   ./run.sh --before       # ours against ours as of before/COMMIT (each of
#                           # our four adapters and its -before build; 16 B
#                           # and 1 KiB unless SIZES says otherwise)
#   BEFORE=<commit> ./run.sh --before   # ... as of another commit (with
#                           # BEFORE_API=current when it has today's API)
#   AMQP_URI=amqp://user:pass@host:5672/%2f ./run.sh
#   SIZES="16 1024" SCENARIOS="publish latency" ./run.sh   # a subset
#   CLIENTS="ours ours-before lapin" ./run.sh              # some clients only
#
# A client whose label ends in -before is ours built by before/ against the
# earlier amqp-client (before/extract.sh extracts it; run.sh does it).
set -euo pipefail
cd "$(dirname "$0")"

runs=3
quick=0
before=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; runs=1 ;;
        --runs) runs="$2"; shift ;;
        --before) before=1 ;;
        *) echo "usage: $0 [--quick] [--runs N] [--before]" >&2; exit 2 ;;
    esac
    shift
done

# Our four adapters against their builds as of before/COMMIT.
BEFORE_CLIENTS="ours ours-before ours-tokio ours-tokio-before ours-smol ours-smol-before ours-el ours-el-before"
if [ "$before" = 1 ]; then
    CLIENTS=${CLIENTS:-$BEFORE_CLIENTS}
    SIZES=${SIZES:-"16 1024"}
fi
clients_filter=${CLIENTS:-}
# Any -before client asked for builds before/ too.
case " $clients_filter " in *-before\ *) before=1 ;; esac

sizes=${SIZES:-"16 1024 65536"}
scenarios=${SCENARIOS:-"publish publish-confirm consume-ack consume-noack latency"}

# Messages per run: about 1-3 s each for most clients on a 2-core machine.
count_for() { # scenario size
    if [ "$quick" = 1 ]; then
        case "$1:$2" in
            latency:*) echo 300 ;;
            *:65536) echo 500 ;;
            *) echo 5000 ;;
        esac
        return
    fi
    case "$1:$2" in
        latency:*) echo 5000 ;;
        *:65536) echo 20000 ;;
        *) echo 100000 ;;
    esac
}

# The clients of a scenario, in their interleaving order: "label|binary
# args", the binary under target/release (before/target/release for a
# -before client: each of ours follows its own build).
all_clients_for() { # scenario
    twins() { echo "$1|$2"; echo "$1-before|$2"; }
    twins ours ours
    case "$1" in
        consume-ack|consume-noack) twins ours-cb "ours --mode callback" ;;
    esac
    twins ours-tokio ours_tokio
    # Both tokio clients on a current-thread runtime too, where the
    # application, the connection's tasks and the reactor share one thread,
    # and with the application in a spawned task, as in a server.
    [ "$1" = latency ] && twins ours-tokio-ct "ours_tokio --mode current-thread"
    [ "$1" = latency ] && twins ours-tokio-sp "ours_tokio --mode spawned"
    twins ours-smol ours_smol
    twins ours-el ours_el
    echo "lapin|lapin --mode await"
    case "$1" in
        # Nothing to keep in flight in the other two: a no-ack consumer
        # sends nothing, and a round trip has one message in flight.
        publish|publish-confirm|consume-ack) echo "lapin-inflight|lapin --mode inflight" ;;
    esac
    echo "amqprs|amqprs"
    [ "$1" = latency ] && echo "amqprs-ct|amqprs --mode current-thread"
    [ "$1" = latency ] && echo "amqprs-sp|amqprs --mode spawned"
    echo "amiquip|amiquip"
}

# The clients to run: those CLIENTS names, or every one (the -before builds
# only with --before).
clients_for() { # scenario
    all_clients_for "$1" | while IFS= read -r entry; do
        label=${entry%%|*}
        if [ -n "$clients_filter" ]; then
            case " $clients_filter " in *" $label "*) ;; *) continue ;; esac
        elif [ "$before" = 0 ] && [ "${label%-before}" != "$label" ]; then
            continue
        fi
        echo "$entry"
    done
}

binary_dir() { # label
    case "$1" in
        *-before) echo before/target/release ;;
        *) echo target/release ;;
    esac
}

filter() { grep -Ev '^\s*(Compiling|Finished|warning: the following|note: to see)' >&2 || true; }
echo "building (release) ..." >&2
cargo build --release --locked --bins 2>&1 | filter
for b in ours ours_tokio ours_smol ours_el lapin amqprs amiquip; do
    [ -x "target/release/$b" ] || { echo "missing target/release/$b: build failed" >&2; exit 1; }
done
if [ "$before" = 1 ]; then
    echo "building the -before clients (release) ..." >&2
    before/extract.sh ${BEFORE:-}
    api=()
    [ "${BEFORE_API:-}" = current ] && api=(--no-default-features --features before)
    (cd before && cargo build --release --locked --bins "${api[@]}") 2>&1 | filter
    for b in ours ours_tokio ours_smol ours_el; do
        [ -x "before/target/release/$b" ] || { echo "missing before/target/release/$b: build failed" >&2; exit 1; }
    done
fi

mkdir -p target/bench-results
stamp=$(date +%Y%m%d-%H%M%S)
suffix=""
[ "$quick" = 1 ] && suffix=-quick
out=target/bench-results/$stamp$suffix.jsonl
: > "$out"
errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT
echo "results: $out (runs: $runs)" >&2

for size in $sizes; do
    for scenario in $scenarios; do
        count=$(count_for "$scenario" "$size")
        mapfile -t clients < <(clients_for "$scenario")
        [ "${#clients[@]}" -gt 0 ] || continue
        for run in $(seq 1 "$runs"); do
            for entry in "${clients[@]}"; do
                label=${entry%%|*}
                cmd=${entry#*|}
                bin=$(binary_dir "$label")
                # shellcheck disable=SC2086
                if line=$(timeout 600 "$bin"/$cmd --scenario "$scenario" --size "$size" --count "$count" 2>"$errfile"); then
                    :
                else
                    rc=$?
                    [ -n "$line" ] || line="{\"client\":\"$label\",\"scenario\":\"$scenario\",\"size\":$size,\"count\":$count,\"ok\":false,\"error\":\"exit $rc\"}"
                fi
                echo "$line" >> "$out"
                printf '%-20s %-15s %6s B  run %s/%s  %s\n' "$label" "$scenario" "$size" "$run" "$runs" \
                    "$(echo "$line" | grep -o '"msgs_per_s":[0-9]*\|"error":"[^"]*"' | head -1)" >&2
                if [ -s "$errfile" ]; then sed 's/^/    stderr: /' "$errfile" >&2; fi
                # Let the broker settle (queue deletion, garbage collection).
                sleep 0.3
            done
        done
    done
done

if command -v rabbitmqctl >/dev/null 2>&1; then
    left=$(rabbitmqctl list_queues -q name 2>/dev/null | grep -c '^bench\.' || true)
    [ "$left" = 0 ] || echo "warning: $left bench.* queues left on the broker" >&2
fi

python3 summarize.py "$out"
