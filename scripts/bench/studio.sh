#!/usr/bin/env bash
# Diffuse Studio figures for BENCHMARKS.md ("Studio"): requests/s and p50/p99 latency of GET /api/jobs/{id}
# and of the gallery listing under 200 concurrent clients (wrk, loopback); the server's overhead over the bare
# pipeline for one built-in-model image; the server's memory with two models loaded.
#   scripts/bench/studio.sh              (release build; BIG_MODEL=/path/to/sd15 folder for the large pair)
# Installs Debian's wrk when missing. Prints the load average next to every figure: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRATCH="${SCRATCH_PATH:-.build}"
CONFIG="${CONFIG:-release}"
STEPS="${STEPS:-20}"
REPEATS="${REPEATS:-7}"
DURATION="${DURATION:-15s}"
BIG_MODEL="${BIG_MODEL:-}"
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c "$CONFIG" --scratch-path "$SCRATCH" --product diffuse >/dev/null
BIN="$(swift build -c "$CONFIG" --scratch-path "$SCRATCH" --show-bin-path)/diffuse"
WORK=$(mktemp -d)
mkdir "$WORK/models"
ln -s "$PWD/Tests/Fixtures/sd1" "$WORK/models/sd1"
[ -n "$BIG_MODEL" ] && ln -s "$BIG_MODEL" "$WORK/models/big"
SERVER=""
stop() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; SERVER=""; }
trap 'stop; rm -rf "$WORK"' EXIT
serve() {   # serve DATA → sets SERVER and URL
    "$BIN" serve --models "$WORK/models" --data "$1" --port 0 >"$WORK/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 600); do grep -q "listening on" "$WORK/server.log" && break; sleep 0.1; done
    URL=$(grep -o "http://127.0.0.1:[0-9]*" "$WORK/server.log")
}
py() { python3 scripts/bench/studio_bench.py "$@"; }

serve "$WORK/data"
echo "== One built-in-model image, $STEPS steps ($REPEATS runs, seconds)"
py overhead "$URL" "$BIN" "$STEPS" "$REPEATS"
load

echo "== HTTP under load (wrk, 2 threads, 200 connections, $DURATION; gallery of 100 images)"
JOB=$(py fill "$URL" 100)
load
echo "-- GET /api/jobs/{id}"
wrk -t2 -c200 -d"$DURATION" --latency "$URL/api/jobs/$JOB" | grep -E "Requests/sec|Latency|  50%|  99%|Socket errors|Non-2xx"
load
echo "-- GET /api/gallery (50 newest rows)"
wrk -t2 -c200 -d"$DURATION" --latency "$URL/api/gallery" | grep -E "Requests/sec|Latency|  50%|  99%|Socket errors|Non-2xx"
load

stop

echo "== Memory (MiB: VmRSS VmHWM) of a fresh server, two models loaded"
pair() {   # pair DATA MODEL SIZE
    serve "$1"
    echo "-- idle"; py rss "$SERVER"
    py load "$URL" builtin 64
    echo "-- builtin"; py rss "$SERVER"
    py load "$URL" "$2" "$3"
    echo "-- builtin + $2"; py rss "$SERVER"
    stop
}
pair "$WORK/data2" sd1 32
if [ -n "$BIG_MODEL" ]; then pair "$WORK/data3" big 256; fi
load
