#!/usr/bin/env bash
# Runs `diffuse bench` and diffusers on the same SD 1.5-architecture random-weight model, same settings,
# side by side, and prints ours / diffusers per component. Not part of CI (minutes at 512 px).
# Usage: scripts/bench/compare.sh [MODEL_DIR] [--size 512 --batch 2 --repeats 3 --threads 2 --components text,unet,vae]
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-.bench/sd15-random}; shift || true
args=("$@")
swift build -c release --product diffuse >&2
bin=$(swift build -c release --show-bin-path)/diffuse
[ -f "$model/unet/diffusion_pytorch_model.safetensors" ] || "$bin" bench --write-model "$model" >&2
[ -x .venv/bin/python ] || { python3 -m venv .venv && .venv/bin/pip install -q -r scripts/requirements-fixtures.txt; }
ours=$("$bin" bench -m "$model" "${args[@]}" | tee /dev/stderr | tail -1)
theirs=$(.venv/bin/python scripts/bench/diffusers_bench.py "$model" "${args[@]}" | tee /dev/stderr | tail -1)
.venv/bin/python - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"\n{'component':<10} {'diffuse s':>10} {'diffusers s':>12} {'ratio':>7}")
for k in ["load", "text", "unet", "vae", "pipeline"]:
    if k in o and k in t:
        print(f"{k:<10} {o[k]:10.3f} {t[k]:12.3f} {o[k]/t[k]:7.2f}")
print(f"{'peak RSS':<10} {o['peak_rss_bytes']/2**30:9.2f}G {t['peak_rss_bytes']/2**30:11.2f}G {o['peak_rss_bytes']/t['peak_rss_bytes']:7.2f}")
print(json.dumps({"diffuse": o, "diffusers": t}))
PY
