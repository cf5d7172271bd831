"""Multi-resolution fusion: every output branch sums all input branches, each brought to
its resolution (HRNet's exchange unit, as Lite-HRNet's modules end)."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from .shuffle import RELU, depthwise_pointwise
from .tensor_ops import add_upsampled

Tensors = List[Tensor]

# opaque calls in torch.fx graphs, here too (fx.wrap patches the calling module's names)
for _fn in ('add_upsampled', ):
    torch.fx.wrap(_fn)


def call_with_double_bn_update(layer: nn.Module, x: Tensor) -> Tensor:
    """``layer(x)``, leaving every training-mode BN inside it with the running statistics
    that a second ``layer(x)`` would leave (the reference calls it twice), without the call.

    Both calls would normalise with the same batch statistics ``b``. The first updates
    ``r0`` to ``r1 = (1 - f1) * r0 + f1 * b``; the second would give ``r1 + c * (r1 - r0)``
    with ``c = 1 - momentum``, or ``c = (n1 - 1) / (n1 + 1)`` for a cumulative average
    (``momentum=None``, ``f = 1 / num_batches_tracked``, ``n1`` after the first update).
    Equal to the kernel's own update to float rounding (the parity test compares them).
    """
    bns = [m for m in layer.modules()
           if isinstance(m, _BatchNorm) and m.training and m.track_running_stats]
    before = [(m.running_mean.clone(), m.running_var.clone()) for m in bns]
    y = layer(x)
    with torch.no_grad():
        for m, (mean0, var0) in zip(bns, before):
            if m.momentum is None:
                n1 = float(m.num_batches_tracked)
                c = (n1 - 1) / (n1 + 1)
            else:
                c = 1 - m.momentum
            # Through ``.data``, as the BN kernel updates them: autograd saved these
            # buffers with the forward (its backward does not read their values).
            for r, r0 in ((m.running_mean.data, mean0), (m.running_var.data, var0)):
                r.add_(r - r0, alpha=c)
            m.num_batches_tracked.data.add_(1)
    return y


class MultiResolutionFusion(nn.ModuleList):
    """Fusion of ``len(in_channels)`` branches into ``num_outputs`` (the highest
    resolutions): ``self[i][j]`` brings branch ``j`` to output ``i``.

    * ``j > i`` (lower resolution): 1x1 conv, norm, nearest upsampling by ``2**(j - i)``.
    * ``j == i``: identity.
    * ``j < i`` (higher resolution): ``i - j`` stride-2 depthwise/pointwise pairs.

    A ``ModuleList`` of rows, so the state-dict keys are the reference's
    ``fuse_layers.i.j.*`` (the identities have no parameters). It returns the sums; the
    module applies the activation, as in HRNet.

    Args:
        in_channels: Channels of each branch, highest resolution first.
        num_outputs: Output branches (1, or all of them for multiscale output).
        conv_cfg / norm_cfg: Layer configs.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 num_outputs: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')) -> None:
        ch = list(in_channels)
        rows = []
        for i in range(num_outputs):
            row: List[nn.Module] = []
            for j in range(len(ch)):
                if j > i:
                    row.append(nn.Sequential(
                        build_conv_layer(conv_cfg, ch[j], ch[i], kernel_size=1, bias=False),
                        build_norm_layer(norm_cfg, ch[i])[1],
                        nn.Upsample(scale_factor=2**(j - i), mode='nearest')))
                elif j == i:
                    row.append(nn.Identity())
                else:
                    last = i - j - 1
                    row.append(nn.Sequential(*[
                        depthwise_pointwise(ch[j], ch[i] if k == last else ch[j], 2,
                                            None if k == last else RELU, conv_cfg, norm_cfg,
                                            flat=True) for k in range(i - j)
                    ]))
            rows.append(nn.ModuleList(row))
        super().__init__(rows)

    @staticmethod
    def add_lower(y: Tensor, layer: nn.Sequential, x: Tensor) -> Tensor:
        """``y + layer(x)`` for a lower-resolution term, the nearest upsampling done by
        :func:`~.tensor_ops.add_upsampled` (same values, nothing materialised), unless
        hooks watch the ``nn.Upsample`` (e.g. the paper-convention FLOP counter's): then
        it runs, so that they see it, and the sizes already match."""
        conv, norm, up = layer
        t = norm(conv(x))
        if up._forward_hooks or up._forward_pre_hooks:
            t = up(t)
        return add_upsampled(y, t)

    def forward(self, x: Tensors) -> Tensors:
        """The fused branches before their activation (the module applies it, after every
        output has read ``s0``), bit-compatible with the reference.

        The reference sums in place, ``y = x[0]; y += x[0]; y += f_0j(x[j])...``, so branch
        0 enters output 0 twice, and ``x[0]`` itself becomes that pre-ReLU sum ``s0``, which
        every lower-resolution output then receives from branch 0, also twice
        (``f_i0(s0) + f_i0(s0)``). The released weights were trained with this, so it is
        kept (dropping the double terms costs 0.5-1 AP with them). ``a + a == 2 * a`` is
        exact, so ``f_i0`` runs once and is doubled; in training the reference's second
        call matters only for its BN running statistics, which
        :func:`call_with_double_bn_update` applies in closed form.
        """
        n = len(x)
        s0 = x[0] + x[0]
        for j in range(1, n):
            s0 = self.add_lower(s0, self[0][j], x[j])
        fused = [s0]
        for i in range(1, len(self)):
            down = self[i][0]
            a = call_with_double_bn_update(down, s0) if self.training else down(s0)
            y = a + a
            for j in range(1, n):
                y = self.add_lower(y, self[i][j], x[j]) if j > i else y + self[i][j](x[j])
            fused.append(y)
        return fused
