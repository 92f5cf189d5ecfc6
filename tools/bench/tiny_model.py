#!/usr/bin/env python3
"""Writes a tiny TorchScript feature model (3x3 conv with 256 channels, ReLU, global mean pool) for
benchmarks that need a large extracted catalog in seconds, not hours. Needs Debian python3-torch.
Usage: tiny_model.py OUT.pt"""
import sys

import torch

torch.manual_seed(0)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 256, 3, stride=2)

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


torch.jit.trace(Tiny().eval(), torch.zeros(1, 3, 32, 32)).save(sys.argv[1])
