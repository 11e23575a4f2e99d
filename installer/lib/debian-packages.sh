# Shared by the start, test and build scripts: install the Debian or Ubuntu packages that are
# missing, with sudo when not root. Source this file, then call:
#   install_missing_packages PACKAGE...
install_missing_packages() {
  command -v dpkg-query >/dev/null || return 0
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "Installing system packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Stop unless $PYTHON (default python3) is 3.11 or newer. Sets PYTHON_PACKAGES to the Debian
# packages its venv module still needs (python3-venv where ensurepip is missing).
require_python() {
  PYTHON=${PYTHON:-python3}
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed; set PYTHON=/path/to/python3.11" >&2
    exit 1
  fi
  PYTHON_PACKAGES=()
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    PYTHON_PACKAGES+=(python3-venv)
  fi
}

# Qt's system libraries for a window (and QtMultimedia's PulseAudio client).
QT_PACKAGES=(
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
  libxcb-xinerama0 libxcb-randr0 libxcb-image0 libxcb-render-util0 libxcb-xkb1 libegl1 libgl1
  libfontconfig1 libdbus-1-3 libglib2.0-0 libpulse0 libpulse-mainloop-glib0
)
