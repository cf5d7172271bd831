"""Lite-HRNet rewritten for graph runtimes (ONNX Runtime, OpenVINO): no channel shuffle, no
split, no transpose.

Every channel shuffle and half-split of the network is a fixed permutation of channels. The
graph tracks, per branch, which logical channel each physical slot holds (``perm``) and
folds it into the weights of whatever reads the branch next, so the data never moves:

* a dense conv reading a branch takes its weight columns in slot order (a slot it must
  not read gets a zero column), and may write its outputs in any slot order (rows);
* a depthwise conv, a per-channel weight, BN and activations keep the slot order;
* the conditional channel weighting runs over *all* slots of a branch instead of its
  second half: the slots of the untouched first half get a zero column in the weighting
  convs, a weight of exactly 1 (a saturated gate) and an identity depthwise kernel, so
  they pass through bit for bit; the shuffle afterwards only relabels the slots;
* a module's first weighting block leaves its gates unapplied: the second multiplies them
  into its (small) pooled branches and weights, so one full-resolution multiply applies both;
* a Naive Lite-HRNet shuffle unit writes its result into its slots with a mask;
* every branch, and the weighting convs' hidden layers, are padded with dead slots (zero
  weights, always zero) to a multiple of ``align`` channels (16: ONNX Runtime's NCHWc block
  on AVX-512, a multiple of AVX2's 8), so that ONNX Runtime keeps its blocked layout
  through every op: the widths of Lite-HRNet-18 are 40 / 80 / 160 / 320, 40 becomes 48.

Twice the channel-weighting arithmetic (it is memory-bound and cheap) buys a graph with
none of the 4-5 layout nodes per branch and block that the shuffle and split cost there.
Outputs equal the eval model's up to float rounding (sums in another order, as in
:mod:`.blocks`). Inference only; built from a copy, the model is left as it is.
"""
import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models import (ConditionalChannelWeighting, IterativeHead, LiteHRNet, MultiResolutionFusion,
                      ShuffleUnit, Stem, Transition)
from ..models.litehrnet import _check_input_size
from ..models.tensor_ops import avg_pool_to
from .blocks import _activation, _bias_of, _folded_conv, _unsupported
from .fold import fuse_conv_bn
from .slots import (GraphConv, Tensors, conv_chain, expand_halves, gated, identity_slots, shuffled,
                    slot_chain, slot_conv, up2, upsampled, width)

__all__ = ['GraphLiteHRNet', 'to_graph']


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
        pairs = conv_chain(m, m.branch2)
        if pairs[-1][0].groups != 1 or not isinstance(pairs[-1][1], (nn.ReLU, nn.ReLU6)):
            raise _unsupported(m, 'a branch not ending in conv + ReLU')
        layers, p = [], torch.where(active, perm - h, -1)
        for conv, act in pairs[:-1]:
            layer, p = slot_conv(conv, act, p)
            layers.append(layer)
        last, act = pairs[-1]
        src = torch.where(active, perm - h, 0)
        mask = active.to(last.weight.dtype)
        w = last.weight.detach()[:, p.clamp(min=0)] * (p >= 0).view(1, -1, 1, 1).to(mask.dtype)
        layers.append(GraphConv(w[src] * mask.view(-1, 1, 1, 1), _bias_of(last)[src] * mask,
                                act=act))
        self.branch = nn.Sequential(*layers)
        self.register_buffer('keep', (1 - mask).view(1, -1, 1, 1).contiguous())
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


