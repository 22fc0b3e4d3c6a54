#!/usr/bin/env bash
# Makes (once) the pinned Python environment in .venv and regenerates Tests/Fixtures.
# Usage: scripts/make_fixtures.sh [part ...]   (parts: see scripts/make_fixtures.py)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --progress-bar off -r scripts/requirements-fixtures.txt
fi
exec .venv/bin/python scripts/make_fixtures.py "$@"
