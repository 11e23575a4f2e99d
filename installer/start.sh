#!/usr/bin/env bash
# Start Missed-Call Desk from a source checkout on Debian or Ubuntu: installs Qt's system
# libraries and a virtual environment the first time, then opens the window (or runs
# headless when there is no display). Extra arguments go to the app.
set -euo pipefail
cd "$(dirname "$0")/.."

source installer/lib/debian-packages.sh
require_python
install_missing_packages "${QT_PACKAGES[@]}" "${PYTHON_PACKAGES[@]}"
if [ ! -x .venv/bin/missed-call-desk ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e .
fi

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [[ " $* " != *" --headless "* ]]; then
  echo "No display found: running headless (listener and scheduler only). Stop with Ctrl+C."
  exec .venv/bin/missed-call-desk --headless "$@"
fi
exec .venv/bin/missed-call-desk "$@"
