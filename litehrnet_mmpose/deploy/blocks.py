"""Inference-only implementations of Lite-HRNet's blocks, swapped onto the trained modules.

Each ``Deploy*`` class subclasses the model class it replaces and adds no parameters:
``convert(module)`` checks that the module's settings are what its forward supports (or
raises ``NotImplementedError`` naming the setting), precomputes its folded tensors as
non-persistent buffers and sets ``module.__class__``. Run after BN folding, in eval mode.
"""
from typing import List, Sequence, Type

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

from ..models import (ConditionalChannelWeighting, LiteHRModule, MultiResolutionFusion, ShuffleUnit,
                      Stem)
from ..models.tensor_ops import avg_pool_to, is_tracing
from . import layout

Tensors = List[Tensor]

# opaque calls in torch.fx graphs, here too (fx.wrap patches the calling module's names)
for _fn in ('avg_pool_to', ):
    torch.fx.wrap(_fn)


def _unsupported(owner: nn.Module, setting: str) -> NotImplementedError:
    return NotImplementedError(f'deploy: {type(owner).__name__} with {setting} has no '
                               'inference-only implementation; run it unswitched (eval mode)')


def _bias_of(conv: nn.Conv2d) -> Tensor:
    """A conv's bias, zeros if it has none."""
    if conv.bias is not None:
        return conv.bias.detach()
    return conv.weight.new_zeros(conv.out_channels)


def _folded_conv(owner: nn.Module, module: nn.Module) -> nn.Conv2d:
    """The ``nn.Conv2d`` of a ConvModule whose norm was folded (or that has none)."""
    conv = module.conv if isinstance(module, ConvModule) else module
    if not isinstance(conv, nn.Conv2d) or type(conv).forward is not nn.Conv2d.forward:
        raise _unsupported(owner, f'conv layer {type(conv).__name__} (conv_cfg)')
    if isinstance(module, ConvModule) and module.with_norm and not isinstance(
            module.norm, nn.Identity):
        raise _unsupported(owner, f'norm layer {type(module.norm).__name__} (norm_cfg): '
                           'only BatchNorm folds')
    return conv


def _pointwise(owner: nn.Module, module: nn.Module) -> nn.Conv2d:
    """:func:`_folded_conv`, checked to be a plain 1x1 conv (it runs as a matrix product)."""
    conv = _folded_conv(owner, module)
    if (conv.kernel_size != (1, 1) or conv.stride != (1, 1) or conv.padding != (0, 0)
            or conv.groups != 1):
        raise _unsupported(owner, f'conv {conv!r} where a plain 1x1 conv was expected')
    return conv


def _activation(owner: nn.Module, modules: Sequence[ConvModule]) -> nn.Module:
    """The activation that ``modules`` (one per branch) share: parameter-free, one kind."""
    acts = [m.activate if m.with_activation else nn.Identity() for m in modules]
    if any(next(a.parameters(), None) is not None for a in acts) or len(
            {repr(a) for a in acts}) != 1:
        raise _unsupported(owner, f'activations {sorted({repr(a) for a in acts})} (act_cfg): '
                           'the branches run as one product, so they must be one '
                           'parameter-free kind')
    return acts[0]


class DeployStem(Stem):
    """:class:`Stem` that, with ``channels_last``, converts the image to channels_last
    memory (the copy lives only until the first conv has read it), and whose shuffle
    keeps that layout."""

    channels_last: bool

    @classmethod
    def convert(cls, module: Stem) -> None:
        module.channels_last = False
        module.__class__ = cls

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last and not is_tracing():
            x = x.contiguous(memory_format=torch.channels_last)
        x1, x2 = self.conv1(x).chunk(2, dim=1)
        del x
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return layout.cat_shuffle(self.branch1(x1), x2)


class DeployShuffleUnit(ShuffleUnit):
    """:class:`ShuffleUnit` whose shuffle keeps channels_last."""

    @classmethod
    def convert(cls, module: ShuffleUnit) -> None:
        module.__class__ = cls

    def forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            return layout.cat_shuffle(self.branch1(x), self.branch2(x))
        x1, x2 = x.chunk(2, dim=1)
        return layout.cat_shuffle(x1, self.branch2(x2))


