#!/usr/bin/env bash
# Create .venv and install agn-saliency with its test extras (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[test]"
