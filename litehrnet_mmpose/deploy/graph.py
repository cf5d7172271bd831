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
* a Naive Lite-HRNet shuffle unit writes its result into its slots with a mask.

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

from ..models import (ConditionalChannelWeighting, IterativeHead, LiteHRModule, LiteHRNet,
                      MultiResolutionFusion, ShuffleUnit, Stem, Transition)
from ..models.litehrnet import _check_input_size
from ..models.tensor_ops import avg_pool_to
from .blocks import _activation, _bias_of, _folded_conv, _unsupported
from .fold import fuse_conv_bn

__all__ = ['GraphLiteHRNet', 'to_graph']

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


def _identity(n: int, align: int = 1) -> Tensor:
    """Slots 0..n-1 holding channels 0..n-1, then dead slots (-1, always zero) up to a
    multiple of ``align``."""
    pad = -n % align
    return torch.cat([torch.arange(n), torch.full((pad, ), -1, dtype=torch.long)])


def _width(perm: Tensor) -> int:
    """Channels (live slots) of a branch."""
    return int((perm >= 0).sum())


def _conv_chain(owner: nn.Module, seq: nn.Module) -> List[Tuple[nn.Conv2d, Optional[nn.Module]]]:
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


def _graph_conv(conv: nn.Conv2d, act: Optional[nn.Module], in_perm: Tensor,
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
        out_perm = _identity(w.shape[0]) if out_perm is None else out_perm
        rows, live = out_perm.clamp(min=0), (out_perm >= 0).to(w.dtype)
        return (GraphConv(cols[rows] * live.view(-1, 1, 1, 1), b[rows] * live, stride, padding,
                          1, act), out_perm)
    if conv.groups == conv.in_channels == conv.out_channels and out_perm is None:
        mask = valid.to(w.dtype)
        return (GraphConv(w[src] * mask.view(-1, 1, 1, 1), b[src] * mask, stride, padding,
                          len(in_perm), act), in_perm)
    raise _unsupported(conv, f'grouped conv {conv!r}')


def _chain(owner: nn.Module, seq: nn.Module, in_perm: Tensor, out_perm: Optional[Tensor] = None,
           scale: float = 1.0) -> Tuple[nn.Sequential, Tensor]:
    """A conv chain reading ``in_perm`` slots; its last conv writes ``out_perm`` order and
    is scaled by ``scale`` (exact for powers of two)."""
    pairs = _conv_chain(owner, seq)
    layers, perm = [], in_perm
    for k, (conv, act) in enumerate(pairs):
        last = k == len(pairs) - 1
        if last and conv.groups != 1:
            raise _unsupported(owner, 'a chain ending in a depthwise conv')
        layer, perm = _graph_conv(conv, act, perm, out_perm if last else None,
                                  scale if last else 1.0)
        layers.append(layer)
    return nn.Sequential(*layers), perm


def _shuffled(perm: Tensor) -> Tensor:
    """The slots' channels after ``cat_shuffle(first half, second half)`` of a branch: the
    first half's channel ``k`` becomes ``2k``, the second half's ``k`` becomes ``2k + 1``."""
    half = _width(perm) // 2
    return torch.where(perm < 0, perm, torch.where(perm < half, 2 * perm, 2 * (perm - half) + 1))


def _gated(owner: nn.Module, act: nn.Module) -> nn.Module:
    """``act``, checked to saturate at exactly 1 (the pass-through slots' gate)."""
    if act(torch.tensor([SATURATE])).item() != 1.0:
        raise _unsupported(owner, f'gate activation {act!r} (it must reach exactly 1)')
    return act


def _expand(w: Tensor, b: Tensor, perms: Sequence[Tensor], halves: Sequence[int],
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
            _activation(m, [crw.conv1]), _gated(m, _activation(m, [crw.conv2])),
            _activation(m, [s.conv1 for s in sws]),
            _gated(m, _activation(m, [s.conv2 for s in sws]))])
        c1, c2 = _folded_conv(m, crw.conv1), _folded_conv(m, crw.conv2)
        s1 = [_folded_conv(m, s.conv1) for s in sws]
        s2 = [_folded_conv(m, s.conv2) for s in sws]
        # the spatial weightings of all branches as one block-diagonal conv pair
        sw1 = (torch.block_diag(*[c.weight.flatten(1) for c in s1])[..., None, None],
               torch.cat([_bias_of(c) for c in s1]))
        sw2 = (torch.block_diag(*[c.weight.flatten(1) for c in s2])[..., None, None],
               torch.cat([_bias_of(c) for c in s2]))
        self.crw1 = GraphConv(*_expand(c1.weight, _bias_of(c1), perms, halves, False, align),
                              act=self.acts[0])
        self.sw1 = GraphConv(*_expand(*sw1, perms, halves, False, align), act=self.acts[2])
        convs = []
        for (w, b), act in (((_expand(c2.weight, _bias_of(c2), perms, halves, True, align)),
                             self.acts[1]), (_expand(*sw2, perms, halves, True, align),
                                             self.acts[3])):
            convs.append(nn.ModuleList([GraphConv(w[a:z], b[a:z], act=act)
                                        for a, z in zip(offsets, offsets[1:])]))
        self.crw2, self.sw2 = convs
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
        self.perms = [_shuffled(p) for p in perms]

    def forward(self, x: Tensors) -> Tensors:
        mini = x[-1].shape[-2:]
        hidden = self.crw1(torch.cat([avg_pool_to(s, mini) for s in x[:-1]] + [x[-1]], dim=1))
        y = []
        for s, conv, dw in zip(x, self.crw2, self.dws):
            y.append(dw(s * _upsampled(conv(hidden), s)))
        hidden = self.sw1(torch.cat([F.adaptive_avg_pool2d(t, 1) for t in y], dim=1))
        out = []
        for t, conv in zip(y, self.sw2):
            g = conv(hidden)
            out.append(t * _upsampled(g, t))
        return out


