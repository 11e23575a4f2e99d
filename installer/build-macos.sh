#!/usr/bin/env bash
# Build "Missed-Call Desk.app" and a .dmg on a Mac, run the bundled --self-check, and print
# the bundle size, the build time and the start times.
#
#   bash installer/build-macos.sh
#
# Needs Python 3.11 or newer from python.org or Homebrew, and Xcode's command line tools.
# The app runs on the architecture of the Python that built it: build on an Apple silicon Mac
# for arm64 and on an Intel Mac for x86_64. A universal2 build would need a universal2 wheel
# of every compiled dependency. Output: dist/Missed-Call Desk.app and
# dist/MissedCallDesk-VERSION-macos-ARCH.dmg.
#
# Signing and notarizing (optional; without them Gatekeeper blocks the app on other Macs):
#   MACOS_CODESIGN_IDENTITY="Developer ID Application: Example Brokerage Ltd (TEAMID1234)"
#       PyInstaller signs every binary with it, with the hardened runtime and
#       installer/macos/entitlements.plist (microphone access for the voicemail recorder).
#   MACOS_NOTARY_PROFILE=missed-call-desk
#       a notarytool keychain profile, made once with
#       xcrun notarytool store-credentials missed-call-desk --apple-id ... --team-id ...
#       The script then notarizes the .dmg and staples the ticket to it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

if [ "$(uname -s)" != Darwin ]; then
  echo "error: build-macos.sh runs on macOS only; use build-linux.sh or build-windows.ps1" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
mkdir -p build
if ! "$VENV/bin/python" -m pip install -q -e ".[build]" >build/pip-build.log 2>&1; then
  cat build/pip-build.log >&2
  echo "error: installing the build packages into $VENV failed (log above)" >&2
  exit 1
fi

VERSION=$("$VENV/bin/python" installer/appmeta.py version)
ARCH=$(uname -m)
APP="dist/Missed-Call Desk.app"
EXE="$APP/Contents/MacOS/missed-call-desk"
DMG="dist/MissedCallDesk-$VERSION-macos-$ARCH.dmg"
now() { "$VENV/bin/python" -c 'import time; print(time.monotonic_ns())'; }
seconds() { awk -v ns="$1" 'BEGIN { printf "%.1f s", ns / 1000000000 }'; }

echo "Building Missed-Call Desk $VERSION for macOS $ARCH"
started=$(now)
export MACOS_CODESIGN_IDENTITY=${MACOS_CODESIGN_IDENTITY:-}
if ! "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN --distpath dist \
     --workpath build/pyinstaller installer/missed-call-desk.spec >build/pyinstaller.log 2>&1; then
  tail -n 40 build/pyinstaller.log >&2
  echo "error: PyInstaller failed; the full log is build/pyinstaller.log" >&2
  exit 1
fi
built=$(now)
codesign --verify --deep --strict "$APP"

# Start times with no Python on the PATH. macOS offers no per-file page-cache eviction to
# an unprivileged user, so the first start is timed as it comes ("first start").
if ! "$VENV/bin/python" - "$EXE" >build/start-times.txt <<'PY'
import os, subprocess, sys, tempfile, time
exe = sys.argv[1]
with tempfile.TemporaryDirectory() as empty:
    env = {"PATH": empty, "HOME": os.environ["HOME"], "LANG": "en_US.UTF-8"}
    times = {}
    for args in (["--version"], ["--version"], ["--self-check"], ["--self-check"]):
        started = time.monotonic()
        done = subprocess.run([exe, *args], env=env, capture_output=True, text=True)
        times.setdefault(args[0], []).append(time.monotonic() - started)
        print(done.stdout, end="", file=sys.stderr)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            sys.exit(f"error: {exe} {args[0]} failed with exit code {done.returncode}")
    for name, (first, warm) in times.items():
        print(f"  {name + ':':<20}{first:.2f} s first start, {warm:.2f} s warm")
PY
then
  echo "error: the bundled app failed to start or its self-check failed (output above)" >&2
  exit 1
fi

# A drag-to-Applications disk image.
rm -rf build/dmg "$DMG"
mkdir -p build/dmg
cp -R "$APP" build/dmg/
ln -s /Applications build/dmg/Applications
hdiutil create -quiet -volname "Missed-Call Desk $VERSION" -srcfolder build/dmg -ov -format UDZO "$DMG"
if [ -n "$MACOS_CODESIGN_IDENTITY" ]; then
  codesign --sign "$MACOS_CODESIGN_IDENTITY" --timestamp "$DMG"
  if [ -n "${MACOS_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$DMG" --keychain-profile "$MACOS_NOTARY_PROFILE" --wait
    xcrun stapler staple "$DMG"
    spctl --assess --type open --context context:primary-signature --verbose "$DMG"
  fi
fi

echo
echo "Missed-Call Desk $VERSION, macOS $ARCH"
echo "  PyInstaller build:  $(seconds $((built - started)))"
echo "  app bundle:         $(du -sh "$APP" | cut -f1) in $(find "$APP" -type f | wc -l | tr -d ' ') files ($ROOT/$APP)"
echo "  disk image:         $(du -h "$DMG" | cut -f1) ($ROOT/$DMG)"
cat build/start-times.txt
