"""The blocks of :mod:`.graph`: Lite-HRNet's parts over slotted branches (:mod:`.slots`)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models import ConditionalChannelWeighting, IterativeHead, MultiResolutionFusion, ShuffleUnit
from ..models.tensor_ops import avg_pool_to
from .blocks import _activation, _bias_of, _folded_conv, _unsupported
from .slots import (GraphConv, Tensors, conv_chain, expand_halves, gated, shuffled, slot_chain,
                    slot_conv, up2, upsampled, width)

__all__ = ['GraphFusion', 'GraphHead', 'GraphShuffleUnit', 'GraphWeighting']


class GraphWeighting(nn.Module):
    """:class:`ConditionalChannelWeighting` over all slots of every branch (see the module
    docstring): pool, a conv across branches, per-branch convs giving each branch its
    weights (no split), upsampled multiply and depthwise conv; the spatial weightings of
    all branches as one conv over the concatenated pooled branches, then per-branch convs
    giving the gates, each upsampled to its branch (an equal-shape multiply, which ONNX
    Runtime keeps in its blocked layout; a broadcast one it does not)."""

    def __init__(self, m: ConditionalChannelWeighting, perms: Sequence[Tensor],
                 align: int = 1) -> None:
        super().__init__()
        if m.stride != 1:
            raise _unsupported(m, f'stride {m.stride}')
        crw, sws = m.cross_resolution_weighting, list(m.spatial_weighting)
        halves = crw.channels
        widths = [len(p) for p in perms]
        offsets = [sum(widths[:k]) for k in range(len(widths) + 1)]
        self.acts = nn.ModuleList([
            _activation(m, [crw.conv1]), gated(m, _activation(m, [crw.conv2])),
            _activation(m, [s.conv1 for s in sws]),
            gated(m, _activation(m, [s.conv2 for s in sws]))])
        c1, c2 = _folded_conv(m, crw.conv1), _folded_conv(m, crw.conv2)
        s1 = [_folded_conv(m, s.conv1) for s in sws]
        s2 = [_folded_conv(m, s.conv2) for s in sws]
        # the spatial weightings of all branches as one block-diagonal conv pair
        sw1 = (torch.block_diag(*[c.weight.flatten(1) for c in s1])[..., None, None],
               torch.cat([_bias_of(c) for c in s1]))
        sw2 = (torch.block_diag(*[c.weight.flatten(1) for c in s2])[..., None, None],
               torch.cat([_bias_of(c) for c in s2]))
        self.crw1 = GraphConv(*expand_halves(c1.weight, _bias_of(c1), perms, halves, False, align),
                              act=self.acts[0])
        self.sw1 = GraphConv(*expand_halves(*sw1, perms, halves, False, align), act=self.acts[2])
        self.crw2 = _per_branch(expand_halves(c2.weight, _bias_of(c2), perms, halves, True,
                                              align), offsets, self.acts[1])
        self.sw2 = _per_branch(expand_halves(*sw2, perms, halves, True, align), offsets,
                               self.acts[3])
        dws = []
        for perm, h, dw in zip(perms, halves, m.depthwise_convs):
            conv = _folded_conv(m, dw)
            active = perm >= h
            src = torch.where(active, perm - h, 0)
            eye = torch.zeros_like(conv.weight[:1])
            eye[..., conv.kernel_size[0] // 2, conv.kernel_size[1] // 2] = 1
            w = torch.where(active.view(-1, 1, 1, 1), conv.weight[src], eye)
            dws.append(GraphConv(w, _bias_of(conv)[src] * active, conv.stride[0],
                                 conv.padding[0], len(perm)))
        self.dws = nn.ModuleList(dws)
        self.perms = [shuffled(p) for p in perms]

    #: Return the gates unapplied (``(y, gates)``, value ``y * gates``) for the next block
    #: to fold into its weights; set on every block but a module's last (the fusion needs
    #: the values).
    lazy: bool = False

    def forward(self, x: Tensors,
                gates: Optional[Tensors] = None) -> Tuple[Tensors, Optional[Tensors]]:
        """The block on branches ``x`` (times ``gates`` if given: the previous block's,
        folded here into the pooled branches and the weights, so that one full-resolution
        multiply applies both); returns the branches, and the gates when :attr:`lazy`."""
        mini = x[-1].shape[-2:]
        pooled = [avg_pool_to(s, mini) for s in x[:-1]] + [x[-1]]
        small = None if gates is None else [upsampled(g, p) for g, p in zip(gates, pooled)]
        if small is not None:  # pool(x * g) == pool(x) * g: the gate is constant per channel
            pooled = [p * g for p, g in zip(pooled, small)]
        hidden = self.crw1(torch.cat(pooled, dim=1))
        y = []
        for k, (s, conv, dw) in enumerate(zip(x, self.crw2, self.dws)):
            w = conv(hidden) if small is None else conv(hidden) * small[k]
            y.append(dw(s * upsampled(w, s)))
        hidden = self.sw1(torch.cat([F.adaptive_avg_pool2d(t, 1) for t in y], dim=1))
        out = [conv(hidden) for conv in self.sw2]
        if self.lazy:
            return y, out
        return [t * upsampled(g, t) for t, g in zip(y, out)], None


def _per_branch(weights: Tuple[Tensor, Tensor], offsets: Sequence[int],
                act: nn.Module) -> nn.ModuleList:
    """A 1x1 conv's rows cut into one conv per branch (``offsets``: the branches' first
    slots): each branch gets its weights from its own conv, with no Split node."""
    w, b = weights
    return nn.ModuleList([GraphConv(w[a:z], b[a:z], act=act)
                          for a, z in zip(offsets, offsets[1:])])


class GraphShuffleUnit(nn.Module):
    """Naive Lite-HRNet's stride-1 :class:`ShuffleUnit` in place over all slots: its branch
    reads the second half's slots and writes them (zero elsewhere, then ReLU), the first
    half's slots are kept by a 0/1 mask: ``relu(branch(x)) + x * keep``."""

    def __init__(self, m: ShuffleUnit, perm: Tensor) -> None:
        super().__init__()
        if m.stride != 1:
            raise _unsupported(m, f'stride {m.stride}')
        h = width(perm) // 2
        active = perm >= h
        if not isinstance(conv_chain(m, m.branch2)[-1][1], (nn.ReLU, nn.ReLU6)):
            raise _unsupported(m, 'a branch not ending in conv + ReLU')
        # reads the second half's slots, writes them (dead rows, zero, elsewhere)
        half = torch.where(active, perm - h, -1)
        self.branch = slot_chain(m, m.branch2, half, half)[0]
        keep = (~active).to(self.branch[-1].weight.dtype)
        self.register_buffer('keep', keep.view(1, -1, 1, 1).contiguous())
        self.perm = shuffled(perm)

    def forward(self, x: Tensor) -> Tensor:
        return self.branch(x) + x * self.keep


