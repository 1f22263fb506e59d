#!/usr/bin/env bash
# Runs the pika driver of `amqp-conform client` in a virtualenv of its own,
# created (with requirements.txt installed) on first use.
#
#   run.sh --setup               create the virtualenv only, then exit 0
#   run.sh --adapter blocking    run the workload with BlockingConnection
#   run.sh --adapter select      run the workload with SelectConnection
#
# PIKA_VENV overrides where the virtualenv lives (default: .venv beside this
# script); PYTHON the interpreter it is made from (default: python3.11, or else python3).
set -euo pipefail

DIR="$(cd "$(dirname "$0")" && pwd)"
VENV="${PIKA_VENV:-$DIR/.venv}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.requirements" ] \
    || ! cmp -s "$DIR/requirements.txt" "$VENV/.requirements"; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$DIR/requirements.txt"
    cp "$DIR/requirements.txt" "$VENV/.requirements"
fi

if [ "${1:-}" = "--setup" ]; then
    exit 0
fi

exec "$VENV/bin/python" "$DIR/driver.py" "$@"
