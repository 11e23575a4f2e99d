"""Installer helpers: the version source, the bundle's plugin filter, and the icon files."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

import desktop_app

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"


def load(relative: str):
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


appmeta = load("installer/appmeta.py")
bundle_filter = load("installer/pyinstaller/bundle_filter.py")
make_icons = load("installer/make_icons.py")


def ico_entries(data: bytes) -> list[tuple[int, bytes]]:
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    assert (reserved, kind) == (0, 1)
    entries = []
    for index in range(count):
        width, height, _colors, _zero, planes, bits, size, offset = struct.unpack_from(
            "<BBBBHHII", data, 6 + 16 * index)
        assert (width, planes, bits) == (height, 1, 32)
        entries.append((width or 256, data[offset:offset + size]))
    return entries


def icns_entries(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:4] == b"icns"
    assert struct.unpack_from(">I", data, 4)[0] == len(data)
    entries, offset = [], 8
    while offset < len(data):
        code, length = data[offset:offset + 4], struct.unpack_from(">I", data, offset + 4)[0]
        entries.append((code, data[offset + 8:offset + length]))
        offset += length
    return entries


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack_from(">II", data, 16)


def test_appmeta_reads_package_version():
    assert appmeta.version() == desktop_app.__version__
    assert appmeta.app_name() == desktop_app.APP_NAME
    assert len(appmeta.windows_version()) == 4


def test_windows_version_file(tmp_path):
    text = appmeta.write_windows_version_file(tmp_path / "v.txt", "MissedCallDesk").read_text()
    numbers = appmeta.windows_version()

    assert f"filevers={numbers}" in text
    assert f"StringStruct('ProductVersion', '{desktop_app.__version__}')" in text
    assert "StringStruct('OriginalFilename', 'MissedCallDesk.exe')" in text


@pytest.mark.parametrize(("dest", "expected"), [
    ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
    ("PySide6/Qt/plugins/platforms/libqwayland.so", False),
    ("PySide6/plugins/platforms/qwindows.dll", True),
    ("PySide6/Qt/plugins/platforms/libqcocoa.dylib", True),
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
    ("PySide6/Qt/plugins/imageformats/libqsvg.so", True),
    ("PySide6/Qt/plugins/imageformats/libqpdf.so", False),
    ("PySide6/plugins/multimedia/ffmpegmediaplugin.dll", True),
    ("PySide6/plugins/multimedia/windowsmediaplugin.dll", False),
    ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", False),
    ("PySide6/Qt/plugins/sqldrivers/libqsqlite.so", False),
    ("PySide6/Qt/translations/qtbase_de.qm", False),
    ("PySide6/Qt/lib/libQt6Core.so.6", True),
    ("resources/icons/app.svg", True),
    ("resources/screenshots/board.png", False),
    ("resources/__init__.py", False),
])
def test_bundle_keeps_only_used_plugins(dest, expected):
    assert bundle_filter.wanted((dest, "/src/" + dest, "BINARY")) is expected


def test_prune_drops_libraries_only_dropped_plugins_need():
    gtk_theme = "PySide6/Qt/plugins/platformthemes/libqgtk3.so"
    binaries = [(dest, "/src/" + dest, "BINARY") for dest in (
        "PySide6/Qt/plugins/platforms/libqxcb.so", gtk_theme, "PySide6/Qt/lib/libQt6Gui.so.6",
        "libgtk-3.so.0", "libpango-1.0.so.0", "libglib-2.0.so.0", "lameenc.so")]
    binaries.append(("libgtk-3.so", "libgtk-3.so.0", "SYMLINK"))
    imports = {
        "/src/PySide6/Qt/plugins/platforms/libqxcb.so": ["libQt6Gui.so.6"],
        "/src/" + gtk_theme: ["libQt6Gui.so.6", "libgtk-3.so.0", "libglib-2.0.so.0"],
        "/src/libgtk-3.so.0": ["libpango-1.0.so.0", "libglib-2.0.so.0"],
        "/src/PySide6/Qt/lib/libQt6Gui.so.6": ["libglib-2.0.so.0"],
    }

    kept, dropped = bundle_filter.prune_orphans(
        binaries, bundle_filter.wanted, lambda path: [(name, None) for name in imports.get(path, [])])

    assert {entry[0] for entry in dropped} == {gtk_theme, "libgtk-3.so.0", "libpango-1.0.so.0"}
    assert {entry[0] for entry in kept} == {
        "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/lib/libQt6Gui.so.6",
        "libglib-2.0.so.0", "lameenc.so"}


def test_links_to_dropped_libraries_go_too():
    removed = [("PySide6/Qt/lib/libQt6WaylandClient.so.6", "/src/wayland", "BINARY")]
    datas = [("libQt6WaylandClient.so.6", "PySide6/Qt/lib/libQt6WaylandClient.so.6", "SYMLINK"),
             ("libQt6Gui.so.6", "PySide6/Qt/lib/libQt6Gui.so.6", "SYMLINK"),
             ("resources/icons/app.svg", "/src/app.svg", "DATA")]

    kept = bundle_filter.drop_links_to(datas, removed)

    assert [entry[0] for entry in kept] == ["libQt6Gui.so.6", "resources/icons/app.svg"]


def test_committed_icons_have_every_size():
    for size in make_icons.PNG_SIZES:
        assert png_size((ICONS / f"app-{size}.png").read_bytes()) == (size, size)
    ico = ico_entries((ICONS / "app.ico").read_bytes())
    assert [size for size, _ in ico] == [*make_icons.ICO_BMP_SIZES, *make_icons.ICO_PNG_SIZES]
    icns = icns_entries((ICONS / "app.icns").read_bytes())
    assert [(code, png_size(data)[0]) for code, data in icns] == list(make_icons.ICNS_TYPES)


def test_make_icons_writes_valid_ico_entries(tmp_path, qapp):
    make_icons.build(ICONS / "app.svg", tmp_path)

    for size, payload in ico_entries((tmp_path / "app.ico").read_bytes()):
        if size in make_icons.ICO_PNG_SIZES:
            assert png_size(payload) == (size, size)
            continue
        header_size, width, height, planes, bits = struct.unpack_from("<IiiHH", payload)
        assert (header_size, width, height, planes, bits) == (40, size, 2 * size, 1, 32)
        mask_stride = ((size + 31) // 32) * 4
        assert len(payload) == 40 + size * size * 4 + mask_stride * size
        # The bottom-left pixel is outside the rounded corner: transparent and masked.
        assert payload[40 + 3] == 0
        assert payload[40 + size * size * 4] & 0x80


def test_dropped_macos_framework_leaves_nothing():
    lib = "PySide6/Qt/lib/QtPdf.framework"
    removed = [(f"{lib}/Versions/A/QtPdf", "/src/QtPdf", "BINARY")]
    datas = [(f"{lib}/Versions/A/Resources/Info.plist", "/src/Info.plist", "DATA"),
             (f"{lib}/Versions/Current", "A", "SYMLINK"),
             (f"{lib}/QtPdf", "Versions/Current/QtPdf", "SYMLINK"),
             ("QtPdf", f"{lib}/Versions/A/QtPdf", "SYMLINK"),
             ("PySide6/Qt/lib/QtGui.framework/Versions/A/Resources/Info.plist", "/src/g", "DATA")]

    kept = bundle_filter.drop_links_to(datas, removed)

    assert [entry[0] for entry in kept] == [
        "PySide6/Qt/lib/QtGui.framework/Versions/A/Resources/Info.plist"]