class DeployConditionalChannelWeighting(ConditionalChannelWeighting):
    """:class:`ConditionalChannelWeighting` on plain tensors: the weightings' convs as
    matrix products, and the spatial weightings of all branches as one block-diagonal
    pair of products (one call instead of one per branch)."""

    @classmethod
    @torch.no_grad()
    def convert(cls, module: ConditionalChannelWeighting) -> None:
        if module.stride != 1:
            raise _unsupported(module, f'stride {module.stride}')
        crw = module.cross_resolution_weighting
        sws = list(module.spatial_weighting)
        if any(m.global_avgpool.output_size not in (1, (1, 1)) for m in sws):
            raise _unsupported(module, 'spatial pooling to more than one cell')
        module._crw_act = (_activation(module, [crw.conv1]), _activation(module, [crw.conv2]))
        module._sw_act = (_activation(module, [m.conv1 for m in sws]),
                          _activation(module, [m.conv2 for m in sws]))
        mats = [[_pointwise(module, getattr(m, c)) for m in sws] for c in ('conv1', 'conv2')]
        crw1, crw2 = _pointwise(module, crw.conv1), _pointwise(module, crw.conv2)
        buffers = {
            '_crw_weight1': crw1.weight, '_crw_bias1': _bias_of(crw1),
            '_crw_weight2': crw2.weight, '_crw_bias2': _bias_of(crw2),
        }
        for k, convs in enumerate(mats, start=1):
            buffers[f'_sw_weight{k}'] = torch.block_diag(*[c.weight.flatten(1) for c in convs])
            buffers[f'_sw_bias{k}'] = torch.cat([_bias_of(c) for c in convs])
        module._dw = [_folded_conv(module, dw) for dw in module.depthwise_convs]
        for name, value in buffers.items():
            module.register_buffer(name, value.detach().contiguous(), persistent=False)
        module.__class__ = cls

    def forward(self, x: Tensors) -> Tensors:
        widths = self.cross_resolution_weighting.channels
        halves = [s.chunk(2, dim=1) for s in x]
        mini = x[-1].shape[-2:]
        pooled = [avg_pool_to(h[1], mini) for h in halves[:-1]] + [halves[-1][1]]
        w = self._crw_act[0](layout.pointwise_conv(torch.cat(pooled, dim=1),
                                                    self._crw_weight1, self._crw_bias1))
        w = self._crw_act[1](layout.pointwise_conv(w, self._crw_weight2, self._crw_bias2))
        w = w.split_with_sizes(widths, 1)
        y = []
        for k, dw in enumerate(self._dw):
            t = layout.mul_upsampled(halves[k][1], w[k])
            y.append(F.conv2d(t, dw.weight, dw.bias, dw.stride, dw.padding, dw.dilation,
                              dw.groups))
        s = torch.cat([F.adaptive_avg_pool2d(t, 1) for t in y], dim=1).flatten(1)
        s = self._sw_act[0](F.linear(s, self._sw_weight1, self._sw_bias1))
        s = self._sw_act[1](F.linear(s, self._sw_weight2, self._sw_bias2))
        s = s[:, :, None, None].split_with_sizes(widths, 1)
        return [layout.cat_shuffle(halves[k][0], y[k] * s[k]) for k in range(len(widths))]


