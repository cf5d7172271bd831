"""Slot bookkeeping for :mod:`.graph`: a branch tensor's physical channel ``s`` (its slot)
holds logical channel ``perm[s]`` (-1: a dead slot, always zero, padding the width to a
multiple of the runtimes' channel block). The helpers fold a perm into the weights of the
conv that reads or writes the branch, so that shuffles and splits move no data."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .blocks import _bias_of, _folded_conv, _unsupported

Tensors = List[Tensor]
#: Pre-activation bias of a gate that must be exactly 1 (sigmoid(100) == 1.0 in float32).
SATURATE = 100.0


class GraphConv(nn.Module):
    """A conv with its (folded, permuted) weights and an optional parameter-free
    activation: one Conv node, which the runtimes fuse with the activation."""

    def __init__(self, weight: Tensor, bias: Tensor, stride: int = 1, padding: int = 0,
                 groups: int = 1, act: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.register_buffer('weight', weight.detach().clone().contiguous())
        self.register_buffer('bias', bias.detach().clone().contiguous())
        self.stride, self.padding, self.groups = stride, padding, groups
        self.act = act if act is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1,
                                 self.groups))


def identity_slots(n: int, align: int = 1) -> Tensor:
    """Slots 0..n-1 holding channels 0..n-1, then dead slots (-1, always zero) up to a
    multiple of ``align``."""
    pad = -n % align
    return torch.cat([torch.arange(n), torch.full((pad, ), -1, dtype=torch.long)])


def width(perm: Tensor) -> int:
    """Channels (live slots) of a branch."""
    return int((perm >= 0).sum())


def conv_chain(owner: nn.Module, seq: nn.Module) -> List[Tuple[nn.Conv2d, Optional[nn.Module]]]:
    """The (folded conv, activation) pairs of a sequence of layers or ConvModules."""
    chain: List[Tuple[nn.Conv2d, Optional[nn.Module]]] = []
    for m in seq.modules():
        if next(m.children(), None) is not None:
            if hasattr(m, 'order') and tuple(m.order) != ('conv', 'norm', 'act'):
                raise _unsupported(owner, f'ConvModule order {m.order}')
            continue
        if isinstance(m, nn.Conv2d):
            chain.append((_folded_conv(owner, m), None))
        elif isinstance(m, (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Hardsigmoid, nn.SiLU)):
            if not chain or chain[-1][1] is not None:
                raise _unsupported(owner, f'activation {m!r} not after a conv')
            chain[-1] = (chain[-1][0], m)
        elif not isinstance(m, nn.Identity):
            raise _unsupported(owner, f'layer {type(m).__name__}')
    return chain


def slot_conv(conv: nn.Conv2d, act: Optional[nn.Module], in_perm: Tensor,
              out_perm: Optional[Tensor] = None, scale: float = 1.0) -> Tuple[GraphConv, Tensor]:
    """``conv`` reading a tensor whose slot ``s`` holds channel ``in_perm[s]`` (-1: a slot
    it must not read). Dense: weight columns in slot order, outputs in ``out_perm``'s order
    (default: identity). Depthwise: outputs stay in the input's slots (-1 slots give 0).
    Returns the conv and its output's perm."""
    w, b = conv.weight.detach() * scale, _bias_of(conv) * scale
    stride, padding = conv.stride[0], conv.padding[0]
    if conv.stride[0] != conv.stride[1] or conv.padding[0] != conv.padding[1] or any(
            d != 1 for d in conv.dilation) or conv.padding_mode != 'zeros':
        raise _unsupported(conv, f'conv {conv!r}')
    valid = in_perm >= 0
    src = in_perm.clamp(min=0)
    if conv.groups == 1:
        cols = w[:, src] * valid.view(1, -1, 1, 1).to(w.dtype)
        out_perm = identity_slots(w.shape[0]) if out_perm is None else out_perm
        rows, live = out_perm.clamp(min=0), (out_perm >= 0).to(w.dtype)
        return (GraphConv(cols[rows] * live.view(-1, 1, 1, 1), b[rows] * live, stride, padding,
                          1, act), out_perm)
    if conv.groups == conv.in_channels == conv.out_channels and out_perm is None:
        mask = valid.to(w.dtype)
        return (GraphConv(w[src] * mask.view(-1, 1, 1, 1), b[src] * mask, stride, padding,
                          len(in_perm), act), in_perm)
    raise _unsupported(conv, f'grouped conv {conv!r}')


