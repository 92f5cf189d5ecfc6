#!/usr/bin/env python3
"""Export a torchvision model to TorchScript + sidecar JSON for `visrec extract --model-file`.

The model returns the global-average-pooled last feature map (the classifier is dropped).
    python3 tools/models/export-torchscript.py resnet50 --out resnet50.pt            # ImageNet weights (internet)
    python3 tools/models/export-torchscript.py resnet50 --out r50.pt --weights none  # untrained, for testing
Writes OUT and OUT with .json: input size, RGB, mean/std, and where the weights came from.
"""
import argparse
import json
import os

import torch
import torchvision


class Pooled(torch.nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return self.body(x).mean(dim=(2, 3))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="torchvision model name, e.g. resnet18, resnet50, efficientnet_b0")
    p.add_argument("--out", required=True)
    p.add_argument("--weights", default="DEFAULT", help="torchvision weights enum name, DEFAULT, or none")
    p.add_argument("--size", type=int, default=224)
    a = p.parse_args()
    weights = None if a.weights.lower() == "none" else a.weights
    net = getattr(torchvision.models, a.model)(weights=weights).eval()
    children = list(net.children())
    # ResNet-style: everything up to the average pool; other families: their `features` block.
    body = torch.nn.Sequential(*children[:-2]) if hasattr(net, "fc") else net.features
    scripted = torch.jit.trace(Pooled(body).eval(), torch.zeros(1, 3, a.size, a.size))
    scripted.save(a.out)
    sidecar = {"architecture": a.model, "weights": weights or "none (untrained)",
               "torchvision": torchvision.__version__,
               "input": {"shape": [3, a.size, a.size], "channel_order": "RGB",
                         "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(sidecar, f, indent=1)
    print(f"wrote {a.out} and its sidecar")


if __name__ == "__main__":
    main()
