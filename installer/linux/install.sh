#!/bin/sh
# Install Missed-Call Desk for the current user (no root needed), or remove it again.
#
#   ./install.sh               copy the app to ~/.local/opt and add it to the app menu
#   ./install.sh --autostart   the same, and start the app when you log in
#   ./install.sh --uninstall   remove the app; your calls, contacts and settings stay
#   ./install.sh --uninstall --remove-data   remove the app and its data folder too
set -eu

APP_ID=missed-call-desk
HERE=$(cd "$(dirname "$0")" && pwd)
DATA_HOME=${XDG_DATA_HOME:-$HOME/.local/share}
CONFIG_HOME=${XDG_CONFIG_HOME:-$HOME/.config}
STATE_HOME=${XDG_STATE_HOME:-$HOME/.local/state}
TARGET=$HOME/.local/opt/$APP_ID
BIN_LINK=$HOME/.local/bin/$APP_ID
DESKTOP_FILE=$DATA_HOME/applications/$APP_ID.desktop
AUTOSTART_FILE=$CONFIG_HOME/autostart/$APP_ID.desktop
# The app's own data and log folders (platformdirs' user_data_dir and user_log_dir).
USER_DATA=$DATA_HOME/$APP_ID
USER_LOGS=$STATE_HOME/$APP_ID

action=install
autostart=no
remove_data=no
for arg in "$@"; do
  case $arg in
    --uninstall) action=uninstall ;;
    --autostart) autostart=yes ;;
    --remove-data) remove_data=yes ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown option $arg; run $0 --help" >&2; exit 2 ;;
  esac
done

icon_sizes() { ls "$HERE/share/icons/hicolor"; }

if [ "$action" = uninstall ]; then
  rm -rf "$TARGET"
  rm -f "$BIN_LINK" "$DESKTOP_FILE" "$AUTOSTART_FILE"
  for size in $(icon_sizes); do
    rm -f "$DATA_HOME/icons/hicolor/$size/apps/$APP_ID.png" "$DATA_HOME/icons/hicolor/$size/apps/$APP_ID.svg"
  done
  if [ "$remove_data" = yes ]; then
    rm -rf "$USER_DATA" "$USER_LOGS"
    echo "Removed Missed-Call Desk and its data ($USER_DATA)."
  else
    echo "Removed Missed-Call Desk. Your data stays in $USER_DATA;"
    echo "run $0 --uninstall --remove-data to delete it as well."
  fi
  exit 0
fi

if [ ! -x "$HERE/$APP_ID" ]; then
  echo "error: $HERE/$APP_ID not found; run install.sh from the unpacked tarball" >&2
  exit 1
fi
if [ "$HERE" != "$TARGET" ]; then
  rm -rf "$TARGET.new"
  mkdir -p "$(dirname "$TARGET")"
  cp -a "$HERE" "$TARGET.new"
  rm -rf "$TARGET"
  mv "$TARGET.new" "$TARGET"
fi
mkdir -p "$(dirname "$BIN_LINK")" "$(dirname "$DESKTOP_FILE")"
ln -sf "$TARGET/$APP_ID" "$BIN_LINK"
for size in $(icon_sizes); do
  mkdir -p "$DATA_HOME/icons/hicolor/$size/apps"
  cp "$TARGET/share/icons/hicolor/$size/apps/"* "$DATA_HOME/icons/hicolor/$size/apps/"
done
sed "s|@EXEC@|\"$TARGET/$APP_ID\"|" "$TARGET/share/applications/$APP_ID.desktop" > "$DESKTOP_FILE"
if [ "$autostart" = yes ]; then
  mkdir -p "$(dirname "$AUTOSTART_FILE")"
  cp "$DESKTOP_FILE" "$AUTOSTART_FILE"
fi
command -v update-desktop-database >/dev/null 2>&1 \
  && update-desktop-database "$(dirname "$DESKTOP_FILE")" >/dev/null 2>&1 || true
command -v gtk-update-icon-cache >/dev/null 2>&1 \
  && gtk-update-icon-cache -q -t "$DATA_HOME/icons/hicolor" >/dev/null 2>&1 || true
echo "Installed Missed-Call Desk $("$TARGET/$APP_ID" --version | cut -d' ' -f2) in $TARGET."
echo "Start it from the app menu, or run: $BIN_LINK"
