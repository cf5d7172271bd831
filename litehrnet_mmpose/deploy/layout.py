"""channels_last kernels of the deployed blocks.

Each op takes NCHW-shaped tensors of any strides and gives the NCHW formula's values; on
channels_last input (or a channel slice of it, which is what the blocks pass) it runs a
kernel for that layout and returns channels_last, so that the whole deployed backbone stays
in the layout where CPU depthwise convs are 1.5-3x faster. Otherwise, and always while a
graph is recorded, it is the model's own op (:mod:`litehrnet_mmpose.models.tensor_ops`).
``out`` writes the result into a tensor nobody else reads (the fusion's sums), sparing a
full-resolution buffer.
"""
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models import tensor_ops

__all__ = [
    'PointwiseConv2d', 'add_double_upsampled', 'add_upsampled', 'cat_shuffle',
    'is_channels_last', 'mul_upsampled', 'pointwise_conv'
]


def is_channels_last(x: Tensor) -> bool:
    """Whether ``x`` (N, C, H, W) keeps its channels innermost in memory: channels_last, or
    a channel slice of such a tensor. False while tracing, so graphs stay NCHW."""
    return (x.dim() == 4 and x.stride(1) == 1 and x.shape[1] > 1
            and x.shape[2] * x.shape[3] > 1 and not torch.jit.is_tracing())


def pointwise_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """``F.conv2d(x, weight, bias)`` for a 1x1 ``weight``; on channels_last input, one matrix
    product over the pixels (CPU convolution would copy it to NCHW and back)."""
    if is_channels_last(x):
        return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias).permute(0, 3, 1, 2)
    return F.conv2d(x, weight, bias)


class PointwiseConv2d(nn.Conv2d):
    """A 1x1, stride-1 ``nn.Conv2d`` that runs through :func:`pointwise_conv` (same
    parameters and state-dict keys: deploy switches plain 1x1 convs to it in place)."""

    def forward(self, x: Tensor) -> Tensor:
        return pointwise_conv(x, self.weight, self.bias)

    @staticmethod
    def convert(module: nn.Module) -> None:
        """Switch every plain 1x1 / stride-1 / unpadded / ungrouped ``nn.Conv2d`` inside
        ``module`` to this class, in place (it adds no state)."""
        for m in module.modules():
            if (type(m) is nn.Conv2d and m.kernel_size == (1, 1) and m.stride == (1, 1)
                    and m.padding == (0, 0) and m.dilation == (1, 1) and m.groups == 1):
                m.__class__ = PointwiseConv2d


def _interleave_last(a: Tensor, b: Tensor) -> Tensor:
    """``torch.stack((a, b), -1).flatten(-2)``: alternate the last-axis entries of ``a`` and
    ``b``. For float32/64, as the (real, imaginary) pairs of a complex tensor, one vectorised
    pass (2-3x faster on CPU than copying or stacking into stride-2 slots)."""
    if a.dtype in (torch.float32, torch.float64) and b.dtype == a.dtype:
        return torch.view_as_real(torch.complex(a, b)).flatten(-2)
    return torch.stack((a, b), dim=-1).flatten(-2)


def cat_shuffle(a: Tensor, b: Tensor) -> Tensor:
    """:func:`~litehrnet_mmpose.models.tensor_ops.cat_shuffle`: in channels_last, output
    channel ``2k`` is ``a[k]`` and ``2k + 1`` is ``b[k]``, paired innermost."""
    if is_channels_last(a):
        return _interleave_last(a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    return tensor_ops.cat_shuffle(a, b)


def _upsampled_op(x: Tensor, w: Tensor, op: Callable[..., Tensor],
                  out: Optional[Tensor]) -> Tensor:
    """``op(x, nearest_upsample(w, x.shape))``, written into ``x`` when ``out`` is ``x``."""
    assert out is None or out is x
    b, c, h, wd = x.shape
    hw, ww = w.shape[-2:]
    if h % hw or wd % ww:
        return op(x, F.interpolate(w, size=(h, wd), mode='nearest'))
    if torch.jit.is_tracing():  # graphs (ONNX): one Resize node with constant scales
        return op(x, F.interpolate(w, scale_factor=(float(h // hw), float(wd // ww)),
                                   mode='nearest'))
    if is_channels_last(x):
        # channels are the contiguous inner loop: broadcast w over both block axes
        ky, kx = h // hw, wd // ww
        xv = x.permute(0, 2, 3, 1).unflatten(2, (ww, kx)).unflatten(1, (hw, ky))
        res = x.new_empty(b, hw, ky, ww, kx, c) if out is None else xv
        op(xv, w.permute(0, 2, 3, 1)[:, :, None, :, None], out=res)
        return x if out is not None else res.view(b, h, wd, c).permute(0, 3, 1, 2)
    xv, wv = tensor_ops.upsampled_views(x, w)
    res = op(xv, wv, out=None if out is None else xv)
    return x if out is not None else res.view(b, c, h, wd)


def mul_upsampled(x: Tensor, w: Tensor) -> Tensor:
    """``x * nearest_upsample(w, x.shape)``."""
    return _upsampled_op(x, w, torch.mul, None)


def add_upsampled(x: Tensor, w: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """``x + nearest_upsample(w, x.shape)``; ``out`` may only be ``x`` (in place)."""
    return _upsampled_op(x, w, torch.add, out)


def _add_twice(a: Tensor, b: Tensor, out: Optional[Tensor] = None) -> Tensor:
    return torch.add(b, a, alpha=2, out=out)


def add_double_upsampled(x: Tensor, w: Tensor, out: Optional[Tensor] = None) -> Tensor:
    """``x + x + nearest_upsample(w, x.shape)`` in one op, bit for bit: ``x + x == 2 * x``
    is exact, so ``w + 2 * x`` rounds once, as the sum does."""
    return _upsampled_op(x, w, _add_twice, out)


for _fn in ('cat_shuffle', 'pointwise_conv', 'mul_upsampled', 'add_upsampled',
            'add_double_upsampled'):
    torch.fx.wrap(_fn)
