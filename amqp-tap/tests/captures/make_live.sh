#!/usr/bin/env bash
# Records live.pcapng, the real sessions of amqp-tap's tests: live_session.py
# talks to the local RabbitMQ (127.0.0.1:5672) from two fixed local ports
# while tshark records the loopback interface, filtered to those ports (other
# clients of the broker may be busy at the same time).
#
# Needs root (to capture), tshark, python3 with pika, and the broker.
set -euo pipefail
cd "$(dirname "$0")"
P1=45671
P2=45672
tmp=$(mktemp -d)
pid=
stop_capture() {
    # SIGTERM: a background job of a non-interactive shell ignores SIGINT.
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true; pid=; fi
}
trap 'stop_capture; rm -rf "$tmp"' EXIT

tshark -i lo -B 64 -f "tcp port $P1 or tcp port $P2" -w "$tmp/live.pcapng" 2>"$tmp/tshark.log" &
pid=$!
for _ in $(seq 100); do
    grep -q "Capturing on" "$tmp/tshark.log" && break
    sleep 0.1
done
sleep 0.5 # "Capturing on" comes a little before the first packets are
python3 live_session.py "$P1" "$P2"
sleep 1
stop_capture
if grep -q "dropped" "$tmp/tshark.log"; then
    cat "$tmp/tshark.log" >&2
    echo "the capture lost packets: run again" >&2
    exit 1
fi
# Without the capturing machine's description (pcapng section and interface options).
python3 strip_pcapng.py "$tmp/live.pcapng" live.pcapng
ls -l live.pcapng
