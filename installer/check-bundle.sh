#!/usr/bin/env bash
# Run a built Linux bundle the way a user's machine would: an empty environment with no
# Python on the PATH, on an Xvfb display so Qt loads its real xcb plugin. Prints the time
# to `--version` and to `--self-check` done, first cold and then warm.
#
#   bash installer/check-bundle.sh dist/missed-call-desk [EXPECTED_VERSION] [--evict-with PYTHON]
#
# "Cold" means the bundle's files were evicted from the page cache first (posix_fadvise,
# run by PYTHON from the build environment before the timed start, so no other program's
# cache is touched). Without --evict-with, the first start is timed as it comes.
# With CI=true a missing Xvfb is an error; elsewhere the check falls back to offscreen.
set -euo pipefail

BUNDLE=${1:?usage: check-bundle.sh BUNDLE_DIR [EXPECTED_VERSION] [--evict-with PYTHON]}
shift
EXPECTED_VERSION=""
EVICT_PYTHON=""
while [ $# -gt 0 ]; do
  case $1 in
    --evict-with) EVICT_PYTHON=${2:?--evict-with needs a Python interpreter}; shift 2 ;;
    *) EXPECTED_VERSION=$1; shift ;;
  esac
done
EXE=$BUNDLE/missed-call-desk
if [ ! -x "$EXE" ]; then
  echo "error: $EXE not found or not executable; build the bundle first" >&2
  exit 1
fi

WORK=$(mktemp -d /tmp/mcd-check-bundle.XXXXXX)
XVFB_PID=""
cleanup() {
  if [ -n "$XVFB_PID" ]; then kill "$XVFB_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# An empty folder is the whole PATH, so nothing the bundle runs can find a Python.
mkdir -p "$WORK/bin" "$WORK/home"
if env -i PATH="$WORK/bin" /bin/sh -c 'command -v python3 || command -v python' >/dev/null; then
  echo "error: a Python interpreter is still on the PATH of the check" >&2
  exit 1
fi
RUN_ENV=(env -i "PATH=$WORK/bin" "HOME=$WORK/home" "LANG=C.UTF-8" "TMPDIR=$WORK")

# A display: the caller's, else a private Xvfb on a display number it picks itself.
if [ -n "${DISPLAY:-}" ]; then
  RUN_ENV+=("DISPLAY=$DISPLAY")
  if [ -n "${XAUTHORITY:-}" ]; then RUN_ENV+=("XAUTHORITY=$XAUTHORITY"); fi
  echo "Display: $DISPLAY (from the caller)"
elif command -v Xvfb >/dev/null; then
  Xvfb -displayfd 3 -screen 0 1366x768x24 -nolisten tcp 3>"$WORK/display" 2>"$WORK/xvfb.log" &
  XVFB_PID=$!
  for _ in $(seq 100); do
    [ -s "$WORK/display" ] && break
    kill -0 "$XVFB_PID" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$WORK/display" ]; then
    cat "$WORK/xvfb.log" >&2
    echo "error: Xvfb did not start (log above)" >&2
    exit 1
  fi
  RUN_ENV+=("DISPLAY=:$(head -n1 "$WORK/display")")
  echo "Display: :$(head -n1 "$WORK/display") (Xvfb started for this check)"
elif [ "${CI:-}" = true ]; then
  echo "error: Xvfb is not installed, so the xcb platform plugin cannot be checked" >&2
  exit 1
else
  echo "Display: none, and no Xvfb: the self-check runs offscreen"
fi

evict() {
  if [ -n "$EVICT_PYTHON" ]; then
    sync
    "$EVICT_PYTHON" - "$BUNDLE" <<'PY'
import os, sys
for folder, _dirs, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(folder, name)
        if os.path.islink(path):
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
PY
  fi
}

# Runs the bundle with the given arguments; prints its output to $WORK/out and its time.
timed_run() {
  local started ended status=0
  started=$(date +%s%N)
  "${RUN_ENV[@]}" "$EXE" "$@" >"$WORK/out" 2>"$WORK/err" || status=$?
  ended=$(date +%s%N)
  awk -v ns="$((ended - started))" 'BEGIN { printf "%.2f s", ns / 1000000000 }'
  return $status
}

cold="first start"
if [ -n "$EVICT_PYTHON" ]; then cold="cold"; fi

evict
version_cold=$(timed_run --version) || { cat "$WORK/out" "$WORK/err" >&2; echo "error: --version failed" >&2; exit 1; }
printed=$(cat "$WORK/out")
version_warm=$(timed_run --version)
if [ -n "$EXPECTED_VERSION" ] && [ "$printed" != "missed-call-desk $EXPECTED_VERSION" ]; then
  echo "error: --version printed '$printed', expected 'missed-call-desk $EXPECTED_VERSION'" >&2
  exit 1
fi

evict
if ! check_cold=$(timed_run --self-check); then
  cat "$WORK/out" "$WORK/err"
  echo "error: the bundled self-check failed (output above)" >&2
  exit 1
fi
cat "$WORK/out"
check_warm=$(timed_run --self-check) || { cat "$WORK/out" "$WORK/err" >&2; echo "error: the second self-check failed" >&2; exit 1; }

echo
echo "Bundled app with no Python on the PATH: $printed"
echo "  --version:     $version_cold $cold, $version_warm warm"
echo "  --self-check:  $check_cold $cold, $check_warm warm"