class DeployMultiResolutionFusion(MultiResolutionFusion):
    """:class:`MultiResolutionFusion` with fewer, larger ops; the same sums up to float
    rounding (terms are added in another order).

    * The 1x1 convs that read the same lower-resolution branch ``j`` (one per output
      ``i < j``) run as one conv, whose output is split per output.
    * Lower-resolution terms are summed at their own resolutions first, from the lowest
      up (nearest upsampling by 2 twice is upsampling by 4), so every output receives one
      upsampled term instead of one per lower branch.
    * ``f_i0``'s last conv is scaled by 2 (exact: a power of two), replacing ``a + a``.
    * Sums go in place into tensors that nothing else reads: the merged convs' outputs,
      ``f_i0``'s, and ``x[0]`` (as the reference does), which the module's own blocks have
      just made; :class:`DeployLiteHRModule` applies the activation in place to them.
      Called on its own, the deployed fusion overwrites ``x[0]``.
    """

    @classmethod
    @torch.no_grad()
    def convert(cls, module: MultiResolutionFusion) -> None:
        n = len(module[0])
        for i, row in enumerate(module):
            for j in range(i + 1, n):
                conv, norm, up = row[j]
                if not isinstance(norm, nn.Identity):
                    raise _unsupported(module, f'norm layer {type(norm).__name__} (norm_cfg): '
                                       'only BatchNorm folds')
                _pointwise(module, conv)
                if up.mode != 'nearest' or float(up.scale_factor) != 2.0**(j - i):
                    raise _unsupported(module, f'upsampling {up!r}')
        module._up_widths = [[]]
        for j in range(1, n):
            convs = [module[i][j][0] for i in range(min(j, len(module)))]
            module.register_buffer(f'_up_weight{j}',
                                   torch.cat([c.weight for c in convs]).contiguous(),
                                   persistent=False)
            module.register_buffer(f'_up_bias{j}', torch.cat([_bias_of(c) for c in convs]),
                                   persistent=False)
            module._up_widths.append([c.out_channels for c in convs])
        for i in range(1, len(module)):
            leaves = [m for m in module[i][0].modules() if next(m.children(), None) is None]
            last = max(k for k, m in enumerate(leaves) if isinstance(m, nn.Conv2d))
            if not all(isinstance(m, nn.Identity) for m in leaves[last + 1:]):
                raise _unsupported(module, f'higher-resolution term {i}.0 ending in '
                                   f'{leaves[last + 1:]!r}')
            conv = _folded_conv(module, leaves[last])
            if conv.bias is None:
                conv.bias = nn.Parameter(_bias_of(conv).clone())
            conv.weight.mul_(2)
            conv.bias.mul_(2)
        module.__class__ = cls

    def forward(self, x: Tensors) -> Tensors:
        n = len(x)
        low: List[Sequence[Tensor]] = [[]]
        for j in range(1, n):
            t = layout.pointwise_conv(x[j], getattr(self, f'_up_weight{j}'),
                                      getattr(self, f'_up_bias{j}'))
            low.append(t.split_with_sizes(self._up_widths[j], 1))
        s0 = x[0]
        fused: Tensors = []
        for i in range(len(self)):
            up = None
            for j in range(n - 1, i, -1):
                up = low[j][i] if up is None else layout.add_upsampled(low[j][i], up,
                                                                       out=low[j][i])
            if i == 0:  # up is set: there are at least two branches
                s0 = layout.add_double_upsampled(s0, up, out=s0)
                continue
            y = self[i][0](s0)  # its last conv is doubled
            for j in range(1, i):
                y.add_(self[i][j](x[j]))
            y.add_(x[i])
            if up is not None:
                y = layout.add_upsampled(y, up, out=y)
            fused.append(y)
        return [s0] + fused


class DeployLiteHRModule(LiteHRModule):
    """:class:`LiteHRModule` whose activation after the fusion runs in place (on the
    fusion's fresh sums)."""

    @classmethod
    def convert(cls, module: LiteHRModule) -> None:
        if module.fuse_layers is not None:
            if type(module.relu) is not nn.ReLU:
                raise _unsupported(module, f'activation {module.relu!r}')
            module.relu.inplace = True
        module.__class__ = cls


#: Model class -> its inference-only implementation.
DEPLOY_CLASSES: dict = {
    Stem: DeployStem,
    ShuffleUnit: DeployShuffleUnit,
    ConditionalChannelWeighting: DeployConditionalChannelWeighting,
    MultiResolutionFusion: DeployMultiResolutionFusion,
    LiteHRModule: DeployLiteHRModule,
}


def convert_blocks(module: nn.Module) -> int:
    """Swap every block of exactly a class in :data:`DEPLOY_CLASSES` inside ``module``
    (BN already folded) for its inference-only implementation; returns how many."""
    todo = [m for m in module.modules() if type(m) in DEPLOY_CLASSES]
    for m in todo:
        deploy_cls: Type = DEPLOY_CLASSES[type(m)]
        deploy_cls.convert(m)
    return len(todo)
