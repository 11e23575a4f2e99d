#!/usr/bin/env bash
# Install what the test suite needs on Debian or Ubuntu, then run it under Xvfb with a
# PulseAudio test microphone. Extra arguments go to pytest (for example: -k opt_out).
set -euo pipefail
cd "$(dirname "$0")/.."

# Qt's system libraries, a virtual screen, and PulseAudio for the recorder tests.
APT_PACKAGES=(
  xvfb xauth libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-shape0 libxcb-xinerama0 libxcb-randr0 libxcb-image0 libxcb-render-util0 libxcb-xkb1
  libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 libpulse0 libpulse-mainloop-glib0
  pulseaudio pulseaudio-utils
)

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  APT_PACKAGES+=(python3-venv)
fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

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
