"""One high-resolution module: per-branch blocks, then multi-resolution fusion."""
from typing import List, Optional, Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from .fusion import MultiResolutionFusion
from .shuffle import ShuffleUnit
from .weighting import ConditionalChannelWeighting

Tensors = List[Tensor]


class LiteHRModule(BaseModule):
    """Lite-HRNet's module: ``num_blocks`` conditional channel weighting blocks across all
    branches ('LITE'), or ``num_blocks`` shuffle units per branch ('NAIVE'), then fusion.

    Args:
        num_branches: Number of branches.
        num_blocks: Blocks per branch.
        in_channels: Channels of each branch.
        reduce_ratio: Cross-resolution weighting reduction ratio ('LITE' only).
        module_type: 'LITE' or 'NAIVE' (case-insensitive).
        multiscale_output: Output every branch (True) or only the highest resolution.
        with_fuse: Whether to fuse the branches at the end.
        conv_cfg / norm_cfg: Layer configs.
        with_cp: Gradient checkpointing of the blocks.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 num_branches: int,
                 num_blocks: int,
                 in_channels: Sequence[int],
                 reduce_ratio: int,
                 module_type: str,
                 multiscale_output: bool = False,
                 with_fuse: bool = True,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_branches != len(in_channels):
            raise ValueError(f'LiteHRModule: num_branches ({num_branches}) != '
                             f'len(in_channels) ({len(in_channels)})')
        self.in_channels = list(in_channels)
        self.num_branches = num_branches
        self.module_type = module_type.upper()
        self.multiscale_output = multiscale_output
        self.with_fuse = with_fuse
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.with_cp = with_cp
        if self.module_type == 'LITE':
            self.layers = nn.Sequential(*[
                ConditionalChannelWeighting(self.in_channels, stride=1,
                                            reduce_ratio=reduce_ratio, conv_cfg=conv_cfg,
                                            norm_cfg=norm_cfg, with_cp=with_cp)
                for _ in range(num_blocks)
            ])
        elif self.module_type == 'NAIVE':
            self.layers = nn.ModuleList([
                nn.Sequential(*[
                    ShuffleUnit(c, c, conv_cfg=conv_cfg, norm_cfg=norm_cfg, with_cp=with_cp)
                    for _ in range(num_blocks)
                ]) for c in self.in_channels
            ])
        else:
            raise ValueError(f"module_type: expected 'LITE' or 'NAIVE', got {module_type!r}")
        # None as in the reference when there is nothing to fuse (a single branch)
        self.fuse_layers = MultiResolutionFusion(
            self.in_channels, num_branches if multiscale_output else 1, conv_cfg,
            norm_cfg) if with_fuse and num_branches > 1 else None
        if self.fuse_layers is not None:
            self.relu = nn.ReLU()

    def forward(self, x: Tensors) -> Tensors:
        if self.module_type == 'LITE':
            out = self.layers(x)
        else:
            out = [branch(s) for branch, s in zip(self.layers, x)]
        if self.fuse_layers is not None:
            out = [self.relu(y) for y in self.fuse_layers(out)]
        if not self.multiscale_output:
            out = out[:1]
        return out