def slot_chain(owner: nn.Module, seq: nn.Module, in_perm: Tensor,
               out_perm: Optional[Tensor] = None,
               scale: float = 1.0) -> Tuple[nn.Sequential, Tensor]:
    """A conv chain reading ``in_perm`` slots; its last conv writes ``out_perm`` order and
    is scaled by ``scale`` (exact for powers of two)."""
    pairs = conv_chain(owner, seq)
    layers, perm = [], in_perm
    for k, (conv, act) in enumerate(pairs):
        last = k == len(pairs) - 1
        if last and conv.groups != 1:
            raise _unsupported(owner, 'a chain ending in a depthwise conv')
        layer, perm = slot_conv(conv, act, perm, out_perm if last else None,
                                scale if last else 1.0)
        layers.append(layer)
    return nn.Sequential(*layers), perm


def shuffled(perm: Tensor) -> Tensor:
    """The slots' channels after ``cat_shuffle(first half, second half)`` of a branch: the
    first half's channel ``k`` becomes ``2k``, the second half's ``k`` becomes ``2k + 1``."""
    half = width(perm) // 2
    return torch.where(perm < 0, perm, torch.where(perm < half, 2 * perm, 2 * (perm - half) + 1))


def gated(owner: nn.Module, act: nn.Module) -> nn.Module:
    """``act``, checked to saturate at exactly 1 (the pass-through slots' gate)."""
    if act(torch.tensor([SATURATE])).item() != 1.0:
        raise _unsupported(owner, f'gate activation {act!r} (it must reach exactly 1)')
    return act


def expand_halves(w: Tensor, b: Tensor, perms: Sequence[Tensor], halves: Sequence[int],
                  rows: bool, align: int) -> Tuple[Tensor, Tensor]:
    """Weights of a squeeze-excitation 1x1 conv over the second halves of the branches,
    re-laid over all slots: the reducing conv's columns (``rows=False``; its hidden units
    padded with dead ones to a multiple of ``align``) or the expanding conv's rows, with a
    saturating bias on the slots it leaves alone (``rows=True``; dead hidden columns)."""
    index, active = [], []
    for perm, h, off in zip(perms, halves, [sum(halves[:k]) for k in range(len(halves))]):
        index.append(torch.where(perm >= h, perm - h + off, 0))
        active.append(perm >= h)
    index_t, active_t = torch.cat(index), torch.cat(active).to(w.dtype)
    pad = -w.shape[0 if not rows else 1] % align
    if not rows:
        w, b = F.pad(w, (0, 0, 0, 0, 0, 0, 0, pad)), F.pad(b, (0, pad))
        return w[:, index_t] * active_t.view(1, -1, 1, 1), b
    w = F.pad(w, (0, 0, 0, 0, 0, pad))
    return (w[index_t] * active_t.view(-1, 1, 1, 1),
            b[index_t] * active_t + SATURATE * (1 - active_t))


def upsampled(w: Tensor, like: Tensor) -> Tensor:
    """``w`` nearest-upsampled to ``like``'s size by constant integer scales (one Resize
    node in a graph)."""
    scale = (float(like.shape[-2] // w.shape[-2]), float(like.shape[-1] // w.shape[-1]))
    if scale == (1.0, 1.0):
        return w
    return F.interpolate(w, scale_factor=scale, mode='nearest')


def up2(x: Tensor) -> Tensor:
    """Nearest upsampling by 2 (the fusion's, one step)."""
    return F.interpolate(x, scale_factor=(2.0, 2.0), mode='nearest')
