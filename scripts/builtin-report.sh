#!/usr/bin/env bash
# Regenerates the built-in model's adherence report and sample grid with a release build:
#   docs/builtin-adherence.md, docs/builtin-samples.png and docs/builtin-samples.txt (the grid's row prompts).
# Usage: scripts/builtin-report.sh [MODEL.safetensors]      (default: the bundled built-in model)
# Environment: COUNT   prompts per group (default 500; the issue asks for ≥ 500 prompt/seed pairs)
#              SCRATCH SwiftPM scratch path (default .build)
#              OUT_DIR where the three files go (default docs)
# The report records the exact `diffuse evaluate` command, the model's SHA-256 and its training steps/time.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 1 ]; then
    echo "usage: scripts/builtin-report.sh [MODEL.safetensors]" >&2
    exit 2
fi
model_args=()
if [ $# -eq 1 ]; then
    if [ ! -f "$1" ]; then
        echo "error: model file $1 does not exist" >&2
        exit 1
    fi
    model_args=(--model "$1")
fi
count="${COUNT:-500}"
scratch="${SCRATCH:-.build}"
out="${OUT_DIR:-docs}"

swift build -c release --scratch-path "$scratch" --product diffuse
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/diffuse"
mkdir -p "$out"
"$bin" evaluate ${model_args[@]+"${model_args[@]}"} --count "$count" \
    --report "$out/builtin-adherence.md" --grid "$out/builtin-samples.png" --force
