#!/usr/bin/python3
"""Writes tests/fixtures/preprocess/: source images and what torchvision makes of them.

Run with Debian's Python (apt-get install python3-torchvision python3-pil python3-numpy):
    /usr/bin/python3 tools/make-preprocess-fixtures.py
For each source, expected-<name>.png is torchvision's Resize(256) + CenterCrop(224) of the image as
PIL decodes it: the reference visrec's preprocess must match (tests/preprocess/parity_test.cc).
"""
import json
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
import torchvision
from torchvision import transforms

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "preprocess")


def scene(w, h, seed):
    """Photo-like content: smooth gradients, shapes with hard edges, fine texture, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / (w / 3.1)), 128 + 90 * np.cos(y / (h / 2.3)),
                    128 + 60 * np.sin((x + y) / (w / 5.7))], axis=-1)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        r = int(rng.integers(max(4, w // 40), max(8, w // 6)))
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            d.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=col)
        else:
            d.rectangle([x0 - r, y0 - r // 2, x0 + r, y0 + r // 2], fill=col)
    for k in range(0, w, max(3, w // 90)):  # fine stripes: aliasing shows if antialiasing is missing
        d.line([(k, int(h * 0.8)), (k, h)], fill=(255, 255, 255) if (k // 3) % 2 else (0, 0, 0))
    arr = np.asarray(im).astype(np.int16) + rng.integers(-6, 7, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)


def main():
    os.makedirs(OUT, exist_ok=True)
    t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    cases = [("landscape.jpg", 640, 427, "JPEG"), ("portrait.png", 301, 517, "PNG"),
             ("upscale.png", 150, 100, "PNG"), ("large.jpg", 2200, 2100, "JPEG")]
    meta = {"torchvision": torchvision.__version__, "transform": "Resize(256) + CenterCrop(224), PIL bilinear",
            "cases": []}
    for i, (name, w, h, fmt) in enumerate(cases):
        src = os.path.join(OUT, name)
        img = scene(w, h, i)
        if fmt == "JPEG":
            img.save(src, "JPEG", quality=88)
        else:
            img.save(src, "PNG")
        decoded = Image.open(src).convert("RGB")  # what a torchvision pipeline sees
        t(decoded).save(os.path.join(OUT, "expected-" + os.path.splitext(name)[0] + ".png"))
        meta["cases"].append({"source": name, "size": [w, h]})
    with open(os.path.join(OUT, "README.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