class GraphFusion(nn.Module):
    """:class:`MultiResolutionFusion` with the deployed fusion's sum order (lower branches
    summed lowest first at their own resolutions, so each output gets one upsampled term;
    ``f_i0`` doubled in its weights), its convs reading and writing the branches' slot
    orders, one conv per term (no split); then the module's ReLU."""

    def __init__(self, m: MultiResolutionFusion, perms: Sequence[Tensor],
                 relu: nn.Module) -> None:
        super().__init__()
        n, outs = len(perms), len(m)
        self.relu = relu
        low = []
        for i in range(outs):
            row = []
            for j in range(i + 1, n):
                conv, norm, up = m[i][j]
                if not isinstance(norm, nn.Identity):
                    raise _unsupported(m, f'norm layer {type(norm).__name__}: only BN folds')
                if up.mode != 'nearest' or float(up.scale_factor) != 2.0**(j - i):
                    raise _unsupported(m, f'upsampling {up!r}')
                row.append(slot_conv(_folded_conv(m, conv), None, perms[j], perms[i])[0])
            low.append(nn.ModuleList(row))
        self.low = nn.ModuleList(low)
        self.down = nn.ModuleList([
            nn.ModuleList([
                slot_chain(m, m[i][j], perms[j], perms[i], 2.0 if j == 0 else 1.0)[0]
                for j in range(i)
            ]) for i in range(outs)
        ])

    def forward(self, x: Tensors) -> Tensors:
        fused: Tensors = []
        for i, (low, down) in enumerate(zip(self.low, self.down)):
            up = None
            for j in range(len(x) - 1, i, -1):
                t = low[j - i - 1](x[j])
                up = t if up is None else t + up2(up)
            y = x[0] + x[0] if i == 0 else down[0](fused[0])
            for j in range(1, i):
                y = y + down[j](x[j])
            if i > 0:
                y = y + x[i]
            fused.append(y if up is None else y + up2(up))
        return [self.relu(y) for y in fused]


class GraphHead(nn.Module):
    """:class:`IterativeHead`, each projection writing the slot order of the branch that
    adds it (identity for the highest-resolution output)."""

    def __init__(self, m: IterativeHead, perms: Sequence[Tensor]) -> None:
        super().__init__()
        rev = list(perms)[::-1]
        projects, self.perms = [], []
        for k, project in enumerate(m.projects):
            target = rev[k + 1] if k + 1 < len(rev) else None
            layer, perm = slot_chain(m, project, rev[k], target)
            projects.append(layer)
            self.perms.append(perm)
        self.projects = nn.ModuleList(projects)
        self.perms = self.perms[::-1]

    def forward(self, x: Tensors) -> Tensors:
        y: Tensors = []
        last: Optional[Tensor] = None
        for s, project in zip(x[::-1], self.projects):
            if last is not None:  # constant scales, not sizes: no shape arithmetic in graphs
                scale = (s.shape[-2] / last.shape[-2], s.shape[-1] / last.shape[-1])
                s = s + F.interpolate(last, scale_factor=tuple(float(k) for k in scale),
                                      mode='bilinear', align_corners=True)
            last = project(s)
            y.append(last)
        return y[::-1]
