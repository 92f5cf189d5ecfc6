#!/usr/bin/python3
"""Writes tests/fixtures/formats/: one small image per format/mode visrec must decode, plus the RGB
values Pillow sees (composited on white where there is alpha), for tests/preprocess/formats_test.cc.

    /usr/bin/python3 tools/make-format-fixtures.py      (Debian: python3-pil python3-numpy)
"""
import json
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "formats")


def base():
    y, x = np.mgrid[0:24, 0:32]
    rgb = np.stack([x * 8, y * 10, 255 - x * 4], -1).astype(np.uint8)
    rgb[8:16, 10:22] = (250, 30, 30)
    return Image.fromarray(rgb)


def main():
    os.makedirs(OUT, exist_ok=True)
    img = base()
    cases = {}

    def add(name, im, fmt, **kw):
        im.save(os.path.join(OUT, name), fmt, **kw)
        ref = Image.open(os.path.join(OUT, name))
        ref.load()
        if ref.mode in ("RGBA", "LA", "PA") or (ref.mode == "P" and "transparency" in ref.info):
            rgba = ref.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            ref = Image.alpha_composite(white, rgba)
        if ref.mode == "I;16" or ref.mode == "I":
            ref = Image.fromarray((np.asarray(ref).astype(np.float64) / 257.0).round().astype(np.uint8))
        cases[name] = np.asarray(ref.convert("RGB")).astype(int).mean(axis=(0, 1)).round(2).tolist()

    add("baseline.jpg", img, "JPEG", quality=95)
    add("progressive.jpg", img, "JPEG", quality=95, progressive=True)
    add("cmyk.jpg", img.convert("CMYK"), "JPEG", quality=95)
    add("gray.jpg", img.convert("L"), "JPEG", quality=95)
    add("rgb.png", img, "PNG")
    add("palette.png", img.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG")
    rgba = img.convert("RGBA")
    a = np.asarray(rgba).copy()
    a[:, :16, 3] = 0
    add("alpha.png", Image.fromarray(a), "PNG")
    la = img.convert("LA")
    b = np.asarray(la).copy()
    b[:12, :, 1] = 128
    add("gray-alpha.png", Image.fromarray(b, "LA"), "PNG")
    g16 = (np.asarray(img.convert("L")).astype(np.uint16) * 257)
    add("gray16.png", Image.fromarray(g16.astype(np.uint16)), "PNG")
    add("image.bmp", img, "BMP")
    add("image.tiff", img, "TIFF")
    add("image.webp", img, "WEBP", lossless=True)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"mean_rgb": cases, "note": "per-channel mean of Pillow's RGB (alpha on white)"}, f, indent=1)


if __name__ == "__main__":
    main()
