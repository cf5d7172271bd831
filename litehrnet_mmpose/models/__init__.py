"""Lite-HRNet as the paper describes it: the backbones, their parts, the architecture table.

Training and eval forward only; inference-only speed lives in :mod:`litehrnet_mmpose.deploy`.
"""
from .arch import ARCH_SETTINGS, resolve_arch, validate_extra
from .fusion import MultiResolutionFusion
from .head import IterativeHead
from .litehrnet import LiteHRNet, NaiveLiteHRNet
from .module import LiteHRModule
from .shuffle import ShuffleUnit, Stem, depthwise_pointwise
from .transition import Transition
from .weighting import ConditionalChannelWeighting, CrossResolutionWeighting, SpatialWeighting

__all__ = [
    'ARCH_SETTINGS', 'ConditionalChannelWeighting', 'CrossResolutionWeighting', 'IterativeHead',
    'LiteHRModule', 'LiteHRNet', 'MultiResolutionFusion', 'NaiveLiteHRNet', 'ShuffleUnit',
    'SpatialWeighting', 'Stem', 'Transition', 'depthwise_pointwise', 'resolve_arch',
    'validate_extra'
]
