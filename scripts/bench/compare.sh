#!/usr/bin/env bash
# Runs `diffuse bench` and diffusers on the same SD 1.5-architecture random-weight model, same settings,
# side by side, and prints ours / diffusers per component. Each component runs in its own process on
# both sides (ours, then diffusers', seconds apart), so its peak RSS is that component's alone.
# Not part of CI (minutes at 512 px).
# Usage: scripts/bench/compare.sh [MODEL_DIR] [--size 512 --batch 2 --repeats 3 --threads 2 --components text,unet,vae]
# SCRATCH=.build-perf picks the SwiftPM scratch folder (default .build); BIN=… skips the build.
# ROUNDS=N alternates ours/diffusers N times per component and reports each side's median: this VM's
# speed drifts by ±30% between identical runs (noisy neighbours), so one pair can flatter either side.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-.bench/sd15-random}; shift || true
scratch=${SCRATCH:-.build}
components=text,unet,vae
args=()
while [ $# -gt 0 ]; do
    if [ "$1" = --components ]; then components=$2; shift 2; else args+=("$1"); shift; fi
done
# BIN=path/to/diffuse times that binary instead of building (e.g. a copy of the build before a change).
if [ -n "${BIN:-}" ]; then
    bin=$BIN
else
    swift build -c release --scratch-path "$scratch" --product diffuse >&2
    bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)/diffuse
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
[ -f "$model/unet/diffusion_pytorch_model.safetensors" ] || "$bin" bench --write-model "$model" >&2
[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/pip install -q -r scripts/requirements-fixtures.txt; }
rounds=${ROUNDS:-1}
ours=(); theirs=()
for c in ${components//,/ }; do
    o=(); t=()
    for _ in $(seq "$rounds"); do
        o+=("$("$bin" bench -m "$model" "${args[@]}" --components "$c" | tee -a /dev/stderr | tail -1)")
        t+=("$(.venv/bin/python scripts/bench/diffusers_bench.py "$model" "${args[@]}" --components "$c" | tee -a /dev/stderr | tail -1)")
    done
    ours+=("$(printf '%s\t' "${o[@]}")"); theirs+=("$(printf '%s\t' "${t[@]}")")
done
.venv/bin/python - "$(printf '%s\n' "${ours[@]}")" "$(printf '%s\n' "${theirs[@]}")" <<'PY'
import json, statistics, sys

def median_run(line):
    # One component's rounds (tab-separated JSON lines) → one record: the median of every number.
    runs = [json.loads(r) for r in line.split("\t") if r.strip()]
    out = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = statistics.median(r[k] for r in runs)
    if len(runs) > 1:
        out["rounds"] = len(runs)
        out["all"] = {k: [r[k] for r in runs] for k in ["text", "unet", "vae", "pipeline", "load"] if k in runs[0]}
    return out

ours = [median_run(l) for l in sys.argv[1].splitlines()]
theirs = [median_run(l) for l in sys.argv[2].splitlines()]
print(f"\n{'component':<10} {'diffuse s':>10} {'diffusers s':>12} {'ratio':>7} {'RSS diffuse':>12} {'RSS diffusers':>14}")
for o, t in zip(ours, theirs):
    for k in ["load", "text", "unet", "vae", "pipeline"]:
        if k in o and k in t:
            ro, rt = o["peak_rss_bytes"] / 2**30, t["peak_rss_bytes"] / 2**30
            print(f"{k:<10} {o[k]:10.3f} {t[k]:12.3f} {o[k]/t[k]:7.2f} {ro:11.2f}G {rt:13.2f}G")
            if k + "_cpu" in o and k + "_cpu" in t:
                oc, tc = o[k + "_cpu"], t[k + "_cpu"]
                print(f"{k + ' cpu':<10} {oc:10.3f} {tc:12.3f} {oc/tc:7.2f}   (CPU seconds, all threads)")
print(json.dumps({"diffuse": ours, "diffusers": theirs}))
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
