"""Lite-HRNet (CVPR 2021) backbones for MMPose 1.x, registered in the ``litehrnet_mmpose`` scope."""
from . import datasets, engine, visualization  # noqa: F401  (registrations)
from .engine.checkpoint_rules import install_checkpoint_rules
from .models import (ARCH_SETTINGS, CrossResolutionWeighting, LiteHRNet, NaiveLiteHRNet,
                     SpatialWeighting)
from .registry import MODELS, SCOPE
from .version import __version__

# process-wide, so that MMPose's own tools and mmengine's Runner, which call torch.load
# themselves, read mmengine's checkpoints under the same restricted rules
install_checkpoint_rules()

__all__ = [
    'ARCH_SETTINGS', 'CrossResolutionWeighting', 'LiteHRNet', 'MODELS', 'NaiveLiteHRNet',
    'SCOPE', 'SpatialWeighting', '__version__'
]
