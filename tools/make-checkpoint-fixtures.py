#!/usr/bin/python3
"""Writes tests/fixtures/checkpoint/: ResNet-18-shaped state_dicts in torchvision's own file formats
(zip and legacy torch.save of an OrderedDict with _metadata), the same tensors as a plain dict (the
tools/convert-weights.py route), and hostile variants. Run once with Debian's python3-torch
(`apt-get install python3-torch`); the tests read the committed files and never need Python.

Every tensor is a strided view into one of a few small shared storages, so a full ResNet-18 layout
costs a few kilobytes and the reader's handling of sizes, strides and offsets is exercised.
"""
import collections
import datetime
import io
import os
import sys
import zipfile

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "checkpoint")


class Block(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))


class ResNet18(nn.Module):  # torchvision's parameter names and shapes
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, planes in enumerate([64, 128, 256, 512]):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(Block(cin, planes, stride), Block(planes, planes, 1)))
            cin = planes
        self.fc = nn.Linear(512, 1000)


def strided_state_dict(poison=None):
    g = torch.Generator().manual_seed(11)
    weights = torch.randn(4096, generator=g) * 0.03   # conv/linear weights, biases, BN shifts
    positive = torch.rand(2048, generator=g) + 0.5     # BN scales and running variances
    if poison:
        poison(weights, positive)
    sd = ResNet18().state_dict()                        # an OrderedDict carrying _metadata
    out = collections.OrderedDict()
    for i, (name, t) in enumerate(sd.items()):
        if t.dtype == torch.int64:                      # num_batches_tracked
            out[name] = torch.tensor(i, dtype=torch.int64)
            continue
        src = positive if name.endswith(("running_var", ".weight")) and t.dim() == 1 else weights
        strides = [3, 1, 1, 1][:t.dim()] if t.dim() > 1 else [1]
        extent = sum((d - 1) * s for d, s in zip(t.shape, strides)) + 1
        offset = (i * 37) % (src.numel() - extent)
        out[name] = src.as_strided(t.shape, strides, offset)
    w = out["layer4.1.conv2.weight"]                    # one view into a HalfStorage too
    out["layer4.1.conv2.weight"] = weights.half().as_strided(w.shape, w.stride(), w.storage_offset())
    out._metadata = sd._metadata
    return out


def rewrite_zip(src, dst, edit):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, edit(info.filename, zin.read(info.filename)))


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = strided_state_dict()
    path = lambda n: os.path.join(OUT, n)
    torch.save(sd, path("resnet18-tv.pth"))
    torch.save(sd, path("resnet18-tv-legacy.pth"), _use_new_zipfile_serialization=False)
    # The plain-dict route (what tools/convert-weights.py writes, minus its .contiguous(): the same
    # views keep the file small; LibTorch's own unpickler reads them).
    torch.save(dict(sd), path("resnet18-plain.pt"))
    data = open(path("resnet18-tv.pth"), "rb").read()
    open(path("truncated.pth"), "wb").write(data[: len(data) * 3 // 5])
    legacy = open(path("resnet18-tv-legacy.pth"), "rb").read()
    open(path("truncated-legacy.pth"), "wb").write(legacy[: len(legacy) - 3000])
    # A storage record shorter than the tensors viewing it claim.
    rewrite_zip(path("resnet18-tv.pth"), path("short-storage.pth"),
                lambda n, b: b[:1000] if "/data/" in n and len(b) > 1000 else b)
    # Something that is not a tensor: pickle would import and call datetime.date.
    bad = collections.OrderedDict(conv1=torch.zeros(2), when=datetime.date(2020, 1, 2))
    torch.save(bad, path("foreign-global.pth"))
    # Values no trained network holds: a NaN weight, negative BN variances (and scales).
    torch.save(strided_state_dict(lambda w, p: w.__setitem__(0, float("nan"))), path("nan.pth"))  # conv1.weight[0,0,0,0]
    torch.save(strided_state_dict(lambda w, p: p.fill_(-1)), path("negative-var.pth"))
    # A kilobyte that claims 2^27 elements (one float repeated by a zero stride) under an unknown name.
    amp = collections.OrderedDict(sd)
    amp["layer1.0.junk"] = torch.ones(1).as_strided([2 ** 27], [0])
    torch.save(amp, path("amplified.pth"))
    for n in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(path(n)):8d}  {n}", file=sys.stderr)


if __name__ == "__main__":
    main()