class GraphLiteHRNet(nn.Module):
    """A Lite-HRNet / Naive Lite-HRNet backbone (BN folded) as a shuffle-free graph, with
    the backbone's outputs (``out_indices``, channels in their logical order)."""

    def __init__(self, backbone: LiteHRNet, align: int = 16) -> None:
        super().__init__()
        self.align = align
        self.size_divisor, self.out_indices = backbone.size_divisor, backbone.out_indices
        self.owner = type(backbone).__name__
        stem: Stem = backbone.stem
        image = identity_slots(stem.conv1.conv.in_channels)
        self.stem_conv, perm = slot_chain(stem, stem.conv1, image)
        half = width(perm) // 2
        first = torch.where(perm < half, perm, -1)
        second = torch.where(perm >= half, perm - half, -1)
        self.stem_branch1, p1 = slot_chain(stem, stem.branch1, first)
        self.stem_branch2, p2 = slot_chain(
            stem, nn.Sequential(stem.expand_conv, stem.depthwise_conv, stem.linear_conv), second)
        perms = [torch.cat([2 * p1, 2 * p2 + 1])]
        self.stages = nn.ModuleList()
        for i in range(backbone.num_stages):
            stage, perms = self._stage(getattr(backbone, f'transition{i}'),
                                       getattr(backbone, f'stage{i}'), perms, align)
            self.stages.append(stage)
        self.head = None
        if backbone.with_head:
            self.head = GraphHead(backbone.head_layer, perms)
            perms = self.head.perms
        for k, perm in enumerate(perms):  # outputs in logical order: a gather where needed
            order = torch.argsort(torch.where(perm < 0, len(perm), perm))[:width(perm)]
            self.register_buffer(f'order{k}', order if not torch.equal(
                order, torch.arange(len(perm))) else torch.empty(0, dtype=torch.long))

    @staticmethod
    def _stage(transition: Transition, modules: nn.Sequential, perms: List[Tensor],
               align: int) -> Tuple[nn.ModuleList, List[Tensor]]:
        layers = nn.ModuleList()
        trans, new = nn.ModuleList(), []
        for i, layer in enumerate(transition):
            src = perms[min(i, len(perms) - 1)]
            if isinstance(layer, nn.Identity):
                trans.append(nn.Identity())
                new.append(src)
            else:
                out = conv_chain(transition, layer)[-1][0].out_channels
                t, perm = slot_chain(transition, layer, src, identity_slots(out, align))
                trans.append(t)
                new.append(perm)
        layers.append(trans)
        perms = new
        for module in modules:
            if not module.multiscale_output:
                raise _unsupported(module, 'multiscale_output=False')
            blocks = nn.ModuleList()
            if module.module_type == 'LITE':
                for k, block in enumerate(module.layers):
                    g = GraphWeighting(block, perms, align)
                    g.lazy = k + 1 < len(module.layers)
                    perms = g.perms
                    blocks.append(g)
            else:
                units = []
                for k, seq in enumerate(module.layers):
                    chain = []
                    for unit in seq:
                        g = GraphShuffleUnit(unit, perms[k])
                        perms[k] = g.perm
                        chain.append(g)
                    units.append(nn.Sequential(*chain))
                blocks.append(_PerBranch(units))
            if module.fuse_layers is not None:
                blocks.append(GraphFusion(module.fuse_layers, perms, module.relu))
            layers.append(blocks)
        return layers, perms

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        _check_input_size(x, self.size_divisor, self.owner)
        x = self.stem_conv(x)
        y = [torch.cat([self.stem_branch1(x), self.stem_branch2(x)], dim=1)]
        for stage in self.stages:
            y = [t(y[min(i, len(y) - 1)]) for i, t in enumerate(stage[0])]
            for blocks in stage[1:]:
                gates = None
                for block in blocks:
                    if isinstance(block, GraphWeighting):
                        y, gates = block(y, gates)
                    else:
                        y = block(y)
        if self.head is not None:
            y = self.head(y)
        outs = []
        for i in self.out_indices:
            order = getattr(self, f'order{i}')
            outs.append(y[i] if order.numel() == 0 else y[i].index_select(1, order))
        return tuple(outs)


class _PerBranch(nn.ModuleList):
    """One module per branch (the naive units)."""

    def forward(self, x: Tensors) -> Tensors:
        return [m(s) for m, s in zip(self, x)]


@torch.no_grad()
def to_graph(model: nn.Module, align: int = 16) -> nn.Module:
    """A copy of ``model`` (a backbone, or a pose / segmentation model holding one) in
    eval mode with BN folded and every Lite-HRNet backbone replaced by its
    :class:`GraphLiteHRNet`: the model to export for ONNX Runtime and OpenVINO.
    ``model`` must not have been switched to deploy mode (its fusion weights are
    rewritten there). ``align``: channel multiple of every branch (see the module
    docstring; 1: no padding)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f'model: expected an nn.Module, got {type(model).__name__}')
    if isinstance(align, bool) or not isinstance(align, int) or align < 1:
        raise ValueError(f'align: expected a positive int, got {align!r}')
    if any(getattr(m, 'deploy', False) is True for m in model.modules()
           if isinstance(m, LiteHRNet)):
        raise ValueError('model: already switched to deploy mode; pass the eval-mode model '
                         '(to_graph folds BN itself)')
    model = copy.deepcopy(model).eval()
    fuse_conv_bn(model)
    if isinstance(model, LiteHRNet):
        return GraphLiteHRNet(model, align).eval()
    for name, m in list(model.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, LiteHRNet):
                setattr(m, child_name, GraphLiteHRNet(child, align).eval())
    return model.eval()
