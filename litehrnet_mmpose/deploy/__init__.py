"""Inference-only deployment: fold every BatchNorm into its conv and swap Lite-HRNet's
blocks for their faster inference implementations.

    from litehrnet_mmpose.deploy import switch_to_deploy
    pose_model = switch_to_deploy(init_model(config, checkpoint, device='cpu'))

Outputs stay equal to the eval-mode model up to float rounding (<= 1e-4 on the tests'
random weights). The backbone runs in channels_last memory inside and returns NCHW
tensors (``channels_last=False`` keeps NCHW); traced and exported graphs (jit, torch.fx,
ONNX) are NCHW either way. Deployment rewrites weights in place and cannot be undone:
train, fine-tune or save checkpoints from a model that was never switched.
"""
import torch.nn as nn

from ..models import LiteHRNet
from .backbone import DeployedBackbone, deployed_class
from .blocks import DEPLOY_CLASSES, convert_blocks
from .cuda_graph import CUDAGraphForward
from .export import export_onnx, ort_run, ort_session
from .fold import fuse_conv_bn
from .graph import GraphLiteHRNet, to_graph
from .layout import PointwiseConv2d

__all__ = [
    'CUDAGraphForward', 'DEPLOY_CLASSES', 'DeployedBackbone', 'GraphLiteHRNet', 'PointwiseConv2d',
    'export_onnx', 'fuse_conv_bn', 'ort_run', 'ort_session', 'switch_to_deploy', 'to_graph'
]


def switch_to_deploy(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """Put ``model`` (a backbone, or a whole pose / segmentation model) in deploy mode, in
    place, and return it: eval mode, every BN that follows a conv folded (heads too), every
    Lite-HRNet block swapped for its inference implementation (:data:`DEPLOY_CLASSES`), and
    in each Lite-HRNet backbone 1x1 convs run as matrix products and ``channels_last``
    memory inside (see :class:`DeployedBackbone`). On a model already deployed, only sets
    ``channels_last``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f'model: expected an nn.Module, got {type(model).__name__}')
    if not isinstance(channels_last, bool):
        raise TypeError(f'channels_last: expected a bool, got {channels_last!r}')
    backbones = [m for m in model.modules() if isinstance(m, LiteHRNet)]
    model.eval()
    fuse_conv_bn(model)
    convert_blocks(model)  # our blocks anywhere (a backbone's, or a module used on its own)
    for backbone in backbones:
        if not isinstance(backbone, DeployedBackbone):
            PointwiseConv2d.convert(backbone)
            backbone.__class__ = deployed_class(type(backbone))
        backbone.deploy_channels_last = channels_last
    return model
