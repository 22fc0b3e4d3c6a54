#!/usr/bin/env bash
# Tests Diffuse Studio's compatible APIs with the real Python clients (openai, webuiapi) and the gallery's
# kill -9 durability. Builds `diffuse`, makes a venv with the pinned versions of tests/clients/requirements.txt
# (PyPI must be reachable), and runs tests/clients/test_clients.py; the tests start and stop their own servers
# on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH_PATH:-.build}"
VENV="${CLIENTS_VENV:-$SCRATCH/clients-venv}"

swift build --scratch-path "$SCRATCH" --product diffuse
BIN="$(swift build --scratch-path "$SCRATCH" --show-bin-path)/diffuse"

if [ ! -x "$VENV/bin/pytest" ] || ! cmp -s tests/clients/requirements.txt "$VENV/requirements.txt"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
    cp tests/clients/requirements.txt "$VENV/requirements.txt"
fi

DIFFUSE_BIN="$BIN" "$VENV/bin/pytest" -q tests/clients/test_clients.py "$@"
