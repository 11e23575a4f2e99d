#!/usr/bin/env bash
# Build the Linux bundle and tarball, then run the bundled --self-check with no Python on
# the PATH and print the bundle size, the build time and the cold start times.
#
#   bash installer/build-linux.sh
#
# Output: dist/missed-call-desk/ (the one-folder bundle) and
# dist/missed-call-desk-VERSION-linux-ARCH.tar.gz (the bundle plus install.sh).
# Uses the virtual environment in $VENV (default .venv), creating it when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# binutils: PyInstaller reads library dependencies with objdump, and the spec strips debug
# sections. The rest lets the self-check start Qt's xcb plugin on a virtual display.
source installer/lib/debian-packages.sh
install_missing_packages binutils xvfb xauth "${QT_PACKAGES[@]}"

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
BUNDLE=dist/missed-call-desk
TARBALL=dist/missed-call-desk-$VERSION-linux-$ARCH.tar.gz

echo "Building Missed-Call Desk $VERSION for Linux $ARCH with PyInstaller $("$VENV/bin/pyinstaller" --version)"
started=$(date +%s%N)
if ! "$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN --distpath dist \
     --workpath build/pyinstaller installer/missed-call-desk.spec >build/pyinstaller.log 2>&1; then
  tail -n 40 build/pyinstaller.log >&2
  echo "error: PyInstaller failed; the full log is build/pyinstaller.log" >&2
  exit 1
fi
built=$(date +%s%N)
grep '^bundle_filter:' build/pyinstaller.log || true

# Desktop integration for the tarball: a .desktop file and the icon in the hicolor theme.
mkdir -p "$BUNDLE/share/applications"
cp installer/linux/missed-call-desk.desktop "$BUNDLE/share/applications/"
for png in resources/icons/app-*.png; do
  size=$(basename "$png" .png); size=${size#app-}
  mkdir -p "$BUNDLE/share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$BUNDLE/share/icons/hicolor/${size}x${size}/apps/missed-call-desk.png"
done
mkdir -p "$BUNDLE/share/icons/hicolor/scalable/apps"
cp resources/icons/app.svg "$BUNDLE/share/icons/hicolor/scalable/apps/missed-call-desk.svg"
cp installer/linux/install.sh "$BUNDLE/install.sh"
chmod +x "$BUNDLE/install.sh"

tar -C dist -czf "$TARBALL" missed-call-desk
packed=$(date +%s%N)

bundle_bytes=$(du -s --apparent-size --block-size=1 "$BUNDLE" | cut -f1)
bundle_files=$(find "$BUNDLE" -type f | wc -l)
tarball_bytes=$(stat -c %s "$TARBALL")
mb() { awk -v bytes="$1" 'BEGIN { printf "%.1f MB", bytes / 1000000 }'; }
seconds() { awk -v ns="$1" 'BEGIN { printf "%.1f s", ns / 1000000000 }'; }

# The check runs the bundle with no Python on the PATH and prints the start times.
bash installer/check-bundle.sh "$BUNDLE" "$VERSION" --evict-with "$VENV/bin/python"

echo
echo "Missed-Call Desk $VERSION, Linux $ARCH"
echo "  PyInstaller build:  $(seconds $((built - started))) (tarball $(seconds $((packed - built))))"
echo "  bundle:             $(mb "$bundle_bytes") in $bundle_files files ($ROOT/$BUNDLE)"
echo "  tarball:            $(mb "$tarball_bytes") ($ROOT/$TARBALL)"
