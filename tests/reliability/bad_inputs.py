#!/usr/bin/env python3
"""The bad-input corpus (issue: reliability) and the test that runs visrec on it.

  bad_inputs.py make OUT          write the corpus into OUT (photos, CSVs; stdlib only, seeded
                                  from the committed format fixtures in tests/fixtures/formats)
  bad_inputs.py check VISREC OUT  run VISREC on every case and assert its documented outcome
  bad_inputs.py run VISREC        both, in a temporary folder (what ctest runs)

Every case names its expected outcome: a photo is either decoded ("ok") or a per-photo failure
whose reason contains a given phrase; a CSV or artifact either works (exit 0) or makes visrec exit
with a given code and a message naming the file (and line). A crash (signal), a hang (timeout) or
any other outcome fails the case.
"""
import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FORMATS = os.path.join(HERE, "..", "fixtures", "formats")
TIMEOUT_S = 300


def png_bytes(width, height, rgb_rows):
    """A minimal RGB8 PNG; rgb_rows: list of bytes (3*width each)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rgb_rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def with_exif_orientation(jpeg, orientation):
    tiff = b"II*\x00\x08\x00\x00\x00" + b"\x01\x00" + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + b"\x00" * 4
    app1 = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def jpeg_segment(jpeg, marker):
    """Offset of the first header segment with this marker byte (e.g. 0xC0 = SOF0), or -1."""
    i = 2
    while i + 4 <= len(jpeg) and jpeg[i] == 0xFF:
        m = jpeg[i + 1]
        if m == marker:
            return i
        if m == 0xDA:
            return -1
        i += 2 + struct.unpack(">H", jpeg[i + 2:i + 4])[0]
    return -1


def read(name):
    with open(os.path.join(FORMATS, name), "rb") as f:
        return f.read()


# (file name, bytes or None for "do not create", expected: "ok" | "any" | phrase of the failure reason)
def photo_cases():
    jpg = read("baseline.jpg")
    png = read("rgb.png")
    sof = jpeg_segment(jpg, 0xC0)
    assert sof > 0, "baseline.jpg has no SOF0"
    header_flip = bytearray(jpg)
    header_flip[sof + 1] = 0x00  # the frame marker becomes an invalid marker byte
    bomb_jpg = bytearray(jpg)
    bomb_jpg[sof + 5:sof + 9] = struct.pack(">HH", 30000, 30000)
    data_flip = bytearray(jpg)
    for k in range(8):  # flip bits in the entropy-coded data, away from the end marker
        pos = len(jpg) // 2 + 37 * k
        data_flip[pos] ^= 0x10 if data_flip[pos] not in (0xFF, 0xEF) else 0
    png_flip = bytearray(png)
    png_flip[60] ^= 0x01  # inside IDAT: the chunk CRC no longer matches
    row = bytes([200, 30, 30]) * 64
    cases = [
        ("zero-byte.jpg", b"", "empty file"),
        ("truncated.jpg", jpg[:len(jpg) // 2], "truncated JPEG"),
        ("truncated.png", png[:len(png) // 2], "not a decodable image"),
        ("bitflip-header.jpg", bytes(header_flip), "JPEG header is damaged"),
        ("bitflip-data.jpg", bytes(data_flip), "any"),  # libjpeg, like Pillow, may decode damaged scans
        ("bitflip.png", bytes(png_flip), "not a decodable image"),
        ("png-named.jpg", png, "ok"),  # formats are sniffed from the bytes, not the extension
        ("text.jpg", b"this is a text file, not a photo\n", "not a decodable image"),
        ("cmyk.jpg", read("cmyk.jpg"), "ok"),
        ("gray16.png", read("gray16.png"), "ok"),
        ("palette.png", read("palette.png"), "ok"),
        ("alpha.png", read("alpha.png"), "ok"),
        ("gray-alpha.png", read("gray-alpha.png"), "ok"),
        ("one-pixel.png", png_bytes(1, 1, [bytes([10, 200, 10])]), "ok"),
        ("bomb.png", png_bytes(30000, 30000, [row])[:33] + png_bytes(64, 1, [row])[33:], "max-pixels"),
        ("bomb.jpg", bytes(bomb_jpg), "max-pixels"),
        ("missing.jpg", None, "not found"),
        ("dir with space/ü ñ 写真.jpg", jpg, "ok"),
    ]
    for o in range(1, 9):
        cases.append((f"exif-{o}.jpg", with_exif_orientation(jpg, o), "ok"))
    return cases


# (name, CSV text, command: "catalog" | "interactions", extra args, expected exit, phrases in stderr)
def csv_cases(big_line_mb=100):
    big = "x" * (big_line_mb * 1024 * 1024)
    good_rows = "A,photos/exif-1.jpg,red shirt,shirts\nB,photos/png-named.jpg,blue shirt,shirts\n"
    head = "item_id,image,title,category\n"
    ih = "user_id,item_id,weight,timestamp\n"
    return [
        ("cat-bom-crlf.csv", "\ufeff" + (head + good_rows).replace("\n", "\r\n"), "catalog", [], 0, []),
        ("cat-quoted.csv", head + 'A,photos/exif-1.jpg,"red, ""bold""\nshirt",shirts\n' + good_rows.split("\n")[1] + "\n",
         "catalog", [], 0, []),
        ("cat-missing-column.csv", "item_id,title\nA,red\n", "catalog", [], 3, ["cat-missing-column.csv:1", "'image'"]),
        ("cat-duplicate-items.csv", head + good_rows + "A,photos/exif-2.jpg,red again,shirts\n" +
         "A,photos/exif-1.jpg,same photo twice,shirts\n", "catalog", [], 0, []),
        ("cat-empty.csv", "", "catalog", [], 3, ["cat-empty.csv", "empty"]),
        ("cat-header-only.csv", head, "catalog", [], 3, ["cat-header-only.csv", "no usable rows"]),
        ("cat-bad-row.csv", head + good_rows + "C,photos/exif-3.jpg\n", "catalog", ["--bad-rows", "fail"], 3,
         ["cat-bad-row.csv:4"]),
        ("cat-unterminated-quote.csv", head + good_rows + 'C,photos/exif-3.jpg,"never closed,shirts\n', "catalog",
         [], 3, ["cat-unterminated-quote.csv:4", "quote"]),
        ("cat-100mb-line.csv", head + good_rows + "C,photos/exif-3.jpg," + big + ",shirts\n", "catalog", [], 0, []),
        ("int-bom-crlf.csv", "\ufeff" + (ih + "u1,P06,1,2024-01-01\nu2,P08,2,2024-01-02\n").replace("\n", "\r\n"),
         "interactions", [], 0, []),
        ("int-unknown-ids.csv", ih + "u1,P06,1,2024-01-01\nu1,NOPE,1,2024-01-02\nu2,P08,1,2024-01-01\n", "interactions",
         [], 0, ["not in the catalog", "line 3: item 'NOPE'"]),
        ("int-odd-ids.csv", ih + "u1,P06,1,2024-01-01\n,P08,1,2024-01-01\nu\x01x,P08,1,2024-01-01\n", "interactions",
         ["--max-bad-rows-fraction", "1"], 0,
         ["int-odd-ids.csv: 2 malformed row(s) skipped", "line 3: empty user_id", "line 4: user_id contains a control"]),
        ("int-bad-values.csv", ih + "u1,P06,abc,2024-01-01\nu1,P08,-2,2024-01-01\nu2,P06,1,yesterday\nu2,P08,1,2024-01-01\n",
         "interactions", ["--max-bad-rows-fraction", "1"], 0, ["int-bad-values.csv: 3 malformed", "line 2: weight 'abc'", "line 3: weight '-2'",
                                 "line 4: timestamp 'yesterday'"]),
        ("int-bad-values-fail.csv", ih + "u1,P06,abc,2024-01-01\n", "interactions", ["--bad-rows", "fail"], 3,
         ["int-bad-values-fail.csv:2"]),
        ("int-empty.csv", "", "interactions", [], 3, ["int-empty.csv", "empty"]),
        ("int-missing-column.csv", "user_id,weight\nu1,1\n", "interactions", [], 3, ["int-missing-column.csv:1", "item_id"]),
        ("int-100mb-line.csv", ih + "u1,P06,1,2024-01-01\nu2," + big + ",1,2024-01-01\n", "interactions", [], 0, []),
        # Red-team round 2 (issue 18).
        ("int-empty-optional-cells.csv", ih + "u1,P06,,\nu1,P08,,\nu2,P06,2,\n", "interactions", [], 0, []),
        ("int-empty-ts-half-life.csv", ih + "u1,P06,1,\nu2,P08,1,2024-01-01\n", "interactions",
         ["--half-life-days", "30"], 3, ["int-empty-ts-half-life.csv:2", "--half-life-days"]),
        ("int-all-bad.csv", ih + "u1,P06,1,yesterday\nu2,P08,1,today\n", "interactions", [], 3,
         ["2 of 2 rows are unusable", "line 2: timestamp 'yesterday'"]),
        ("int-mostly-unknown.csv", ih + "u1,P06,1,2024-01-01\nu1,NO1,1,2024-01-01\nu2,NO2,1,2024-01-01\n", "interactions",
         [], 3, ["2 of 3 rows", "--max-bad-rows-fraction"]),
        ("int-huge-weight.csv", ih + "u1,P06,1e60,2024-01-01\nu1,P08,1,2024-01-01\nu2,P06,1e9,2024-01-01\n", "interactions",
         [], 0, ["line 2: weight '1e60' is above the maximum 1e9"]),
        ("int-impossible-dates.csv", ih + "u1,P06,1,2024-02-30\nu1,P08,1,2024-01-01T00:00+25:00\nu2,P06,1,2024-02-29\n",
         "interactions", ["--max-bad-rows-fraction", "1"], 0, ["line 2: timestamp '2024-02-30'", "line 3: timestamp"]),
        ("int-non-utf8.csv", ih + "u\udcff1,P06,1,2024-01-01\nu2,P08,1,2024-01-01\nu3,P06,1,2024-01-01\n", "interactions",
         [], 0, ["line 2: user_id is not valid UTF-8"]),
        ("int-duplicate-header.csv", "user_id,item_id,item_id\nu1,P06,P08\n", "interactions", [], 3,
         ["int-duplicate-header.csv:1", "'item_id' twice"]),
        ("cat-duplicate-header.csv", "item_id,image,title,title\nA,photos/exif-1.jpg,x,y\n", "catalog", [], 3,
         ["cat-duplicate-header.csv:1", "'title' twice"]),
        ("cat-non-utf8.csv", head + "A,photos/exif-1.jpg,caf\udce9,shirts\nB\udcff,photos/exif-2.jpg,x,shirts\n", "catalog",
         [], 0, ["line 3: item_id is not valid UTF-8"]),
    ]


def make(out, big_line_mb=100):
    os.makedirs(os.path.join(out, "photos"), exist_ok=True)
    rows = []
    for i, (name, data, _) in enumerate(photo_cases()):
        path = os.path.join(out, "photos", name)
        if data is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        # One item per photo, so each photo's outcome is visible on its own; P00 keeps a good photo.
        rows.append(f"P{i:02d},\"photos/{name}\",photo {name}\n")
    os.makedirs(os.path.join(out, "photos", "a-directory.jpg"), exist_ok=True)
    rows.append("PDIR,photos/a-directory.jpg,a directory named like a photo\n")
    # Round 2: files that are not photos to read: a FIFO (blocks on open), a device (never ends), a
    # symlink loop, and a sparse file above --max-file-mb (read whole before, 3 GB RSS for 1.5 GB).
    for name, expected in special_photo_cases():
        path = os.path.join(out, "photos", name)
        if name == "fifo.jpg":
            os.mkfifo(path)
        elif name == "loop-a.jpg":
            os.symlink("loop-b.jpg", path)
            os.symlink("loop-a.jpg", os.path.join(out, "photos", "loop-b.jpg"))
        elif name == "huge.jpg":
            with open(path, "wb") as f:
                f.truncate(65 * 1024 * 1024)
        rows.append(f"S{len(rows):02d},{'/dev/zero' if name == 'dev-zero' else 'photos/' + name},{name}\n")
    with open(os.path.join(out, "photos.csv"), "w", encoding="utf-8", newline="") as f:
        f.write("item_id,image,title\n" + "".join(rows))
    for name, text, *_ in csv_cases(big_line_mb):
        with open(os.path.join(out, name), "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(text)
    with open(os.path.join(out, "interactions.csv"), "w") as f:
        f.write("user_id,item_id\nu1,P06\nu1,P08\nu2,P06\n")


def special_photo_cases():
    return [("fifo.jpg", "not a regular file (a FIFO)"), ("dev-zero", "not a regular file (a device)"),
            ("loop-a.jpg", "symbolic link loop"), ("huge.jpg", "larger than 64 MB")]


class Runner:
    def __init__(self, visrec, out):
        self.visrec, self.out, self.failed, self.passed = visrec, out, [], 0

    def run(self, args):
        try:
            p = subprocess.run([self.visrec] + args, capture_output=True, timeout=TIMEOUT_S, cwd=self.out)
        except subprocess.TimeoutExpired:
            return None, "", f"timed out after {TIMEOUT_S}s"
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def expect(self, case, ok, detail):
        if ok:
            self.passed += 1
        else:
            self.failed.append(f"{case}: {detail}")

    def expect_exit(self, case, args, code, phrases):
        rc, out, err = self.run(args)
        if rc is None or rc < 0:
            self.expect(case, False, f"crashed or hung: rc={rc} {err[-300:]}")
            return
        missing = [p for p in phrases if p not in err]
        self.expect(case, rc == code and not missing,
                    f"exit {rc} (expected {code}); missing {missing} in: {err.strip()[-400:]}")


def check(visrec, out):
    r = Runner(os.path.abspath(visrec), out)
    work = os.path.join(out, "work")
    common = ["--workdir", work, "--threads", "2", "-q"]
    small = ["--resize", "40", "--crop", "32"]

    # Photos: one preprocess run; each photo's outcome is read from the manifest.
    rc, _, err = r.run(["preprocess", "--catalog", "photos.csv", "--max-failed-fraction", "1"] + small + common)
    if rc != 0:
        print(f"preprocess of the photo corpus exited {rc}: {err[-800:]}")
        return 1
    pre = os.path.join(work, "preprocess", open(os.path.join(work, "preprocess", "latest")).read().strip())
    manifest = json.load(open(os.path.join(pre, "manifest.json")))
    reasons = {f["file"]: f["reason"] for f in manifest["failures"] if f["file"]}
    with open(os.path.join(pre, "images.csv"), encoding="utf-8", newline="") as f:
        decoded = {row["image"] for row in csv.DictReader(f)}
    specials = [(n, None, e) for n, e in special_photo_cases()]
    for name, _, expected in photo_cases() + [("a-directory.jpg", None, "not a regular file")] + specials:
        image = "/dev/zero" if name == "dev-zero" else "photos/" + name
        reason = reasons.get(image)
        if expected == "ok":
            r.expect(name, image in decoded and reason is None, f"expected decoded, got failure {reason!r}")
        elif expected == "any":
            r.expect(name, (image in decoded) != (reason is not None), "neither decoded nor a listed failure")
        else:
            r.expect(name, reason is not None and expected in reason, f"expected a failure with {expected!r}, got {reason!r}")
    n_ok = manifest["counts"]["images_ok"]
    r.expect("counts", n_ok == len(decoded), f"images_ok {n_ok} != {len(decoded)} rows of images.csv")

    # The decoded photos go on through extract and reduce: features must be finite, one row per item.
    rc, _, err = r.run(["extract", "--model", "resnet18", "--max-failed-fraction", "1"] + common)
    r.expect("extract", rc == 0, f"exit {rc}: {err[-400:]}")
    rc, _, err = r.run(["reduce", "--dims", "2"] + common)
    r.expect("reduce", rc == 0, f"exit {rc}: {err[-400:]}")

    # Finetune on the decoded items, labels from separate catalogs (--catalog): bad labels and options.
    with open(os.path.join(pre, "images.csv"), encoding="utf-8", newline="") as f:
        items = sorted({row["item_id"] for row in csv.DictReader(f)})
    def labels(name, rows):
        with open(os.path.join(out, name), "w", encoding="utf-8", newline="") as f:
            f.write("item_id,label\n" + "".join(f"{i},{l}\n" for i, l in rows))
        return name
    alternate = [(i, "ab"[k % 2]) for k, i in enumerate(items)]
    ft = ["finetune", "--epochs", "1", "--batch-size", "4"] + common
    r.expect_exit("finetune missing label column", ft + ["--label-column", "nope"], 3, ["no column 'nope'", "photos.csv"])
    r.expect_exit("finetune one class", ft + ["--catalog", labels("one-class.csv", [(i, "x") for i in items]),
                                               "--label-column", "label"], 3, ["'x'", "two classes"])
    r.expect_exit("finetune single-item class",
                  ft + ["--catalog", labels("single.csv", [(items[0], "rare")] + alternate[1:]), "--label-column", "label"],
                  3, [f"'rare' ({items[0]})", "single item"])
    r.expect_exit("finetune conflicting labels",
                  ft + ["--catalog", labels("conflict.csv", [(items[0], "a"), (items[0], "b")] + alternate[1:]),
                        "--label-column", "label"], 3, ["line 3", f"'{items[0]}'", "one label"])
    r.expect_exit("finetune bad --train", ft + ["--label-column", "label", "--train", "everything"], 2, ["--train"])
    good = labels("labels.csv", alternate)
    rc, stdout, err = r.run(ft + ["--catalog", good, "--label-column", "label", "--train", "head"])
    r.expect("finetune good labels", rc == 0 and stdout.strip().endswith("weights.pt"), f"exit {rc}: {err[-400:]}")
    if rc == 0:
        rc, _, err = r.run(["extract", "--preprocess", pre, "--weights", stdout.strip(), "--max-failed-fraction", "1",
                            "--workdir", os.path.join(out, "work-ft"), "--threads", "2", "-q"])
        r.expect("extract with finetune weights", rc == 0, f"exit {rc}: {err[-400:]}")

    # CSVs: catalogs through preprocess, interactions through recommend (on the artifacts above).
    for name, _, kind, extra, code, phrases in csv_cases():
        if kind == "catalog":
            args = ["preprocess", "--catalog", name] + small + ["--max-failed-fraction", "1"]
        else:
            args = ["recommend", "--interactions", name]
        r.expect_exit(name, args + extra + common[:2] + ["--threads", "2"], code, phrases)

    check_round2(r, out, work, common)
    check_weights(r, out, common)

    # Queries against the finished artifacts: unknown ids, unreadable photos, a workdir without a stage.
    with open(os.path.join(out, "queries.txt"), "w") as f:
        f.write("item P06\nitem NO-SUCH\nfrobnicate x\nimage photos/text.jpg\n")
    r.expect_exit("query unknown item", ["query", "--item", "NO-SUCH", "--workdir", work], 3, ["'NO-SUCH'"])
    r.expect_exit("query unknown user", ["query", "--user", "nobody", "--workdir", work], 3, ["'nobody'"])
    r.expect_exit("query unreadable photo", ["query", "--image", "photos/text.jpg", "--workdir", work, "--device", "cpu"], 3,
                  ["photos/text.jpg", "not a decodable image"])
    r.expect_exit("explain unknown user", ["explain", "--user", "nobody", "--item", "P06", "--workdir", work], 3, ["'nobody'"])
    r.expect_exit("explain unknown item", ["explain", "--user", "u1", "--item", "NO-SUCH", "--workdir", work], 3,
                  ["'NO-SUCH'"])
    r.expect_exit("query workdir without recommend", ["query", "--item", "P06", "--workdir", os.path.join(out, "empty")], 4,
                  ["recommend"])
    r.expect_exit("query batch with bad lines", ["query", "--batch", "queries.txt", "--workdir", work, "--device", "cpu"], 3,
                  ["1 answered, 3 failed"])
    rc, stdout, _ = r.run(["query", "--batch", "queries.txt", "--workdir", work, "--device", "cpu"])
    r.expect("query batch names file:line", all(f"queries.txt:{n}:" in stdout for n in (2, 3, 4)), stdout[-400:])

    # Artifacts: damaged copies of the reduce artifact.
    if not os.path.exists(os.path.join(work, "reduce", "latest")):
        r.failed.append("no reduce artifact to damage")
        return report(r)
    red_latest = open(os.path.join(work, "reduce", "latest")).read().strip()
    red = os.path.join(work, "reduce", red_latest)
    damaged = {
        "truncated": lambda d: truncate(os.path.join(d, "reduced.npy")),
        "digest-flipped": lambda d: flip_last_byte(os.path.join(d, "reduced.npy")),
        "newer-schema": lambda d: bump_schema(os.path.join(d, "manifest.json")),
        "no-manifest": lambda d: os.remove(os.path.join(d, "manifest.json")),
    }
    phrases = {"truncated": "bytes", "digest-flipped": "sha256", "newer-schema": "schema version", "no-manifest": "no manifest"}
    for case, damage in damaged.items():
        copy = os.path.join(out, "damaged", case, "reduce", red_latest)
        shutil.copytree(red, copy)
        damage(copy)
        r.expect_exit("artifact " + case + " (verify)", ["verify", copy], 4, [])
        if case != "digest-flipped":  # readers check sizes and headers; digests are verify's job
            r.expect_exit("artifact " + case + " (read)", ["recommend", "--reduce", copy, "--interactions",
                                                            "interactions.csv", "--workdir", os.path.join(out, "w2")],
                          4, [phrases[case]])
    # The good artifact was never touched by any of this.
    r.expect_exit("good artifact still verifies", ["verify", os.path.join(work, "recommend")], 0, [])

    return report(r)


def check_weights(r, out, common):
    """Weights files and names (issue 19): torchvision checkpoints, the cache, `weights fetch` offline."""
    ckpt = os.path.join(HERE, "..", "fixtures", "checkpoint")
    cache_home = os.path.join(out, "xdg")
    os.environ["XDG_CACHE_HOME"] = cache_home  # inherited by every visrec run below
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1"
    ex = ["extract"] + common
    r.expect_exit("weights torchvision .pth", ex + ["--weights", os.path.join(ckpt, "resnet18-tv.pth")], 0, [])
    r.expect_exit("weights truncated .pth", ex + ["--weights", os.path.join(ckpt, "truncated.pth")], 3,
                  ["truncated.pth", "truncated"])
    r.expect_exit("weights foreign global", ex + ["--weights", os.path.join(ckpt, "foreign-global.pth")], 3,
                  ["datetime.date", "refusing"])
    r.expect_exit("weights short storage", ex + ["--weights", os.path.join(ckpt, "short-storage.pth")], 3, ["storage"])
    r.expect_exit("weights with NaN", ex + ["--weights", os.path.join(ckpt, "nan.pth")], 3, ["conv1.weight", "NaN"])
    r.expect_exit("weights amplified view", ex + ["--weights", os.path.join(ckpt, "amplified.pth")], 3, ["layer1.0.junk"])
    r.expect_exit("weights name for another model", ex + ["--weights", "resnet50"], 2, ["--model resnet50"])
    r.expect_exit("weights name not fetched", ex + ["--model", "resnet50", "--weights", "resnet50"], 3,
                  ["visrec weights fetch resnet50"])
    r.expect_exit("weights fetch unknown name", ["weights", "fetch", "nosuch"], 2, ["unknown name", "resnet50"])
    r.expect_exit("weights fetch bad scheme", ["weights", "fetch", "resnet18", "--url", "ftp://x/resnet18-f37072fd.pth"], 2,
                  ["--url"])
    r.expect_exit("weights fetch other network's file", ["weights", "fetch", "resnet50", "--url",
                                                         "http://127.0.0.1:9/resnet18-f37072fd.pth"], 2, ["resnet50-<"])
    # Port 9 (discard) on loopback: refused, so the download fails at once and nothing is stored.
    r.expect_exit("weights fetch refused", ["weights", "fetch", "resnet18", "--url",
                                            "http://127.0.0.1:9/resnet18-f37072fd.pth"], 11, ["nothing was stored"])
    cached = os.path.join(cache_home, "visrec", "weights")
    left = os.listdir(cached) if os.path.isdir(cached) else []
    r.expect("weights fetch leaves nothing", not left, f"left in the cache: {left}")


def check_round2(r, out, work, common):
    """Red-team round 2 (issue 18): options, config files, K, no interactions, exit codes."""
    rec = ["recommend", "--interactions", "interactions.csv"] + common
    # Every float option rejects NaN/inf naming the flag (one validator for all).
    for flag, value in [("--w-cf", "nan"), ("--shrink", "inf"), ("--half-life-days", "-inf"), ("--min-recall", "nan")]:
        r.expect_exit(f"recommend {flag} {value}", rec + [flag, value], 2, [flag])
    for args, flag in [(["preprocess", "--catalog", "photos.csv", "--trim-padding", "nan"], "--trim-padding"),
                       (["preprocess", "--catalog", "photos.csv", "--max-failed-fraction", "inf"], "--max-failed-fraction"),
                       (["reduce", "--variance", "nan"], "--variance"),
                       (["evaluate", "--test", "interactions.csv", "--tolerance", "nan"], "--tolerance")]:
        r.expect_exit(" ".join(args[:1] + args[-2:]), args + common, 2, [flag])
    r.expect_exit("reduce --dims and --variance", ["reduce", "--dims", "4", "--variance", "0.9"] + common, 2, ["not both"])
    r.expect_exit("recommend --text-columns nosuch", rec + ["--catalog", "photos.csv", "--text-columns", "nosuch"], 2,
                  ["'nosuch'", "its columns: item_id, image, title"])
    # --config: unknown keys name the nearest valid one; syntax errors name their line.
    def config(name, text):
        with open(os.path.join(out, name), "w") as f:
            f.write(text)
        return name
    r.expect_exit("config unknown key", ["run", "--config", config("typo.toml", "[run]\ncatalog = \"photos.csv\"\nnieghbors = 5\n")],
                  2, ["typo.toml:3", "did you mean 'neighbors'"])
    r.expect_exit("config syntax error", ["run", "--config", config("broken.toml", "[run]\ncatalog = \"photos.csv\n")],
                  2, ["broken.toml:2", "never closed"])
    # --mean/--std/--background take three values, on the command line and as a TOML array.
    small = ["--resize", "40", "--crop", "32", "--max-failed-fraction", "1"]
    w_mean = ["--workdir", os.path.join(out, "work-mean"), "--threads", "2", "-q"]
    r.expect_exit("preprocess --mean 3 values", ["preprocess", "--catalog", "photos.csv", "--mean", "0.5", "0.5", "0.5",
                                                 "--std", "0.2", "0.2", "0.2"] + small + w_mean, 0, [])
    r.expect_exit("config mean array", ["preprocess", "--catalog", "photos.csv", "--config",
                                        config("mean.toml", "[preprocess]\nmean = [0.5, 0.5, 0.5]\n")] + small + w_mean, 0, [])
    # A catalog without interactions: similar items, queries and report work; no recommendations.csv.
    w3 = os.path.join(out, "work-no-interactions")
    rc, stdout, err = r.run(["run", "--catalog", "photos.csv", "--workdir", w3, "--dims", "2", "--threads", "2", "-q"] + small)
    r.expect("run without interactions", rc == 0 and "similar_items.csv" in stdout and "recommendations: none" in stdout,
             f"exit {rc}: {stdout[-300:]} {err[-300:]}")
    rc, stdout, err = r.run(["query", "--item", "P06", "--workdir", w3])
    r.expect("query item without interactions", rc == 0 and "answer(s)" in stdout, f"exit {rc}: {err[-300:]}")
    # K larger than the stored lists: the lists as stored, and a warning naming the option to raise.
    rc, stdout, err = r.run(["query", "--item", "P06", "--k", "500", "--workdir", w3])
    r.expect("query --k above --similar-k", rc == 0 and "answer(s)" in stdout and "--k 500 is more than the" in err
             and "--similar-k" in err, f"exit {rc}: {err[-300:]}")
    rec_dir = os.path.join(work, "recommend", open(os.path.join(work, "recommend", "latest")).read().strip())
    some_user = open(os.path.join(rec_dir, "users.txt")).read().split("\n")[0]
    rc, stdout, err = r.run(["query", "--user", some_user, "--k", "500", "--workdir", work])
    r.expect("query --user --k above recommend's --k", rc == 0 and "--k 500 is more than the 10 recommendations per user"
             in err, f"exit {rc}: {err[-300:]}")
    r.expect_exit("report without interactions", ["report", "--workdir", w3, "--items", "2", "-q"], 0, [])
    # evaluate --k beyond the recommended list is refused; a malformed baseline is bad input.
    with open(os.path.join(out, "test.csv"), "w") as f:
        f.write("user_id,item_id\nu1,P06\nu9,P08\n")
    r.expect_exit("evaluate --k above the list", ["evaluate", "--test", "test.csv", "--k", "20,5"] + common, 2,
                  ["--k 20 is larger than the 10 recommendations"])
    config("bad-baseline.json", '{"k": 10, "model": {"hr": "high"}}')
    r.expect_exit("evaluate malformed baseline", ["evaluate", "--test", "test.csv", "--baseline", "bad-baseline.json"] + common,
                  3, ["model.hr is not a number"])
    # Photo queries never block on a FIFO or read a device; --png writes only .png names.
    r.expect_exit("query --image FIFO", ["query", "--image", "photos/fifo.jpg", "--workdir", work], 3, ["a FIFO"])
    r.expect_exit("query --image /dev/zero", ["query", "--image", "/dev/zero", "--workdir", work], 3, ["a device"])
    r.expect_exit("query --image loop", ["query", "--image", "photos/loop-a.jpg", "--workdir", work], 3, ["symbolic link loop"])
    r.expect_exit("query --png .jpg", ["query", "--item", "P06", "--workdir", work, "--png", "q.jpg"], 2, [".png"])
    # A manifest value of the wrong type is a damaged artifact (exit 4), not an internal error.
    pre_key = open(os.path.join(work, "preprocess", "latest")).read().strip()
    typed = os.path.join(out, "typed", "preprocess", pre_key)
    shutil.copytree(os.path.join(work, "preprocess", pre_key), typed)
    m = json.load(open(os.path.join(typed, "manifest.json")))
    m["params"]["crop"] = "big"
    json.dump(m, open(os.path.join(typed, "manifest.json"), "w"))
    r.expect_exit("manifest value of the wrong type", ["extract", "--preprocess", typed, "--workdir",
                                                       os.path.join(out, "w-typed"), "-q"], 4, ["manifest"])
    r.expect_exit("verify finds the edited manifest", ["verify", typed], 4, [])
    # A copied workdir is verified on its own files; a whole workdir verifies stage by stage.
    copy = os.path.join(out, "work-copy")
    shutil.copytree(work, copy, symlinks=True)
    red_key = open(os.path.join(copy, "reduce", "latest")).read().strip()
    flip_last_byte(os.path.join(copy, "reduce", red_key, "reduced.npy"))
    r.expect_exit("verify copied workdir checks the copy", ["verify", os.path.join(copy, "recommend")], 4, [])
    rc, stdout, _ = r.run(["verify", os.path.join(copy, "recommend")])
    r.expect("verify copied workdir names the copy", os.path.join(copy, "reduce") in stdout, stdout[-400:])
    r.expect_exit("verify whole workdir", ["verify", w3], 0, [])
    rc, stdout, _ = r.run(["verify", w3])
    r.expect("verify lists each artifact once", stdout.count("(reduce)") == 1, stdout[-600:])
    # Writing into a place that cannot hold a folder is exit 9, not an internal error.
    config("not-a-folder", "x")
    r.expect_exit("report into a file", ["report", "--workdir", work, "--out", "not-a-folder/sub"], 9, ["not-a-folder"])


def report(r):
    for f in r.failed:
        print("FAIL", f)
    print(f"bad-input corpus: {r.passed} checks passed, {len(r.failed)} failed")
    return 1 if r.failed else 0


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def flip_last_byte(path):
    with open(path, "r+b") as f:
        f.seek(-1, os.SEEK_END)
        b = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x01]))


def bump_schema(path):
    m = json.load(open(path))
    m["schema_version"] = m["schema_version"] + 1
    with open(path, "w") as f:
        json.dump(m, f)


def main(argv):
    if len(argv) >= 3 and argv[1] == "make":
        make(argv[2])
        return 0
    if len(argv) >= 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    if len(argv) >= 3 and argv[1] == "run":
        with tempfile.TemporaryDirectory(prefix="visrec-bad-inputs.") as out:
            make(out)
            return check(argv[2], out)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
