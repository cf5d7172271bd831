"""Lite-HRNet's iterative head (the official models' ``with_head=True``)."""
from typing import List, Optional, Sequence

import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import Tensor

from .shuffle import RELU

Tensors = List[Tensor]


class IterativeHead(BaseModule):
    """From the lowest resolution up, each branch adds the bilinearly upsampled result of
    the one below and goes through a depthwise-separable conv.

    Args:
        in_channels: Channels of each branch, highest resolution first.
        norm_cfg: Norm config.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)[::-1]
        outs = self.in_channels[1:] + self.in_channels[-1:]
        self.projects = nn.ModuleList([
            DepthwiseSeparableConvModule(c_in, c_out, kernel_size=3, padding=1,
                                         norm_cfg=norm_cfg, act_cfg=RELU, dw_act_cfg=None,
                                         pw_act_cfg=RELU)
            for c_in, c_out in zip(self.in_channels, outs)
        ])

    def forward(self, x: Tensors) -> Tensors:
        y: Tensors = []
        last: Optional[Tensor] = None
        for s, project in zip(x[::-1], self.projects):
            if last is not None:
                s = s + F.interpolate(last, size=s.shape[-2:], mode='bilinear',
                                      align_corners=True)
            last = project(s)
            y.append(last)
        return y[::-1]
