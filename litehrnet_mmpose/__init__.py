"""Lite-HRNet (CVPR 2021) backbones for MMPose 1.x, registered in the ``litehrnet_mmpose`` scope."""
from . import datasets, engine, visualization  # noqa: F401  (registrations)
from .apis.checkpoint import allow_mmengine_checkpoints
from .models import (ARCH_SETTINGS, CrossResolutionWeighting, LiteHRNet, NaiveLiteHRNet,
                     SpatialWeighting)
from .registry import MODELS, SCOPE
from .version import __version__

allow_mmengine_checkpoints()

__all__ = [
    'ARCH_SETTINGS', 'CrossResolutionWeighting', 'LiteHRNet', 'MODELS', 'NaiveLiteHRNet',
    'SCOPE', 'SpatialWeighting', '__version__'
]
