#!/usr/bin/env bash
# Install what the test suite needs on Debian or Ubuntu, then run it under Xvfb with a
# PulseAudio test microphone. Extra arguments go to pytest (for example: -k opt_out).
set -euo pipefail
cd "$(dirname "$0")/.."

source installer/lib/debian-packages.sh
require_python
# A virtual screen and PulseAudio for the recorder tests, beside Qt's libraries.
install_missing_packages xvfb xauth pulseaudio pulseaudio-utils "${QT_PACKAGES[@]}" "${PYTHON_PACKAGES[@]}"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# pip's output goes to a log that is shown only when the install fails.
pip_log=$(mktemp)
if ! { .venv/bin/python -m pip install -q --upgrade pip \
       && .venv/bin/python -m pip install -q -e ".[test]"; } >"$pip_log" 2>&1; then
  cat "$pip_log" >&2
  echo "error: installing the Python packages failed (log above)" >&2
  exit 1
fi
rm -f "$pip_log"

# A PulseAudio null sink with a remapped source, so Qt sees a microphone.
if ! pactl info >/dev/null 2>&1; then
  pulseaudio -D --exit-idle-time=-1 --disallow-exit >/dev/null 2>&1 || true
  for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
if pactl info >/dev/null 2>&1; then
  pactl list short sinks | grep -q "^[0-9]*\smic\s" \
    || pactl load-module module-null-sink sink_name=mic >/dev/null
  pactl list short sources | grep -q "\svirtmic\s" \
    || pactl load-module module-remap-source master=mic.monitor source_name=virtmic >/dev/null
  pactl set-default-source virtmic
  PULSE_SERVER=$(pactl info | sed -n 's/^Server String: //p')
  export PULSE_SERVER
else
  echo "warning: PulseAudio did not start; the microphone tests will be skipped" >&2
fi

exec xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python -m pytest "$@"
