"""Bit-exact tensor ops of the training and eval forward, in one place.

Each computes exactly what its docstring's plain formula computes, bit for bit, only faster
on CPU (fewer copies); the blocks call them by name so that they read as the paper. While
a graph is recorded (jit trace, ONNX export, torch.fx, torch.export) they record the plain
formula or a form ONNX Runtime runs well: graphs stay NCHW and free of shape arithmetic.
"""
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from mmpose.models.backbones.utils import channel_shuffle
from torch import Tensor

__all__ = ['avg_pool_to', 'cat_shuffle', 'channel_shuffle', 'is_tracing', 'mul_upsampled',
           'add_upsampled', 'upsampled_views']


def is_tracing() -> bool:
    """Whether the forward is being recorded (jit, torch.fx symbolic, ONNX, torch.export)."""
    return (torch.jit.is_tracing() or torch.fx._symbolic_trace.is_fx_symbolic_tracing()
            or torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting())


def cat_shuffle(a: Tensor, b: Tensor) -> Tensor:
    """``channel_shuffle(torch.cat((a, b), 1), 2)`` in one copy instead of two.

    Shuffling two groups interleaves them channel by channel (output ``2k`` is ``a[k]``,
    ``2k + 1`` is ``b[k]``): a stack on a new axis after the channels.
    """
    if torch.onnx.is_in_onnx_export():  # ONNX Runtime runs the plain form faster
        return channel_shuffle(torch.cat((a, b), dim=1), 2)
    return torch.stack((a, b), dim=2).flatten(1, 2)


def upsampled_views(x: Tensor, w: Tensor) -> tuple:
    """``(xv, wv)``: views of ``x`` (N, C, H, W) and of a lower-resolution ``w`` such that
    ``op(xv, wv)`` is ``op(x, nearest_upsample(w, x.shape))`` split into blocks, element
    for element; ``None`` when ``x``'s size is not an integer multiple of ``w``'s.

    Nearest upsampling by ``ky x kx`` repeats each value over a block: ``w`` is repeated
    along the width only (a copy at its own, lower, height) and broadcast over the ``ky``
    rows of ``x`` with contiguous inner rows, far faster on CPU than ``F.interpolate`` or a
    6-d broadcast whose innermost loop is only ``kx`` long.
    """
    b, c, h, wd = x.shape
    hw, ww = w.shape[-2:]
    if h % hw or wd % ww:
        return None
    ky, kx = h // hw, wd // ww
    if kx > 1:
        w = w.unsqueeze(-1).expand(b, c, hw, ww, kx).reshape(b, c, hw, wd)
    return x.view(b, c, hw, ky, wd), w.unsqueeze(3)  # splitting an axis: a view, any strides


def _upsampled_op(x: Tensor, w: Tensor, op: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """``op(x, nearest_upsample(w, x.shape))`` without materialising the upsampled ``w``."""
    h, wd = x.shape[-2:]
    if torch.onnx.is_in_onnx_export():
        # ONNX Runtime's Resize is fast, while the views become many small nodes there;
        # constant integer scales (not sizes computed from shapes) keep it one node.
        hw, ww = w.shape[-2:]
        if not (h % hw or wd % ww):
            return op(x, F.interpolate(w, scale_factor=(float(h // hw), float(wd // ww)),
                                       mode='nearest'))
    views = upsampled_views(x, w)
    if views is None:
        return op(x, F.interpolate(w, size=(h, wd), mode='nearest'))
    return op(*views).view(x.shape)


def mul_upsampled(x: Tensor, w: Tensor) -> Tensor:
    """``x * nearest_upsample(w, x.shape)`` (see :func:`upsampled_views`)."""
    return _upsampled_op(x, w, torch.mul)


def add_upsampled(x: Tensor, w: Tensor) -> Tensor:
    """``x + nearest_upsample(w, x.shape)`` (see :func:`upsampled_views`)."""
    return _upsampled_op(x, w, torch.add)


def avg_pool_to(x: Tensor, size: Sequence[int]) -> Tensor:
    """``F.adaptive_avg_pool2d(x, size)``; as a fixed-kernel ``avg_pool2d`` when ``size``
    divides ``x``'s (the same values, bit for bit).

    The sizes are taken as Python ints, so a traced / ONNX graph gets a static kernel
    (ONNX has no adaptive pooling to arbitrary sizes); only the batch axis stays dynamic.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    oh, ow = int(size[0]), int(size[1])
    if h % oh or w % ow:
        return F.adaptive_avg_pool2d(x, (oh, ow))
    return F.avg_pool2d(x, (h // oh, w // ow))


# Shape-dependent ops are opaque calls in torch.fx graphs (symbolic tracing cannot branch
# on, or unpack, a traced shape); jit tracing and ONNX export see through them.
for _fn in ('cat_shuffle', 'mul_upsampled', 'add_upsampled', 'avg_pool_to'):
    torch.fx.wrap(_fn)
