#!/usr/bin/env bash
# Tests Diffuse Studio with real clients: the Python client libraries (openai, webuiapi) against its
# compatible APIs, the gallery's kill -9 durability, and the web page in a real headless Chromium (Debian's
# `chromium`, installed here when missing; needs root for apt-get, as .ci/run does for libsqlite3-dev).
# Builds `diffuse`, makes a venv with the pinned versions of tests/clients/requirements.txt (PyPI must be
# reachable), and runs tests/clients/; the tests start and stop their own servers on free loopback ports.
# The browser test's screenshots go to $SCRATCH/artifacts (studio.png, studio-gallery.png).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH_PATH:-.build}"
VENV="${CLIENTS_VENV:-$SCRATCH/clients-venv}"
case "$SCRATCH" in /*) scratch_abs="$SCRATCH" ;; *) scratch_abs="$PWD/$SCRATCH" ;; esac
export STUDIO_ARTIFACTS="${STUDIO_ARTIFACTS:-$scratch_abs/artifacts}"

if ! command -v chromium >/dev/null && [ -z "${CHROMIUM:-}" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

swift build --scratch-path "$SCRATCH" --product diffuse
BIN="$(swift build --scratch-path "$SCRATCH" --show-bin-path)/diffuse"

if [ ! -x "$VENV/bin/pytest" ] || ! cmp -s tests/clients/requirements.txt "$VENV/requirements.txt"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
    cp tests/clients/requirements.txt "$VENV/requirements.txt"
fi

rm -f "$STUDIO_ARTIFACTS"/studio*.png
status=0
DIFFUSE_BIN="$BIN" "$VENV/bin/pytest" -q tests/clients "$@" || status=$?
for shot in "$STUDIO_ARTIFACTS"/studio*.png; do
    if [ -f "$shot" ]; then echo "screenshot: $shot"; fi
done
exit "$status"
