#!/usr/bin/env bash
# Set up a virtual environment with the test extras and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k score -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser tests drive Debian's Chromium; install it when we can.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing, browser tests will be skipped (sudo apt-get install chromium)" >&2
  fi
fi

# SITE_BUILDER_VENV moves the environment elsewhere. The sandbox shows a run
# the Python install but hides /tmp and home folders, so a checkout under /tmp
# needs its environment outside them for the full isolation tests.
VENV="${SITE_BUILDER_VENV:-.venv}"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# The lock pins every version, so golden files and CI do not drift with new releases.
"$VENV/bin/python" -m pip install -q -c requirements-lock.txt -e '.[test]'
exec "$VENV/bin/python" -m pytest "$@"
