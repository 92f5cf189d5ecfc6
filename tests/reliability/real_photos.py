#!/usr/bin/env python3
"""Real photos from outside the project through preprocess and extract (issue: reliability).

  real_photos.py VISREC [PHOTO_DIR]

PHOTO_DIR defaults to Debian's opencv-doc example images (tools/install-deps.sh --test installs
the package). Every JPEG/PNG there becomes one catalog item. Checks: preprocess decodes every
photo (a failure must carry a reason, and none is expected from these well-formed files), extract
writes one finite, unit-length feature row per item (one photo per item: the mean of one
L2-normalized vector), and a rerun is up to date.
"""
import ast
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

DEFAULT_DIR = "/usr/share/doc/opencv-doc/examples/data"


def read_npy_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", f"{path}: not an npy file"
    major = data[6]
    hlen = struct.unpack("<H", data[8:10])[0] if major == 1 else struct.unpack("<I", data[8:12])[0]
    start = 10 if major == 1 else 12
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    assert header["descr"] == "<f4" and not header["fortran_order"], f"{path}: {header}"
    rows, cols = header["shape"]
    values = struct.unpack(f"<{rows * cols}f", data[start + hlen:])
    return [values[r * cols:(r + 1) * cols] for r in range(rows)]


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    visrec = os.path.abspath(argv[1])
    photo_dir = argv[2] if len(argv) > 2 else DEFAULT_DIR
    if not os.path.isdir(photo_dir):
        print(f"{photo_dir} is missing: install Debian's opencv-doc (bash tools/install-deps.sh --test, as root)")
        return 1
    photos = sorted(f for f in os.listdir(photo_dir) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    if len(photos) < 20:
        print(f"{photo_dir}: only {len(photos)} photos; expected the ~90 opencv-doc examples")
        return 1
    failures = []
    with tempfile.TemporaryDirectory(prefix="visrec-real-photos.") as tmp:
        catalog = os.path.join(tmp, "catalog.csv")
        with open(catalog, "w", encoding="utf-8") as f:
            f.write("item_id,image\n")
            for i, name in enumerate(photos):
                f.write(f"R{i:03d},\"{os.path.join(photo_dir, name)}\"\n")
        work = os.path.join(tmp, "work")
        common = ["--workdir", work, "--threads", "2", "-q"]
        for args in (["preprocess", "--catalog", catalog], ["extract", "--model", "resnet18", "--batch-size", "8"]):
            p = subprocess.run([visrec] + args + common, capture_output=True, text=True, timeout=1200)
            if p.returncode != 0:
                print(f"visrec {args[0]} exited {p.returncode}: {p.stderr[-1000:]}")
                return 1

        def latest(stage):
            d = os.path.join(work, stage)
            return os.path.join(d, open(os.path.join(d, "latest")).read().strip())

        pre = json.load(open(os.path.join(latest("preprocess"), "manifest.json")))
        for f in pre["failures"]:
            failures.append(f"{f['file'] or f['id']}: {f['reason']}")
        if pre["counts"]["images_ok"] != len(photos):
            failures.append(f"decoded {pre['counts']['images_ok']} of {len(photos)} photos")
        ex_dir = latest("extract")
        features = read_npy_f32(os.path.join(ex_dir, "features.npy"))
        ids = open(os.path.join(ex_dir, "ids.txt")).read().split()
        if len(features) != len(photos) or len(ids) != len(photos):
            failures.append(f"{len(features)} feature rows / {len(ids)} ids for {len(photos)} items")
        for item, row in zip(ids, features):
            norm = math.sqrt(sum(v * v for v in row))
            if not all(math.isfinite(v) for v in row) or abs(norm - 1) > 1e-3:
                failures.append(f"{item}: feature not finite or not unit length (norm {norm})")
        p = subprocess.run([visrec, "extract", "--model", "resnet18", "--batch-size", "8"] + common[:-1],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0 or "up to date" not in (p.stdout + p.stderr):
            failures.append(f"rerun of extract was not up to date: {p.stderr[-400:]}")
        d = len(features[0]) if features else 0
    for f in failures:
        print("FAIL", f)
    print(f"real photos: {len(photos)} files from {photo_dir}, {len(features)} items x {d} features, "
          f"{len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
