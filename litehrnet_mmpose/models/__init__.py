"""Lite-HRNet backbones and their building blocks."""
from .blocks import (ConditionalChannelWeighting, CrossResolutionWeighting, IterativeHead,
                     LiteHRModule, ShuffleUnit, SpatialWeighting, Stem)
from .litehrnet import ARCH_SETTINGS, LiteHRNet, NaiveLiteHRNet

__all__ = [
    'ARCH_SETTINGS', 'ConditionalChannelWeighting', 'CrossResolutionWeighting', 'IterativeHead',
    'LiteHRModule', 'LiteHRNet', 'NaiveLiteHRNet', 'ShuffleUnit', 'SpatialWeighting', 'Stem'
]
