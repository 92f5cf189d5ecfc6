#!/usr/bin/env python3
"""Save torchvision ResNet weights as a plain dict of contiguous tensors.

Not needed any more for `--weights`: visrec reads torchvision's .pth files as published, and
`visrec weights fetch resnet50` downloads them. Kept for files from other tools that nest their
tensors differently (edit the lookup below) and for offline conversion with PyTorch at hand.

  python3 tools/models/convert-weights.py --model resnet50 --out resnet50.pt     # downloads ImageNet weights
  python3 tools/models/convert-weights.py resnet50-0676ba61.pth --out resnet50.pt  # converts a file you have
"""
import argparse
import sys

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("state_dict", nargs="?", help="a torchvision state_dict file (.pth)")
    p.add_argument("--model", choices=["resnet18", "resnet34", "resnet50", "resnet101"],
                   help="download torchvision's ImageNet weights for this model (needs internet)")
    p.add_argument("--out", required=True, help="output file for visrec --weights")
    a = p.parse_args()
    if a.state_dict:
        sd = torch.load(a.state_dict, map_location="cpu")
        if isinstance(sd, dict) and "state_dict" in sd:
            sd = sd["state_dict"]
    elif a.model:
        import torchvision
        sd = getattr(torchvision.models, a.model)(weights="DEFAULT").state_dict()
    else:
        p.error("give a state_dict file or --model")
    plain = {k: v.detach().cpu().contiguous() for k, v in sd.items() if torch.is_tensor(v)}
    torch.save(plain, a.out)
    print(f"wrote {len(plain)} tensors to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
