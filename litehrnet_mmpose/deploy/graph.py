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
from typing import List, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from ..models import LiteHRNet, Stem, Transition
from ..models.litehrnet import _check_input_size
from .blocks import _unsupported
from .fold import fuse_conv_bn
from .graph_blocks import GraphFusion, GraphHead, GraphShuffleUnit, GraphWeighting
from .slots import Tensors, conv_chain, identity_slots, slot_chain, width

__all__ = ['GraphLiteHRNet', 'to_graph']


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
    for m in list(model.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, LiteHRNet):
                setattr(m, child_name, GraphLiteHRNet(child, align).eval())
    return model.eval()
