"""BN statistics for benchmarks on random weights."""
from typing import Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def calibrate_bn(model: nn.Module, shape: Tuple[int, int], batches: int = 2,
                 batch_size: int = 4) -> None:
    """Set every BN's running statistics to the average batch statistics of random images,
    so that eval-mode activations keep a trained network's scale (default init + identity
    BN statistics shrink them towards zero, into denormal floats). ``model`` is an
    OpenMMLab model called as ``model(x, None, mode='tensor')``; it is left in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    model.train()
    g = torch.Generator().manual_seed(0)
    for _ in range(batches):
        model(torch.randn(batch_size, 3, *shape, generator=g), None, mode='tensor')
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.eval()
