"""Choose which Qt plugins and libraries go into the bundle (used by missed-call-desk.spec).

PyInstaller's Qt hooks collect every plugin of each Qt module the app imports, and then
every library those plugins link. The app needs a few of them, so the spec drops the rest
with `wanted()`, then `prune_orphans()` drops the libraries that only the dropped plugins
needed (GTK for the gtk3 theme, Wayland for the wayland platform, and so on).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

# Plugins kept per Qt plugin folder; a folder not listed here is dropped whole, and None
# keeps a whole folder. Names are file names without the lib prefix or the extension.
QT_PLUGINS: dict[str, set[str] | None] = {
    # xcb draws the window on Linux (Wayland desktops run it through XWayland); offscreen
    # lets the self-check run with no display.
    "platforms": {"qxcb", "qoffscreen", "qwindows", "qcocoa"},
    "xcbglintegrations": None,
    # Compose keys and input methods; not the virtual keyboard, which needs QtQuick's QML.
    "platforminputcontexts": {"composeplatforminputcontextplugin",
                              "ibusplatforminputcontextplugin"},
    # The portal theme gives native file dialogs; gtk3 would pull in GTK itself.
    "platformthemes": {"qxdgdesktopportal"},
    "imageformats": {"qsvg", "qico", "qjpeg", "qgif"},
    "iconengines": {"qsvgicon"},
    "multimedia": {"ffmpegmediaplugin"},  # the FFmpeg backend, the same on every OS
    "styles": None,                       # the native Windows 11 and macOS styles
    "tls": None,                          # QtNetwork's TLS, for media opened by https URL
}

BINARY_TYPES = ("BINARY", "EXTENSION")


def _dest(entry) -> str:
    return entry[0].replace("\\", "/")


def plugin_key(dest: str) -> tuple[str, str] | None:
    """Return (plugin folder, plugin name) for a Qt plugin's bundle path, else None."""
    parts = dest.replace("\\", "/").split("/")
    if parts[0] != "PySide6" or "plugins" not in parts[:-2]:
        return None
    folder = parts[parts.index("plugins") + 1]
    name = parts[-1].split(".")[0]
    if name.startswith("lib"):
        name = name[3:]
    return folder, name


def wanted(entry) -> bool:
    """Return False for a bundle entry the app never loads: an unused Qt plugin or file."""
    dest = _dest(entry)
    if dest.startswith("PySide6/") and "/translations/" in dest:
        return False  # the app installs no QTranslator, so Qt's .qm files go unused
    if dest.startswith("resources/"):
        # README pictures, and the package marker of desktop_app.resources in a checkout.
        return not (dest.startswith("resources/screenshots/") or "/__pycache__/" in dest
                    or dest.endswith(".py"))
    key = plugin_key(dest)
    if key is None:
        return True
    folder, name = key
    if folder not in QT_PLUGINS:
        return False
    keep = QT_PLUGINS[folder]
    return keep is None or name in keep


def _library_key(name: str) -> str:
    """Return the name a library is referenced by: its base name (lower case on Windows)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.lower() if os.name == "nt" else base


def prune_orphans(binaries: list, keep: Callable[[object], bool],
                  get_imports: Callable[[str], Iterable[tuple[str, str | None]]]) -> tuple[list, list]:
    """Split binaries into (kept, dropped): the entries `keep` rejects, plus every library
    whose only importers are dropped entries, repeated until nothing changes.

    A library that nothing in the bundle imports (an extension module, a plugin, a library
    loaded with dlopen or ctypes) is kept unless `keep` rejects it. `get_imports(path)`
    returns (referenced name, resolved path) pairs, as PyInstaller's bindepend.get_imports.
    """
    importers: dict[str, set[str]] = defaultdict(set)
    for entry in binaries:
        if entry[2] not in BINARY_TYPES:
            continue
        try:
            imports = get_imports(entry[1])
        except Exception:  # an unreadable file: treat it as importing nothing
            imports = ()
        for name, _path in imports:
            importers[_library_key(name)].add(_dest(entry))

    dropped = {_dest(entry) for entry in binaries if not keep(entry)}
    changed = True
    while changed:
        changed = False
        for entry in binaries:
            dest = _dest(entry)
            if dest in dropped or entry[2] not in BINARY_TYPES:
                continue
            users = importers.get(_library_key(dest))
            if users and users <= dropped:
                dropped.add(dest)
                changed = True

    kept = [entry for entry in binaries if _dest(entry) not in dropped]
    removed = [entry for entry in binaries if _dest(entry) in dropped]
    return drop_links_to(kept, removed), removed


def drop_links_to(entries: list, removed: list) -> list:
    """Return entries without what a removed library leaves behind.

    That is each symbolic link to it: PyInstaller links every library it collects into a
    subfolder from the top level (kept in Analysis.datas on Linux). For a macOS framework
    it is also the rest of its X.framework folder (Info.plist, version links), which would
    make codesign reject the app. A SYMLINK entry's source is the target path relative to
    the link's folder.
    """
    gone = {_dest(entry) for entry in removed}
    frameworks = {dest[:dest.index(".framework/") + len(".framework/")]
                  for dest in gone if ".framework/" in dest}

    def is_leftover(path: str) -> bool:
        return path in gone or any(path.startswith(prefix) for prefix in frameworks)

    result = []
    for entry in entries:
        dest = _dest(entry)
        if is_leftover(dest):
            continue
        if entry[2] == "SYMLINK":
            target = os.path.normpath(os.path.join(os.path.dirname(dest), entry[1]))
            if is_leftover(target.replace("\\", "/")):
                continue
        result.append(entry)
    return result


def has_debug_info(path: str) -> bool:
    """True if an ELF file has a .debug_info section (read with binutils' readelf)."""
    listing = subprocess.run(["readelf", "-S", "--wide", path], capture_output=True, text=True)
    return listing.returncode == 0 and ".debug_info" in listing.stdout


def strip_debug_info(binaries: list, workdir: Path) -> tuple[list, int]:
    """Replace each Linux binary that carries debug sections by a copy with them removed.

    Only files with a .debug_info section are touched, and only with --strip-debug:
    PyInstaller's own strip=True strips every symbol of every file, which broke FFmpeg's
    libavformat from the PySide6 6.12 wheel ("ELF load command address/offset not
    page-aligned"). Returns the new list and the number of bytes saved.
    """
    if shutil.which("strip") is None or shutil.which("readelf") is None:
        print("bundle_filter: binutils' strip or readelf not found; debug info left in place")
        return binaries, 0
    result, saved = [], 0
    for dest, src, kind in binaries:
        if kind in BINARY_TYPES and has_debug_info(src):
            target = workdir / "stripped" / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            subprocess.run(["strip", "--strip-debug", str(target)], check=True)
            saved += os.path.getsize(src) - target.stat().st_size
            src = str(target)
        result.append((dest, src, kind))
    return result, saved
