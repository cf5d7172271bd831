"""BatchNorm folding: mmcv's ``fuse_conv_bn``, behind the checks it leaves out."""
import mmcv.cnn
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


def fuse_conv_bn(module: nn.Module) -> int:
    """Fold, in place, every BN that directly follows a conv inside ``module`` (mmcv's
    ``fuse_conv_bn``: the conv gets the folded weight and bias, the BN becomes an
    ``nn.Identity``, so every other layer keeps its index). Returns the number folded.

    A thin adapter, because mmcv's fold would silently fold training-mode statistics and
    fail on a non-affine BN, and mmcv folds a ConvModule's norm into its conv whatever its
    ``order``; these are refused here with an error naming the layer.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f'module: expected an nn.Module, got {type(module).__name__}')
    bns = [(name, m) for name, m in module.named_modules() if isinstance(m, _BatchNorm)]
    for name, bn in bns:
        if bn.training:
            raise ValueError(f'module: BN layer {name!r} is in training mode; call .eval() '
                             'before folding')
        if not bn.affine or not bn.track_running_stats:
            raise ValueError(f'module: BN layer {name!r} is not affine with running '
                             'statistics (norm_cfg affine=False or track_running_stats='
                             'False): deploy cannot fold it')
    for name, m in module.named_modules():
        order = list(getattr(m, 'order', ()))
        if isinstance(m, mmcv.cnn.ConvModule) and m.with_norm and order.index(
                'norm') < order.index('conv'):
            raise ValueError(f'module: ConvModule {name!r} normalises before its conv '
                             f'(order={m.order}): deploy cannot fold it')
    with torch.no_grad():
        mmcv.cnn.fuse_conv_bn(module)
    remaining = {id(m) for m in module.modules()}
    return sum(1 for _, bn in bns if id(bn) not in remaining)
