#!/usr/bin/env bash
# How well a model written by `diffuse train` denoises at its finest scale: fresh shapes scenes (scene seed 77,
# never a training seed) are noised to one timestep and redrawn with their own captions by image-to-image
# (`diffuse generate --init-image --strength`), and the mean PSNR against the clean picture is printed per
# starting timestep. Strength s with 30 steps starts at the last int(30·s) of the trailing timesteps
# 999, 966, …, 32: 0.034 → one step from t = 32, 0.1 → three steps from t = 99, 0.3 → nine from t = 299.
# Usage: scripts/builtin-denoise-probe.sh [MODEL.safetensors]   (default: the bundled built-in model)
# Environment: COUNT scenes (default 20); BIN a built `diffuse` (default: release build here);
#              PYTHON with numpy and pillow (default .venv/bin/python, from scripts/requirements-fixtures.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
count="${COUNT:-20}"
python="${PYTHON:-.venv/bin/python}"
if [ ! -x "$python" ]; then
    echo "error: $python not found; make it with: python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-fixtures.txt" >&2
    exit 1
fi
model_args=()
if [ $# -ge 1 ]; then
    [ -f "$1" ] || { echo "error: model file $1 does not exist" >&2; exit 1; }
    model_args=(--model "$1")
fi
if [ -z "${BIN:-}" ]; then
    swift build -c release --product diffuse >/dev/null
    BIN="$(swift build -c release --show-bin-path)/diffuse"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$BIN" make-dataset shapes --out "$work/scenes" --count "$count" --size 64 --seed 77 >/dev/null
"$python" - "$BIN" "$work" "${model_args[@]}" <<'EOF'
import json, subprocess, sys
import numpy as np
from PIL import Image
bin_, work, model = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = [json.loads(l) for l in open(f"{work}/scenes/metadata.jsonl")]
for strength, start in [("0.034", 32), ("0.1", 99), ("0.3", 299)]:
    psnr = []
    for i, r in enumerate(rows):
        src, out = f"{work}/scenes/{r['file_name']}", f"{work}/out-{i}.png"
        subprocess.run([bin_, "generate", r["text"], *model, "--init-image", src, "--strength", strength,
                        "--steps", "30", "-s", "1", "-o", out, "--force", "--threads", "1"],
                       check=True, capture_output=True)
        a = np.asarray(Image.open(src).convert("RGB"), dtype=np.float64)
        b = np.asarray(Image.open(out).convert("RGB"), dtype=np.float64)
        psnr.append(10 * np.log10(255 ** 2 / max(((a - b) ** 2).mean(), 1e-12)))
    print(f"from t = {start:3d} (strength {strength}): mean PSNR {np.mean(psnr):.2f} dB over {len(psnr)} scenes "
          f"(min {np.min(psnr):.2f}, max {np.max(psnr):.2f})")
EOF
