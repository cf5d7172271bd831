"""The shuffle blocks: the stem, Naive Lite-HRNet's ShuffleNet v2 unit, and the
depthwise/pointwise pair that every Lite-HRNet part repeats."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from .activation_checkpoint import CheckpointMixin
from .tensor_ops import cat_shuffle

CfgType = Optional[dict]
RELU = dict(type='ReLU')

# opaque calls in torch.fx graphs, here too (fx.wrap patches the calling module's names)
for _fn in ('cat_shuffle', ):
    torch.fx.wrap(_fn)


def depthwise_pointwise(in_channels: int,
                        out_channels: int,
                        stride: int,
                        act_cfg: CfgType,
                        conv_cfg: CfgType,
                        norm_cfg: dict,
                        flat: bool = False) -> nn.Sequential:
    """The dw3x3-BN -> pw1x1-BN(-act) pair.

    ``flat=False`` gives two ``ConvModule`` (keys ``0.conv``, ``0.bn``, ``1.conv``, ...), as in
    the stem and shuffle units. ``flat=True`` gives bare layers (keys ``0``, ``1``, ``2``,
    ``3``), as the reference's transitions and fusions are laid out: same computation, other
    state-dict keys, kept for checkpoint compatibility.
    """
    if flat:
        layers = [
            build_conv_layer(conv_cfg, in_channels, in_channels, kernel_size=3, stride=stride,
                             padding=1, groups=in_channels, bias=False),
            build_norm_layer(norm_cfg, in_channels)[1],
            build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size=1, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1],
        ]
        if act_cfg is not None:
            layers.append(build_activation_layer(act_cfg))
        return nn.Sequential(*layers)
    return nn.Sequential(
        ConvModule(in_channels, in_channels, kernel_size=3, stride=stride, padding=1,
                   groups=in_channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None),
        ConvModule(in_channels, out_channels, kernel_size=1, conv_cfg=conv_cfg,
                   norm_cfg=norm_cfg, act_cfg=act_cfg))


class Stem(CheckpointMixin, BaseModule):
    """Stride-2 3x3 conv, then a stride-2 shuffle block: the input at 1/4 resolution.

    Args:
        in_channels: Image channels.
        stem_channels: Channels of the first conv.
        out_channels: Output channels.
        expand_ratio: Width multiplier of the shuffle block's hidden layer.
        conv_cfg / norm_cfg: Layer configs.
        with_cp: Gradient checkpointing.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 stem_channels: int,
                 out_channels: int,
                 expand_ratio: float,
                 conv_cfg: CfgType = None,
                 norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.with_cp = with_cp
        self.conv1 = ConvModule(in_channels, stem_channels, kernel_size=3, stride=2, padding=1,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=RELU)
        mid_channels = int(round(stem_channels * expand_ratio))
        branch_channels = stem_channels // 2
        if stem_channels == out_channels:
            inc_channels = out_channels - branch_channels
            linear_out = branch_channels
        else:
            inc_channels = out_channels - stem_channels
            linear_out = stem_channels
        self.branch1 = depthwise_pointwise(branch_channels, inc_channels, 2, RELU, conv_cfg,
                                           norm_cfg)
        self.expand_conv = ConvModule(branch_channels, mid_channels, kernel_size=1,
                                      conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=RELU)
        # The remaining dw -> pw pair has its own attribute names in the reference layout.
        dw, pw = depthwise_pointwise(mid_channels, linear_out, 2, RELU, conv_cfg, norm_cfg)
        self.depthwise_conv, self.linear_conv = dw, pw

    def _inner_forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.conv1(x).chunk(2, dim=1)
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return cat_shuffle(self.branch1(x1), x2)

    def forward(self, x: Tensor) -> Tensor:
        return self._maybe_checkpoint(self._inner_forward, x)


class ShuffleUnit(CheckpointMixin, BaseModule):
    """ShuffleNetV2 unit, Naive Lite-HRNet's block (pw -> dw -> pw on half the channels).

    Args:
        in_channels: Input channels.
        out_channels: Output channels (equal to ``in_channels`` when ``stride == 1``).
        stride: Stride of the depthwise conv.
        conv_cfg / norm_cfg / act_cfg: Layer configs.
        with_cp: Gradient checkpointing.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 conv_cfg: CfgType = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = RELU,
                 with_cp: bool = False,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.stride = stride
        self.with_cp = with_cp
        branch_features = out_channels // 2
        if stride == 1 and in_channels != branch_features * 2:
            raise ValueError(f'ShuffleUnit: with stride 1, in_channels ({in_channels}) must be '
                             f'even and equal out_channels ({out_channels})')
        if stride > 1:
            self.branch1 = depthwise_pointwise(in_channels, branch_features, stride, act_cfg,
                                               conv_cfg, norm_cfg)
        self.branch2 = nn.Sequential(
            ConvModule(in_channels if stride > 1 else branch_features, branch_features,
                       kernel_size=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg),
            *depthwise_pointwise(branch_features, branch_features, stride, act_cfg, conv_cfg,
                                 norm_cfg))

    def _inner_forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            return cat_shuffle(self.branch1(x), self.branch2(x))
        x1, x2 = x.chunk(2, dim=1)
        return cat_shuffle(x1, self.branch2(x2))

    def forward(self, x: Tensor) -> Tensor:
        return self._maybe_checkpoint(self._inner_forward, x)
