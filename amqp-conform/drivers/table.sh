#!/usr/bin/env bash
# Regenerates the client-mode results table of amqp-conform/README.md:
# builds amqp-conform and every driver (amqp-client's four adapters, pika's
# two, lapin 4 and 3, amqprs), grades each client against every scenario,
# keeps the JSON reports in $CARGO_TARGET_DIR/conform-clients/ (target/ by
# default), and replaces the table between the README's markers.
#
#   amqp-conform/drivers/table.sh              every client
#   amqp-conform/drivers/table.sh tokio pika-select   only these (their
#                                              columns are replaced, the
#                                              others' kept from the last run)
#
# Clients: blocking tokio smol event-loop pika-blocking pika-select lapin4
# (lapin 4) lapin (lapin 3) amqprs. The scenarios run one at a time (their
# grades time the client), so a whole run takes several minutes: clients
# that hang are killed at 30 s per scenario.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGET="${CARGO_TARGET_DIR:-target}"
PEERS_TARGET="${PEERS_TARGET_DIR:-amqp-conform/drivers/peers/target}"
OUT="$TARGET/conform-clients"
mkdir -p "$OUT"

ALL=(blocking tokio smol event-loop pika-blocking pika-select lapin4 lapin amqprs)
if [ "$#" -gt 0 ]; then
    SELECTED=("$@")
else
    SELECTED=("${ALL[@]}")
fi

driver() {
    case "$1" in
    blocking | tokio | smol) echo "$TARGET/release/examples/conform_driver_$1" ;;
    event-loop) echo "$TARGET/release/examples/conform_driver_event_loop" ;;
    pika-blocking) echo "amqp-conform/drivers/pika/run.sh --adapter blocking" ;;
    pika-select) echo "amqp-conform/drivers/pika/run.sh --adapter select" ;;
    lapin | lapin4 | amqprs) echo "$PEERS_TARGET/release/conform-driver-$1" ;;
    *)
        echo "unknown client $1 (known: ${ALL[*]})" >&2
        exit 2
        ;;
    esac
}

for client in "${SELECTED[@]}"; do
    driver "$client" >/dev/null
done

echo "== building amqp-conform and amqp-client's drivers" >&2
cargo build --release --locked -q -p amqp-conform --bin amqp-conform
cargo build --release --locked -q -p amqp-tests \
    --example conform_driver_blocking --example conform_driver_tokio \
    --example conform_driver_smol --example conform_driver_event_loop
CONFORM="$TARGET/release/amqp-conform"

for client in "${SELECTED[@]}"; do
    case "$client" in
    pika-*)
        echo "== pika's virtualenv" >&2
        amqp-conform/drivers/pika/run.sh --setup
        ;;
    lapin | lapin4 | amqprs)
        echo "== building the $client driver" >&2
        cargo build --release --locked -q \
            --manifest-path amqp-conform/drivers/peers/Cargo.toml \
            --target-dir "$PEERS_TARGET" --bin "conform-driver-$client"
        ;;
    esac
done

# A panic's message, not its backtrace, in the driver's standard error.
export RUST_BACKTRACE=0
for client in "${SELECTED[@]}"; do
    echo "== grading $client" >&2
    # Exit code 1 means some scenario did not pass: that is a result.
    "$CONFORM" client --driver "$(driver "$client")" --json >"$OUT/$client.json" || [ $? -eq 1 ]
done

python3 amqp-conform/drivers/table.py "$OUT" amqp-conform/README.md "${ALL[@]}"
echo "== amqp-conform/README.md updated from $OUT" >&2
