#!/usr/bin/env python3
"""Renders the HTML cost report in headless Chromium and checks the picture.

    python3 tests/test_html_render.py build/controller/stevedore

Runs `stevedore report --snapshot examples/snapshot.json --output html`,
opens the page in Debian's chromium (headless, no sandbox, background
networking off, a throwaway profile) and screenshots it at 1280x1600. The
PNG is decoded here (zlib, no imaging library) and checked: the right size,
not blank, the bar colours of the chart present, and one bar per bar of the
SVG where the bars start. The page and the screenshot are left beside the
build (report-html.html, report-html.png) for a person to look at.

Prints PASS/FAIL lines and "N passed, N failed". Without chromium it prints a
SKIP line and "0 passed, 0 failed" and succeeds (scripts/dev installs it).
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from itertools import accumulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAPSHOT = os.path.join(ROOT, "examples", "snapshot.json")
WIDTH, HEIGHT = 1280, 1600

# The renderer's bar colours (pricing/report_html.c).
COLOURS = {
    "cpu": (0x35, 0x66, 0xC9),
    "memory": (0x1F, 0xA3, 0x93),
    "gpu": (0x8E, 0x4E, 0xC6),
    "shared": (0xE8, 0xA3, 0x3D),
    "idle": (0xA7, 0xB0, 0xBD),
}

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS %s" % name)
    else:
        failed += 1
        print("FAIL %s%s" % (name, ": " + detail if detail else ""))
    sys.stdout.flush()
    return ok


def decode_png_rgb(data):
    """Returns (width, height, rows) of an 8-bit RGB or RGBA PNG, each row as
    RGB bytes (alpha dropped after unfiltering: a screenshot is opaque)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if ihdr is None:
        raise ValueError("PNG without IHDR")
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace != 0:
        raise ValueError("unsupported PNG: depth %d, colour type %d, interlace %d" % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev, pos = [], bytes(stride), 0
    for _ in range(height):
        ftype, line = raw[pos], raw[pos + 1:pos + 1 + stride]
        pos += 1 + stride
        if ftype == 0:
            cur = bytes(line)
        elif ftype == 1:  # Sub: a running sum per channel
            cur = bytearray(stride)
            for c in range(bpp):
                cur[c::bpp] = bytes(v & 0xFF for v in accumulate(line[c::bpp]))
            cur = bytes(cur)
        elif ftype == 2:  # Up
            cur = bytes((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype in (3, 4):  # Average, Paeth: byte by byte
            out = bytearray(stride)
            for i in range(stride):
                a = out[i - bpp] if i >= bpp else 0
                b = prev[i]
                if ftype == 3:
                    pred = (a + b) >> 1
                else:
                    c = prev[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                out[i] = (line[i] + pred) & 0xFF
            cur = bytes(out)
        else:
            raise ValueError("bad PNG filter %d" % ftype)
        prev = cur
        if bpp == 4:
            rgb = bytearray(width * 3)
            rgb[0::3], rgb[1::3], rgb[2::3] = cur[0::4], cur[1::4], cur[2::4]
            cur = bytes(rgb)
        rows.append(cur)
    return width, height, rows


def main():
    exe = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "build", "controller", "stevedore")
    chromium = shutil.which("chromium")
    if chromium is None:
        print("SKIP test_html_render: chromium is not installed (bash scripts/dev test installs it)")
        print("0 passed, 0 failed")
        return 0
    outdir = os.path.dirname(os.path.dirname(exe)) if os.path.isdir(os.path.dirname(exe)) else tempfile.gettempdir()
    html_path = os.path.join(outdir, "report-html.html")
    png_path = os.path.join(outdir, "report-html.png")

    # 1. The page, from the binary.
    p = subprocess.run([exe, "report", "--snapshot", SNAPSHOT, "--output", "html", "--quiet"],
                       capture_output=True, text=True, timeout=120)
    if not check("report --output html exits 0", p.returncode == 0, p.stderr.strip()[:300]):
        print("%d passed, %d failed" % (passed, failed))
        return 1
    html = p.stdout
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(html)
    check("page is one HTML document", html.startswith("<!DOCTYPE html>") and html.count("</html>") == 1)
    check("page has no script and fetches nothing",
          "<script" not in html.lower() and "<link" not in html.lower()
          and not re.search(r"(src|href)\s*=", html, re.I) and "url(" not in html)
    bars = re.findall(r'<g class="bar" data-kind="(\w+)">(.*?)</g>', html, re.S)
    kinds = [b[0] for b in bars]
    table = html[html.find('id="table"'):]
    rows = len(re.findall(r'<tr><td class="l name">(?!__shared__<)', table))
    want = rows if rows <= 16 else 16
    check("chart has a bar per namespace of the table", rows >= 5 and
          kinds.count("group") + kinds.count("other") == want,
          "%d table rows, %d group bars, %d other" % (rows, kinds.count("group"), kinds.count("other")))
    check("chart has shared and idle bars", [k for k in kinds if k in ("shared", "idle")] == ["shared", "idle"])
    drawn = sum(1 for b in bars if "<rect" in b[1])
    # Area of each colour in the SVG, in SVG units, and the bars' height.
    area = {k: 0.0 for k in COLOURS}
    bar_h = None
    for w, h, fill in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="([\d.]+)" '
                                 r'fill="#([0-9a-f]{6})"/>', html):
        rgb = tuple(int(fill[i:i + 2], 16) for i in (0, 2, 4))
        for k, c in COLOURS.items():
            if c == rgb:
                area[k] += float(w) * float(h)
                bar_h = float(h)

    # 2. The screenshot.
    profile = tempfile.mkdtemp(prefix="stv-chromium-")
    try:
        if os.path.exists(png_path):
            os.unlink(png_path)
        argv = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--run-all-compositor-stages-before-draw",
                "--user-data-dir=" + profile, "--screenshot=" + png_path,
                "--window-size=%d,%d" % (WIDTH, HEIGHT), "file://" + html_path]
        env = dict(os.environ, HOME=profile)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LD_PRELOAD"):
            env.pop(k, None)
        try:
            c = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)
            rc, err = c.returncode, c.stderr
        except subprocess.TimeoutExpired:
            rc, err = -1, "timed out"
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not check("chromium wrote a screenshot", rc == 0 and os.path.isfile(png_path),
                 "exit %s: %s" % (rc, err.strip()[-300:])):
        print("%d passed, %d failed" % (passed, failed))
        return 1
    print("screenshot: %s" % png_path)

    with open(png_path, "rb") as f:
        data = f.read()
    try:
        width, height, rows = decode_png_rgb(data)
    except (ValueError, zlib.error) as e:
        check("screenshot is a PNG", False, str(e))
        print("%d passed, %d failed" % (passed, failed))
        return 1
    check("screenshot is %dx%d" % (WIDTH, HEIGHT), (width, height) == (WIDTH, HEIGHT), "%dx%d" % (width, height))

    # 3. Not blank: many colours, much ink.
    colours = set()
    background = rows[0][0:3]
    ink = 0
    for y in range(0, height, 2):
        row = rows[y]
        for x in range(0, width * 3, 6):
            px = row[x:x + 3]
            colours.add(px)
            if px != background:
                ink += 1
    sampled = (height // 2) * (width // 2)
    check("screenshot is not blank", len(colours) > 100 and ink > sampled // 5,
          "%d colours, %.1f%% not background" % (len(colours), 100.0 * ink / sampled))

    # 4. The chart. Bars start at one x: the column with the most bar-coloured
    # pixels. Along it, each bar is a run of bar colour at least 14 px tall
    # (the 10-px split strip and the 12-px legend swatches are shorter). The
    # rows those runs span are the chart, where every colour must show.
    palette = {}
    for k, c in COLOURS.items():
        for dr in range(-3, 4):
            for dg in range(-3, 4):
                for db in range(-3, 4):
                    palette[bytes(min(255, max(0, v + d)) for v, d in zip(c, (dr, dg, db)))] = k
    column = [0] * width
    for y in range(height):
        row = rows[y]
        for x in range(width):
            if row[3 * x:3 * x + 3] in palette:
                column[x] += 1
    x0 = max(range(width), key=lambda x: column[x])
    runs, start = [], None
    for y in range(height + 1):
        hit = y < height and rows[y][3 * x0:3 * x0 + 3] in palette
        if hit and start is None:
            start = y
        elif not hit and start is not None:
            runs.append((start, y))
            start = None
    tall = [r for r in runs if r[1] - r[0] >= 14]
    check("one painted bar per SVG bar at x=%d" % x0, len(tall) == drawn,
          "%d bars painted, %d in the SVG (runs %s)" % (len(tall), drawn, [r[1] - r[0] for r in runs]))
    counts = {k: 0 for k in COLOURS}
    scale = 1.0
    if tall:
        heights = sorted(r[1] - r[0] for r in tall)
        scale = heights[len(heights) // 2] / bar_h if bar_h else 1.0
        top, bottom = tall[0][0], tall[-1][1]
        for y in range(top, bottom):
            row = rows[y]
            for x in range(width):
                k = palette.get(row[3 * x:3 * x + 3])
                if k is not None:
                    counts[k] += 1
        print("chart area: rows %d-%d, bars start at x=%d, %.3f px per SVG unit" % (top, bottom, x0, scale))
    # Each colour covers about the area its rects have (edges are blended,
    # so a bar loses up to a pixel on each side); cpu, memory and idle are in
    # every report with pods.
    for k in COLOURS:
        expect = area[k] * scale * scale
        if k in ("cpu", "memory", "idle") or expect >= 40:
            check("chart area shows the %s colour" % k,
                  expect > 0 and 0.5 * expect - 40 <= counts[k] <= 1.2 * expect + 40,
                  "%d pixels, %.0f expected" % (counts[k], expect))

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
