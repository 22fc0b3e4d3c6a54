#!/usr/bin/env python3
"""Regenerates every committed test fixture under Tests/Fixtures from Hugging Face diffusers/transformers.

Run through scripts/make_fixtures.sh (which makes the pinned virtual environment). Each module in
scripts/fixtures/ owns one part and exposes main(root: pathlib.Path); pass part names to rebuild only those.
Nothing is downloaded: models are tiny random-weight networks built here with fixed seeds.
"""
import importlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Fixtures"
# Order matters: later parts read what earlier ones wrote (the vocabulary, the tiny models).
PARTS = ["vocab", "tokenizer", "rng", "samplers", "models", "pipeline", "png", "grads"]

def main(argv):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    wanted = argv or PARTS
    for name in wanted:
        if name not in PARTS:
            sys.exit(f"make_fixtures: unknown part '{name}' (known: {', '.join(PARTS)})")
    for name in PARTS:
        if name in wanted:
            print(f"== {name}", flush=True)
            importlib.import_module(f"fixtures.{name}").main(ROOT)

if __name__ == "__main__":
    main(sys.argv[1:])
