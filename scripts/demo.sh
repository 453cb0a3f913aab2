#!/usr/bin/env bash
# Set up a virtual environment and run the demo: a workspace with example
# challenges and participants is evaluated, the site built and served on
# http://127.0.0.1:8000. Extra arguments go to `site-builder demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c requirements-lock.txt -e .
exec .venv/bin/site-builder demo --dir demo "$@"