def _upsampled(w: Tensor, like: Tensor) -> Tensor:
    """``w`` nearest-upsampled to ``like``'s size by constant integer scales (one Resize
    node in a graph)."""
    scale = (float(like.shape[-2] // w.shape[-2]), float(like.shape[-1] // w.shape[-1]))
    if scale == (1.0, 1.0):
        return w
    return F.interpolate(w, scale_factor=scale, mode='nearest')


class GraphShuffleUnit(nn.Module):
    """Naive Lite-HRNet's stride-1 :class:`ShuffleUnit` in place over all slots: its branch
    reads the second half's slots and writes them (zero elsewhere, then ReLU), the first
    half's slots are kept by a 0/1 mask: ``relu(branch(x)) + x * keep``."""

    def __init__(self, m: ShuffleUnit, perm: Tensor) -> None:
        super().__init__()
        if m.stride != 1:
            raise _unsupported(m, f'stride {m.stride}')
        h = _width(perm) // 2
        active = perm >= h
        pairs = _conv_chain(m, m.branch2)
        if pairs[-1][0].groups != 1 or not isinstance(pairs[-1][1], (nn.ReLU, nn.ReLU6)):
            raise _unsupported(m, 'a branch not ending in conv + ReLU')
        layers, p = [], torch.where(active, perm - h, -1)
        for conv, act in pairs[:-1]:
            layer, p = _graph_conv(conv, act, p)
            layers.append(layer)
        last, act = pairs[-1]
        src = torch.where(active, perm - h, 0)
        mask = active.to(last.weight.dtype)
        w = last.weight.detach()[:, p.clamp(min=0)] * (p >= 0).view(1, -1, 1, 1).to(mask.dtype)
        layers.append(GraphConv(w[src] * mask.view(-1, 1, 1, 1), _bias_of(last)[src] * mask,
                                act=act))
        self.branch = nn.Sequential(*layers)
        self.register_buffer('keep', (1 - mask).view(1, -1, 1, 1).contiguous())
        self.perm = _shuffled(perm)

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
                row.append(_graph_conv(_folded_conv(m, conv), None, perms[j], perms[i])[0])
            low.append(nn.ModuleList(row))
        self.low = nn.ModuleList(low)
        self.down = nn.ModuleList([
            nn.ModuleList([
                _chain(m, m[i][j], perms[j], perms[i], 2.0 if j == 0 else 1.0)[0]
                for j in range(i)
            ]) for i in range(outs)
        ])

    def forward(self, x: Tensors) -> Tensors:
        fused: Tensors = []
        for i, (low, down) in enumerate(zip(self.low, self.down)):
            up = None
            for j in range(len(x) - 1, i, -1):
                t = low[j - i - 1](x[j])
                up = t if up is None else t + _up2(up)
            y = x[0] + x[0] if i == 0 else down[0](fused[0])
            for j in range(1, i):
                y = y + down[j](x[j])
            if i > 0:
                y = y + x[i]
            fused.append(y if up is None else y + _up2(up))
        return [self.relu(y) for y in fused]


def _up2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=(2.0, 2.0), mode='nearest')


class GraphHead(nn.Module):
    """:class:`IterativeHead`, each projection writing the slot order of the branch that
    adds it (identity for the highest-resolution output)."""

    def __init__(self, m: IterativeHead, perms: Sequence[Tensor]) -> None:
        super().__init__()
        rev = list(perms)[::-1]
        projects, self.perms = [], []
        for k, project in enumerate(m.projects):
            target = rev[k + 1] if k + 1 < len(rev) else None
            layer, perm = _chain(m, project, rev[k], target)
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
        self.stem_conv, perm = _chain(stem, stem.conv1, _identity(stem.conv1.conv.in_channels))
        half = _width(perm) // 2
        first = torch.where(perm < half, perm, -1)
        second = torch.where(perm >= half, perm - half, -1)
        self.stem_branch1, p1 = _chain(stem, stem.branch1, first)
        self.stem_branch2, p2 = _chain(
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
            order = torch.argsort(torch.where(perm < 0, len(perm), perm))[:_width(perm)]
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
                width = _conv_chain(transition, layer)[-1][0].out_channels
                t, perm = _chain(transition, layer, src, _identity(width, align))
                trans.append(t)
                new.append(perm)
        layers.append(trans)
        perms = new
        for module in modules:
            module: LiteHRModule
            if not module.multiscale_output:
                raise _unsupported(module, 'multiscale_output=False')
            blocks = nn.ModuleList()
            if module.module_type == 'LITE':
                for block in module.layers:
                    g = GraphWeighting(block, perms, align)
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
                for block in blocks:
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
    rewritten there)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f'model: expected an nn.Module, got {type(model).__name__}')
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
