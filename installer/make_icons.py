"""Render resources/icons/app.svg into the PNG, .ico and .icns files the installers use.

Run after changing app.svg and commit the output:

    .venv/bin/python installer/make_icons.py

It needs only PySide6 (QtSvg renders, QtGui writes PNG), so the icon set can be
rebuilt on any platform without an image library or macOS's iconutil.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"

# Tray and window sizes, written as app-N.png. Linux installs them into the hicolor theme.
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)

# Windows .ico: the small sizes as 32-bit BMP entries, which every Windows version and
# resource compiler reads, and 256 as a PNG entry, as Windows Vista and later expect.
ICO_BMP_SIZES = (16, 24, 32, 48, 64, 128)
ICO_PNG_SIZES = (256,)

# macOS .icns: PNG payloads under the type codes that iconutil writes (macOS 10.7+).
ICNS_TYPES = (
    (b"icp4", 16), (b"icp5", 32), (b"ic11", 32), (b"ic12", 64), (b"ic07", 128),
    (b"ic13", 256), (b"ic08", 256), (b"ic14", 512), (b"ic09", 512), (b"ic10", 1024),
)


def _qt():
    """Import Qt with a QGuiApplication, which QPainter needs; no display is required."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtCore, QtGui, QtSvg  # noqa: PLC0415

    app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication([sys.argv[0]])
    return QtCore, QtGui, QtSvg, app


def render(svg: Path, size: int):
    """Render the SVG into a size x size straight-alpha (not premultiplied) QImage."""
    QtCore, QtGui, QtSvg, _app = _qt()
    renderer = QtSvg.QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: {svg} is not a valid SVG file; fix it and run again")
    image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QtCore.QRectF(0, 0, size, size))
    painter.end()
    return image.convertToFormat(QtGui.QImage.Format.Format_ARGB32)


def png_bytes(image) -> bytes:
    QtCore, _QtGui, _QtSvg, _app = _qt()
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise RuntimeError("Qt failed to encode a PNG image")
    return bytes(buffer.data())


def bmp_entry(image) -> bytes:
    """Encode an icon entry as a 32-bit DIB: header, bottom-up BGRA rows, then the AND mask."""
    width, height = image.width(), image.height()
    rows = [bytes(image.constScanLine(y))[: width * 4] for y in range(height)]
    header = struct.pack("<IiiHHIIiiII", 40, width, height * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    pixels = b"".join(reversed(rows))  # QImage ARGB32 on little-endian is B, G, R, A per pixel

    # The AND mask marks fully transparent pixels; each row is padded to 32 bits.
    mask_stride = ((width + 31) // 32) * 4
    mask_rows = []
    for row in reversed(rows):
        bits = bytearray(mask_stride)
        for x in range(width):
            if row[x * 4 + 3] == 0:
                bits[x // 8] |= 0x80 >> (x % 8)
        mask_rows.append(bytes(bits))
    return header + pixels + b"".join(mask_rows)


def ico_bytes(entries: list[tuple[int, bytes]]) -> bytes:
    """Pack (size, payload) pairs into an .ico file: ICONDIR, ICONDIRENTRY list, payloads."""
    out = struct.pack("<HHH", 0, 1, len(entries))
    offset = 6 + 16 * len(entries)
    payloads = b""
    for size, payload in entries:
        dim = 0 if size >= 256 else size  # 0 stands for 256 in the one-byte fields
        out += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(payload), offset)
        offset += len(payload)
        payloads += payload
    return out + payloads


def icns_bytes(entries: list[tuple[bytes, bytes]]) -> bytes:
    """Pack (type code, PNG data) pairs into an .icns file (big-endian lengths incl. headers)."""
    body = b"".join(code + struct.pack(">I", len(data) + 8) + data for code, data in entries)
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def build(svg: Path, out_dir: Path) -> list[Path]:
    """Write every icon file into out_dir and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = sorted(set(PNG_SIZES) | set(ICO_BMP_SIZES) | {size for _, size in ICNS_TYPES})
    images = {size: render(svg, size) for size in sizes}
    pngs = {size: png_bytes(image) for size, image in images.items()}
    written = []

    for size in PNG_SIZES:
        path = out_dir / f"app-{size}.png"
        path.write_bytes(pngs[size])
        written.append(path)

    ico = [(size, bmp_entry(images[size])) for size in ICO_BMP_SIZES]
    ico += [(size, pngs[size]) for size in ICO_PNG_SIZES]
    path = out_dir / "app.ico"
    path.write_bytes(ico_bytes(ico))
    written.append(path)

    path = out_dir / "app.icns"
    path.write_bytes(icns_bytes([(code, pngs[size]) for code, size in ICNS_TYPES]))
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=ICONS / "app.svg",
                        help="source SVG (default: resources/icons/app.svg)")
    parser.add_argument("--out", type=Path, default=ICONS,
                        help="folder to write into (default: resources/icons)")
    args = parser.parse_args(argv)
    for path in build(args.svg, args.out):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
