"""Lite-HRNet's conditional channel weighting (Sec. 3.2): the cheap replacement of the
shuffle block's 1x1 convs by weights computed across resolutions and within each branch."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from ..registry import MODELS
from .activation_checkpoint import CheckpointMixin, Tensors
from .tensor_ops import avg_pool_to, cat_shuffle, mul_upsampled

CfgType = Optional[dict]
ActCfg = Union[dict, Tuple[dict, dict]]
SIGMOID_PAIR = (dict(type='ReLU'), dict(type='Sigmoid'))

# opaque calls in torch.fx graphs, here too (fx.wrap patches the calling module's names)
for _fn in ('avg_pool_to', 'cat_shuffle', 'mul_upsampled'):
    torch.fx.wrap(_fn)


def _pair(act_cfg: ActCfg, field: str) -> Tuple[dict, dict]:
    """Normalise an ``act_cfg`` given as one dict or a pair of dicts."""
    if isinstance(act_cfg, dict):
        return act_cfg, act_cfg
    if (not isinstance(act_cfg, (list, tuple)) or len(act_cfg) != 2
            or not all(isinstance(a, dict) for a in act_cfg)):
        raise TypeError(f'{field}: expected a dict or a pair of dicts, got {act_cfg!r}')
    return act_cfg[0], act_cfg[1]


def _reduced(channels: int, ratio: int, field: str) -> int:
    """Hidden width of a squeeze-excitation style weighting, validated."""
    if not isinstance(ratio, int) or ratio < 1:
        raise ValueError(f'{field}: ratio must be a positive int, got {ratio!r}')
    hidden = int(channels / ratio)
    if hidden < 1:
        raise ValueError(f'{field}: {channels} channels reduced by ratio {ratio} leave '
                         f'{hidden} hidden channels; use more channels or a smaller ratio')
    return hidden


def _squeeze_excite(channels: int, ratio: int, conv_cfg: CfgType, norm_cfg: CfgType,
                    act_cfg: ActCfg, owner: str) -> Tuple[ConvModule, ConvModule]:
    """The two 1x1 ConvModules (reduce, expand) of both weighting functions."""
    hidden = _reduced(channels, ratio, f'{owner}.channels')
    act = _pair(act_cfg, f'{owner}.act_cfg')
    conv1 = ConvModule(channels, hidden, kernel_size=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act[0])
    conv2 = ConvModule(hidden, channels, kernel_size=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act[1])
    return conv1, conv2


@MODELS.register_module()
class SpatialWeighting(BaseModule):
    """Weights of one branch from its own pooled features (squeeze-and-excitation: global
    pool -> 1x1 -> 1x1 -> sigmoid), the paper's spatial weighting function.

    Args:
        channels: Channels of the branch.
        ratio: Channel reduction ratio of the hidden layer.
        conv_cfg / norm_cfg: Layer configs (no norm by default, as in the reference).
        act_cfg: One activation config, or a pair (hidden, output).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 16,
                 conv_cfg: CfgType = None,
                 norm_cfg: CfgType = None,
                 act_cfg: ActCfg = SIGMOID_PAIR,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1, self.conv2 = _squeeze_excite(channels, ratio, conv_cfg, norm_cfg, act_cfg,
                                                 'SpatialWeighting')

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


@MODELS.register_module()
class CrossResolutionWeighting(BaseModule):
    """Channel weights computed jointly from all branches, applied to every branch: each
    branch is average-pooled to the lowest resolution, the concatenation goes through two
    1x1 convs, and each branch is multiplied by its slice of the weights, upsampled back.

    Args:
        channels: Channels of each branch, highest resolution first.
        ratio: Channel reduction ratio of the hidden layer.
        conv_cfg / norm_cfg: Layer configs.
        act_cfg: One activation config, or a pair (hidden, output).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 channels: Sequence[int],
                 ratio: int = 16,
                 conv_cfg: CfgType = None,
                 norm_cfg: CfgType = None,
                 act_cfg: ActCfg = SIGMOID_PAIR,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if (not isinstance(channels, (list, tuple)) or not channels
                or not all(isinstance(c, int) and c > 0 for c in channels)):
            raise TypeError('CrossResolutionWeighting.channels: expected a non-empty sequence '
                            f'of positive ints, got {channels!r}')
        self.channels = list(channels)
        self.conv1, self.conv2 = _squeeze_excite(sum(self.channels), ratio, conv_cfg, norm_cfg,
                                                 act_cfg, 'CrossResolutionWeighting')

    def forward(self, x: Tensors) -> Tensors:
        mini_size = x[-1].shape[-2:]
        pooled = [avg_pool_to(s, mini_size) for s in x[:-1]] + [x[-1]]
        weights = self.conv2(self.conv1(torch.cat(pooled, dim=1))).split(self.channels, dim=1)
        # Indexing, not zip: a torch.fx proxy of the split cannot be iterated.
        return [mul_upsampled(s, weights[k]) for k, s in enumerate(x)]


class ConditionalChannelWeighting(CheckpointMixin, BaseModule):
    """Lite-HRNet's block: split every branch in two halves; weight one half across
    resolutions, then depthwise conv it and weight it spatially; concatenate and shuffle.

    Args:
        in_channels: Channels of each branch.
        stride: Stride of the depthwise convs (1 in Lite-HRNet).
        reduce_ratio: Reduction ratio of the cross-resolution weighting.
        conv_cfg / norm_cfg: Layer configs.
        with_cp: Gradient checkpointing.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 stride: int,
                 reduce_ratio: int,
                 conv_cfg: CfgType = None,
                 norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'ConditionalChannelWeighting.stride: expected 1 or 2, got '
                             f'{stride!r}')
        self.with_cp = with_cp
        self.stride = stride
        branch_channels = [c // 2 for c in in_channels]
        self.cross_resolution_weighting = CrossResolutionWeighting(
            branch_channels, ratio=reduce_ratio, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.depthwise_convs = nn.ModuleList([
            ConvModule(c, c, kernel_size=3, stride=stride, padding=1, groups=c,
                       conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
            for c in branch_channels
        ])
        self.spatial_weighting = nn.ModuleList(
            [SpatialWeighting(channels=c, ratio=4) for c in branch_channels])

    def _inner_forward(self, x: Tensors) -> Tensors:
        halves = [s.chunk(2, dim=1) for s in x]
        x2 = self.cross_resolution_weighting([h[1] for h in halves])
        x2 = [sw(dw(s)) for s, dw, sw in zip(x2, self.depthwise_convs, self.spatial_weighting)]
        return [cat_shuffle(h[0], s) for h, s in zip(halves, x2)]

    def forward(self, x: Tensors) -> Tensors:
        return self._maybe_checkpoint(self._inner_forward, list(x))
