#!/usr/bin/python3
"""Writes tests/fixtures/extract/: what torchvision's ResNets are, and what they compute.

Run with Debian's Python (apt-get install python3-torchvision):
    /usr/bin/python3 tools/make-resnet-fixtures.py

- names.json: every state_dict entry (name -> shape) of resnet18/34/50/101: visrec's built-in models
  must have exactly these, so torchvision weights load one-to-one.
- Weights are not stored (tens of MB): every tensor is filled from a counter-based generator that
  tests/extract/resnet_test.cc reproduces bit for bit (SplitMix64 of fnv1a64(name) + i*golden).
  features-<model>.npy is torchvision's global-average-pooled last block for input.npy with them.
- tiny.pt + tiny.json: a small TorchScript model returning a feature map, with its sidecar.
- partial.pt / ordered.pt: a plain dict and a raw OrderedDict state_dict saved by torch.save, to
  check how `--weights` reads (and refuses) such files.
"""
import json
import os

import numpy as np
import torch
import torchvision

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "extract")
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1, M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h)


def uniform(name, count):
    """u in [0, 1) for i = 0..count-1, from SplitMix64(fnv1a64(name) + (i + 1) * golden)."""
    with np.errstate(over="ignore"):
        z = fnv1a64(name) + (np.arange(1, count + 1, dtype=np.uint64) * GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def fill(model):
    """Deterministic, numerically tame values: conv/linear ~ U(-1,1)*sqrt(3/fan_in), BN near identity."""
    sd = model.state_dict()
    for name, t in sd.items():
        if t.dtype not in (torch.float32, torch.float64):
            continue
        u = torch.from_numpy(uniform(name, t.numel())).float().reshape(t.shape)
        if name.endswith("running_var"):
            v = 0.5 + u
        elif name.endswith("running_mean") or name.endswith("bias"):
            v = (u - 0.5) * 0.2
        elif t.dim() == 1:  # BN weight
            v = 0.5 + u
        else:
            fan_in = t[0].numel()
            v = (2 * u - 1) * (3.0 / fan_in) ** 0.5
        t.copy_(v)
    model.load_state_dict(sd)
    return model


def main():
    os.makedirs(OUT, exist_ok=True)
    names = {}
    for m in ["resnet18", "resnet34", "resnet50", "resnet101"]:
        model = getattr(torchvision.models, m)(weights=None)
        names[m] = {k: list(v.shape) for k, v in model.state_dict().items()}
    with open(os.path.join(OUT, "names.json"), "w") as f:
        json.dump({"torchvision": torchvision.__version__, "models": names}, f, indent=0, sort_keys=True)

    x = torch.from_numpy(uniform("input", 2 * 3 * 64 * 64)).float().reshape(2, 3, 64, 64) * 4 - 2
    np.save(os.path.join(OUT, "input.npy"), x.numpy())
    for m in ["resnet18", "resnet50"]:
        model = fill(getattr(torchvision.models, m)(weights=None)).eval()
        with torch.no_grad():
            body = torch.nn.Sequential(*list(model.children())[:-1])  # up to avgpool
            feat = body(x).flatten(1)
        np.save(os.path.join(OUT, f"features-{m}.npy"), feat.numpy().astype(np.float32))

    small = fill(torchvision.models.resnet18(weights=None)).state_dict()
    keep = ["conv1.weight", "bn1.weight", "bn1.running_var", "bn1.num_batches_tracked"]
    torch.save({k: small[k] for k in keep}, os.path.join(OUT, "partial.pt"))
    torch.save(torchvision.models.resnet18(weights=None).bn1.state_dict(), os.path.join(OUT, "ordered.pt"))

    # A tiny TorchScript model that outputs a feature map (visrec pools it), with a sidecar.
    torch.manual_seed(0)
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(8, 6, 3)).eval()
    torch.jit.script(tiny).save(os.path.join(OUT, "tiny.pt"))
    with open(os.path.join(OUT, "tiny.json"), "w") as f:
        json.dump({"input": {"shape": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}, f)


if __name__ == "__main__":
    main()
