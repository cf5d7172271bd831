"""Building blocks of Lite-HRNet and Naive Lite-HRNet.

Module and attribute names follow MMPose 1.3.2's ``litehrnet.py`` (itself the official
repository's layout) exactly, so that MMPose's and the official checkpoints load with
``strict=True``. Where that layout dictates an odd structure (bare ``nn.Sequential`` of
conv/bn layers in transitions and fusions next to ``ConvModule`` elsewhere) it is kept for
that reason only.
"""
import contextlib
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import (ConvModule, DepthwiseSeparableConvModule, build_activation_layer,
                      build_conv_layer, build_norm_layer)
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import MODELS

CfgType = Optional[dict]
ActCfg = Union[dict, Tuple[dict, dict]]
Tensors = List[Tensor]

RELU = dict(type='ReLU')


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """ShuffleNet's channel shuffle: interleave the channels of ``groups`` equal groups."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _tracing() -> bool:
    """Whether the forward is being traced or exported (jit, torch.fx symbolic, ONNX,
    torch.export): what gets recorded must be the plain NCHW graph."""
    return (torch.jit.is_tracing() or torch.fx._symbolic_trace.is_fx_symbolic_tracing()
            or torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting())


def _is_channels_last(x: Tensor) -> bool:
    """Whether ``x`` (N, C, H, W) keeps its channels innermost in memory: channels_last, or a
    channel slice of such a tensor (deploy mode's layout, see ``LiteHRNet.switch_to_deploy``).

    Only picks the faster of two equivalent implementations in the helpers below: both are
    correct for any strides. False while tracing, so traced / ONNX graphs stay NCHW.
    """
    return (x.dim() == 4 and x.stride(1) == 1 and x.shape[1] > 1
            and x.shape[2] * x.shape[3] > 1 and not torch.jit.is_tracing())


def pointwise_conv(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    """``F.conv2d(x, weight, bias)`` for a 1x1 ``weight``; on channels_last input, one matrix
    product over the pixels (CPU convolution would copy it to NCHW and back)."""
    if _is_channels_last(x):
        return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias).permute(0, 3, 1, 2)
    return F.conv2d(x, weight, bias)


class PointwiseConv2d(nn.Conv2d):
    """A 1x1, stride-1 ``nn.Conv2d`` that runs through :func:`pointwise_conv`. Deploy mode
    switches the backbone's 1x1 convs to it in place (same parameters and state-dict keys)."""

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


def cat_shuffle(a: Tensor, b: Tensor) -> Tensor:
    """``channel_shuffle(torch.cat((a, b), 1), 2)`` in one copy instead of two.

    Shuffling two groups interleaves them channel by channel (output ``2k`` is ``a[k]``,
    ``2k + 1`` is ``b[k]``): stacking on a new axis after the channels (NCHW), or pairing
    them innermost (channels_last, see :func:`_interleave_last`).
    """
    if _is_channels_last(a):  # first: never while tracing, and the cheaper test
        return _interleave_last(a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    if torch.onnx.is_in_onnx_export():  # ONNX Runtime runs the plain form faster
        return channel_shuffle(torch.cat((a, b), dim=1), 2)
    return torch.stack((a, b), dim=2).flatten(1, 2)


def _interleave_last(a: Tensor, b: Tensor) -> Tensor:
    """``torch.stack((a, b), -1).flatten(-2)``: alternate the last-axis entries of ``a`` and
    ``b``. For float32/64, as the (real, imaginary) pairs of a complex tensor, one vectorised
    pass (2-3x faster on CPU than copying or stacking into stride-2 slots)."""
    if a.dtype in (torch.float32, torch.float64) and b.dtype == a.dtype:
        return torch.view_as_real(torch.complex(a, b)).flatten(-2)
    return torch.stack((a, b), dim=-1).flatten(-2)


def _upsampled_op(x: Tensor, w: Tensor, op: Callable[..., Tensor],
                  inplace: bool = False) -> Tensor:
    """``op(x, nearest_upsample(w, x.shape))`` without materialising the upsampled ``w``.

    When ``x``'s size is an integer multiple of ``w``'s, nearest upsampling repeats each
    value over a ``ky x kx`` block: the result is ``op`` between ``x`` split into blocks and
    ``w`` broadcast over them, element for element the values of upsampling (bit-exact).
    NCHW: ``w`` is repeated along the width only (a copy at its own, lower, height), then
    broadcast over the ``ky`` rows of ``x`` with contiguous inner rows, far faster on CPU
    than ``F.interpolate`` or a 6-d broadcast whose innermost loop is only ``kx`` long.
    channels_last: the channels are the contiguous inner loop, so ``w`` is broadcast over
    both block axes directly, into a fresh channels_last output. Otherwise (sizes not
    multiples; ONNX export) interpolate. ``op`` takes ``out=``: with ``inplace`` the result
    is written into ``x`` and ``x`` returned (for sums into a fresh tensor no one else
    reads, saving a full-resolution buffer; not while tracing: graphs stay out of place).
    """
    target = x if inplace and not torch.jit.is_tracing() else None
    b, c, h, wd = x.shape
    hw, ww = w.shape[-2:]
    if h % hw or wd % ww:
        return op(x, F.interpolate(w, size=(h, wd), mode='nearest'), out=target)
    ky, kx = h // hw, wd // ww
    if ky == 1 and kx == 1:
        return op(x, w, out=target)
    if _is_channels_last(x):  # first: never while tracing, and the cheaper test
        xv = x.permute(0, 2, 3, 1).unflatten(2, (ww, kx)).unflatten(1, (hw, ky))
        out = x.new_empty(b, hw, ky, ww, kx, c) if target is None else xv
        op(xv, w.permute(0, 2, 3, 1)[:, :, None, :, None], out=out)
        return x if target is not None else out.view(b, h, wd, c).permute(0, 3, 1, 2)
    if torch.onnx.is_in_onnx_export():
        # ONNX Runtime's Resize is fast, while the reshapes below become many small nodes
        # there; constant integer scales (not sizes computed from shapes) keep it one node.
        return op(x, F.interpolate(w, scale_factor=(float(ky), float(kx)), mode='nearest'))
    if kx > 1:
        w = w.unsqueeze(-1).expand(b, c, hw, ww, kx).reshape(b, c, hw, wd)
    xv = x.view(b, c, hw, ky, wd)  # splitting an axis: a view for any strides
    y = op(xv, w.unsqueeze(3), out=None if target is None else xv)
    return x if target is not None else y.view(b, c, h, wd)


def _mul_upsampled(x: Tensor, w: Tensor) -> Tensor:
    """``x * nearest_upsample(w, x.shape)`` (see :func:`_upsampled_op`)."""
    return _upsampled_op(x, w, torch.mul)


def _add_upsampled(x: Tensor, w: Tensor, inplace: bool = False) -> Tensor:
    """``x + nearest_upsample(w, x.shape)`` (see :func:`_upsampled_op`)."""
    return _upsampled_op(x, w, torch.add, inplace)


def _add_double_upsampled(x: Tensor, w: Tensor, inplace: bool = False) -> Tensor:
    """``x + x + nearest_upsample(w, x.shape)`` in one op, bit for bit: ``x + x == 2 * x``
    is exact, so ``w + 2 * x`` (``torch.add``'s ``alpha``) rounds once, as the sum does."""
    return _upsampled_op(x, w, lambda a, b, out=None: torch.add(b, a, alpha=2, out=out), inplace)


def _avg_pool_to(x: Tensor, size: Sequence[int]) -> Tensor:
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


# Shape-dependent helpers are opaque calls in torch.fx graphs (symbolic tracing cannot
# branch on, or unpack, a traced shape); jit tracing and ONNX export see through them.
for _fn in ('channel_shuffle', 'cat_shuffle', 'pointwise_conv', '_mul_upsampled',
            '_add_upsampled', '_add_double_upsampled', '_avg_pool_to'):
    torch.fx.wrap(_fn)


def depthwise_pointwise(in_channels: int,
                        out_channels: int,
                        stride: int,
                        act_cfg: CfgType,
                        conv_cfg: CfgType,
                        norm_cfg: dict,
                        flat: bool = False) -> nn.Sequential:
    """The dw3x3-BN -> pw1x1-BN(-act) pair that every Lite-HRNet part repeats.

    ``flat=False`` gives two ``ConvModule`` (keys ``0.conv``, ``0.bn``, ``1.conv``, ...), as in
    the stem and shuffle units. ``flat=True`` gives bare layers (keys ``0``, ``1``, ``2``,
    ``3``), as the reference's transitions and fusions are laid out: same computation, other
    state-dict keys, kept for checkpoint compatibility.
    """
    if flat:
        layers = [
            build_conv_layer(conv_cfg, in_channels, in_channels, kernel_size=3, stride=stride,
                             padding=1, groups=in_channels, bias=False),
            build_norm_layer(norm_cfg, in_channels)[1],
            build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size=1, bias=False),
            build_norm_layer(norm_cfg, out_channels)[1],
        ]
        if act_cfg is not None:
            layers.append(build_activation_layer(act_cfg))
        return nn.Sequential(*layers)
    return nn.Sequential(
        ConvModule(in_channels, in_channels, kernel_size=3, stride=stride, padding=1,
                   groups=in_channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None),
        ConvModule(in_channels, out_channels, kernel_size=1, conv_cfg=conv_cfg,
                   norm_cfg=norm_cfg, act_cfg=act_cfg))


@contextlib.contextmanager
def _keep_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Restore the BN running statistics of ``module`` on exit.

    Gradient checkpointing runs the forward a second time during backward; without this the
    running mean/var would be updated twice per step and drift from a run without ``with_cp``.
    """
    saved = [(buf, buf.clone()) for m in module.modules() if isinstance(m, _BatchNorm)
             for buf in (m.running_mean, m.running_var, m.num_batches_tracked)
             if buf is not None]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def _call_with_double_bn_update(layer: nn.Module, x: Tensor) -> Tensor:
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


class CheckpointMixin:
    """``with_cp`` support: run ``fn(x)`` under non-reentrant activation checkpointing.

    Unlike the reference (which reads ``x.requires_grad`` and so crashes on the list inputs
    of channel weighting), this accepts a tensor or a list of tensors, and it leaves BN
    running statistics exactly as a run without checkpointing would.
    """

    with_cp: bool
    training: bool

    def _maybe_checkpoint(self, fn: Callable, x: Union[Tensor, Tensors]) -> Union[Tensor, Tensors]:
        tensors = x if isinstance(x, (list, tuple)) else [x]
        if (self.with_cp and self.training and torch.is_grad_enabled()
                and any(t.requires_grad for t in tensors)):
            return cp.checkpoint(
                fn, x, use_reentrant=False,
                context_fn=lambda: (contextlib.nullcontext(), _keep_bn_statistics(self)))
        return fn(x)


def _pair(act_cfg: ActCfg, field: str) -> Tuple[dict, dict]:
    """Normalise an ``act_cfg`` given as one dict or a pair of dicts."""
    if isinstance(act_cfg, dict):
        return act_cfg, act_cfg
    if (not isinstance(act_cfg, (list, tuple)) or len(act_cfg) != 2
            or not all(isinstance(a, dict) for a in act_cfg)):
        raise TypeError(f'{field}: expected a dict or a pair of dicts, got {act_cfg!r}')
    return act_cfg[0], act_cfg[1]


def _reduced(channels: int, ratio: int, field: str) -> int:
    """Hidden width of a squeeze-excitation style weighting, validated."""
    if not isinstance(ratio, int) or ratio < 1:
        raise ValueError(f'{field}: ratio must be a positive int, got {ratio!r}')
    hidden = int(channels / ratio)
    if hidden < 1:
        raise ValueError(f'{field}: {channels} channels reduced by ratio {ratio} leave '
                         f'{hidden} hidden channels; use more channels or a smaller ratio')
    return hidden


def _squeeze_excite(channels: int, hidden: int, conv_cfg: CfgType, norm_cfg: CfgType,
                    act_cfg: Tuple[dict, dict]) -> Tuple[ConvModule, ConvModule]:
    """The two 1x1 ConvModules (reduce, expand) shared by both weighting modules."""
    conv1 = ConvModule(channels, hidden, kernel_size=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act_cfg[0])
    conv2 = ConvModule(hidden, channels, kernel_size=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                       act_cfg=act_cfg[1])
    return conv1, conv2


@MODELS.register_module()
class SpatialWeighting(BaseModule):
    """Squeeze-and-excitation weighting of one branch (global pool -> 1x1 -> 1x1 -> sigmoid).

    Args:
        channels: Channels of the branch.
        ratio: Channel reduction ratio of the hidden layer.
        conv_cfg / norm_cfg: Layer configs (no norm by default, as in the reference).
        act_cfg: One activation config, or a pair (hidden, output).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 16,
                 conv_cfg: CfgType = None,
                 norm_cfg: CfgType = None,
                 act_cfg: ActCfg = (dict(type='ReLU'), dict(type='Sigmoid')),
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden = _reduced(channels, ratio, 'SpatialWeighting.channels')
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1, self.conv2 = _squeeze_excite(channels, hidden, conv_cfg, norm_cfg,
                                                 _pair(act_cfg, 'SpatialWeighting.act_cfg'))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


@MODELS.register_module()
class CrossResolutionWeighting(BaseModule):
    """Channel weights computed jointly from all branches, applied to every branch.

    Every branch is average-pooled to the lowest resolution, the concatenation goes through
    two 1x1 convs, and each branch is multiplied by its slice of the weights, broadcast back
    to its resolution.

    Args:
        channels: Channels of each branch, highest resolution first.
        ratio: Channel reduction ratio of the hidden layer.
        conv_cfg / norm_cfg: Layer configs.
        act_cfg: One activation config, or a pair (hidden, output).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 channels: Sequence[int],
                 ratio: int = 16,
                 conv_cfg: CfgType = None,
                 norm_cfg: CfgType = None,
                 act_cfg: ActCfg = (dict(type='ReLU'), dict(type='Sigmoid')),
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if (not isinstance(channels, (list, tuple)) or not channels
                or not all(isinstance(c, int) and c > 0 for c in channels)):
            raise TypeError('CrossResolutionWeighting.channels: expected a non-empty sequence '
                            f'of positive ints, got {channels!r}')
        self.channels = list(channels)
        total = sum(self.channels)
        hidden = _reduced(total, ratio, 'CrossResolutionWeighting.channels')
        self.conv1, self.conv2 = _squeeze_excite(
            total, hidden, conv_cfg, norm_cfg, _pair(act_cfg, 'CrossResolutionWeighting.act_cfg'))

    def forward(self, x: Tensors) -> Tensors:
        mini_size = x[-1].shape[-2:]
        pooled = [_avg_pool_to(s, mini_size) for s in x[:-1]] + [x[-1]]
        weights = self.conv2(self.conv1(torch.cat(pooled, dim=1))).split(self.channels, dim=1)
        # Indexing, not zip: a torch.fx proxy of the split cannot be iterated.
        return [_mul_upsampled(s, weights[k]) for k, s in enumerate(x)]


def _bias_of(conv: nn.Conv2d) -> Tensor:
    """A conv's bias, zeros if it has none."""
    if conv.bias is not None:
        return conv.bias.detach()
    return conv.weight.new_zeros(conv.out_channels)


def _convs_of(module: nn.Module) -> List[nn.Conv2d]:
    """The ``nn.Conv2d`` layers of ``module`` in forward order (folded deploy chains)."""
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _weight_bias(module: nn.Module) -> Tuple[Tensor, Tensor]:
    """Weight (as a matrix for 1x1 convs) and bias of a folded ConvModule / conv."""
    conv = module.conv if isinstance(module, ConvModule) else module
    w = conv.weight.detach()
    return (w.flatten(1) if w.shape[-2:] == (1, 1) else w), _bias_of(conv)


class ConditionalChannelWeighting(CheckpointMixin, BaseModule):
    """Lite-HRNet's block: split every branch in two halves; weight one half across
    resolutions, then depthwise conv it and weight it spatially; concatenate and shuffle.

    Args:
        in_channels: Channels of each branch.
        stride: Stride of the depthwise convs (1 in Lite-HRNet).
        reduce_ratio: Reduction ratio of the cross-resolution weighting.
        conv_cfg / norm_cfg: Layer configs.
        with_cp: Gradient checkpointing.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 stride: int,
                 reduce_ratio: int,
                 conv_cfg: CfgType = None,
                 norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        assert stride in (1, 2)
        self.with_cp = with_cp
        self.stride = stride
        branch_channels = [c // 2 for c in in_channels]
        self.cross_resolution_weighting = CrossResolutionWeighting(
            branch_channels, ratio=reduce_ratio, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.depthwise_convs = nn.ModuleList([
            ConvModule(c, c, kernel_size=3, stride=stride, padding=1, groups=c,
                       conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=None)
            for c in branch_channels
        ])
        self.spatial_weighting = nn.ModuleList(
            [SpatialWeighting(channels=c, ratio=4) for c in branch_channels])
        #: Set by :meth:`switch_to_deploy` (inference only).
        self.deploy = False

    def _inner_forward(self, x: Tensors) -> Tensors:
        halves = [s.chunk(2, dim=1) for s in x]
        x2 = self.cross_resolution_weighting([h[1] for h in halves])
        x2 = [sw(dw(s)) for s, dw, sw in zip(x2, self.depthwise_convs, self.spatial_weighting)]
        return [cat_shuffle(h[0], s) for h, s in zip(halves, x2)]

    @torch.no_grad()
    def switch_to_deploy(self, test_cfg: Optional[dict] = None) -> None:
        """Fold BN and switch to the inference-only :meth:`_deploy_forward`, in place
        (``test_cfg`` is ignored).

        The weightings' convs become plain tensors (no module calls), and the spatial
        weightings of all branches run as one block-diagonal pair of matrix products.
        """
        from ..deploy import fuse_conv_bn  # deploy.py needs no model classes: no cycle
        if self.deploy:
            return
        if self.stride != 1:
            raise ValueError(f'ConditionalChannelWeighting.stride: deploy needs 1, got '
                             f'{self.stride}')
        self.eval()
        fuse_conv_bn(self)
        crw = self.cross_resolution_weighting
        w1, b1 = _weight_bias(crw.conv1)
        w2, b2 = _weight_bias(crw.conv2)
        sw = [(_weight_bias(m.conv1), _weight_bias(m.conv2)) for m in self.spatial_weighting]
        buffers = {
            '_crw_weight1': w1[..., None, None], '_crw_bias1': b1,
            '_crw_weight2': w2[..., None, None], '_crw_bias2': b2,
            '_sw_weight1': torch.block_diag(*[c1[0] for c1, _ in sw]),
            '_sw_bias1': torch.cat([c1[1] for c1, _ in sw]),
            '_sw_weight2': torch.block_diag(*[c2[0] for _, c2 in sw]),
            '_sw_bias2': torch.cat([c2[1] for _, c2 in sw]),
        }
        for k, dw in enumerate(self.depthwise_convs):
            buffers[f'_dw_weight{k}'], buffers[f'_dw_bias{k}'] = _weight_bias(dw)
        for name, value in buffers.items():
            self.register_buffer(name, value.contiguous(), persistent=False)
        self.deploy = True

    def _deploy_forward(self, x: Tensors) -> Tensors:
        """Inference forward (see :meth:`switch_to_deploy`): the same operations as
        :meth:`_inner_forward` on plain tensors."""
        widths = self.cross_resolution_weighting.channels
        halves = [s.chunk(2, dim=1) for s in x]
        mini = x[-1].shape[-2:]
        pooled = [_avg_pool_to(h[1], mini) for h in halves[:-1]] + [halves[-1][1]]
        w = pointwise_conv(torch.cat(pooled, dim=1), self._crw_weight1, self._crw_bias1).relu_()
        w = torch.sigmoid(pointwise_conv(w, self._crw_weight2, self._crw_bias2))
        w = w.split_with_sizes(widths, 1)
        y = [
            F.conv2d(_mul_upsampled(halves[k][1], w[k]), getattr(self, f'_dw_weight{k}'),
                     getattr(self, f'_dw_bias{k}'), padding=1, groups=c)
            for k, c in enumerate(widths)
        ]
        s = torch.cat([F.adaptive_avg_pool2d(t, 1) for t in y], dim=1).flatten(1)
        s = F.linear(F.linear(s, self._sw_weight1, self._sw_bias1).relu_(), self._sw_weight2,
                     self._sw_bias2)
        s = torch.sigmoid(s)[:, :, None, None].split_with_sizes(widths, 1)
        return [cat_shuffle(halves[k][0], y[k] * s[k]) for k in range(len(widths))]

    def forward(self, x: Tensors) -> Tensors:
        if self.deploy:
            return self._deploy_forward(list(x))
        return self._maybe_checkpoint(self._inner_forward, list(x))


class Stem(CheckpointMixin, BaseModule):
    """Stride-2 3x3 conv, then a stride-2 shuffle block: the input at 1/4 resolution.

    Args:
        in_channels: Image channels.
        stem_channels: Channels of the first conv.
        out_channels: Output channels.
        expand_ratio: Width multiplier of the shuffle block's hidden layer.
        conv_cfg / norm_cfg: Layer configs.
        with_cp: Gradient checkpointing.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 stem_channels: int,
                 out_channels: int,
                 expand_ratio: float,
                 conv_cfg: CfgType = None,
                 norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.with_cp = with_cp
        self.conv1 = ConvModule(in_channels, stem_channels, kernel_size=3, stride=2, padding=1,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=RELU)
        mid_channels = int(round(stem_channels * expand_ratio))
        branch_channels = stem_channels // 2
        if stem_channels == out_channels:
            inc_channels = out_channels - branch_channels
            linear_out = branch_channels
        else:
            inc_channels = out_channels - stem_channels
            linear_out = stem_channels
        self.branch1 = depthwise_pointwise(branch_channels, inc_channels, 2, RELU, conv_cfg,
                                           norm_cfg)
        self.expand_conv = ConvModule(branch_channels, mid_channels, kernel_size=1,
                                      conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=RELU)
        # The remaining dw -> pw pair has its own attribute names in the reference layout.
        dw, pw = depthwise_pointwise(mid_channels, linear_out, 2, RELU, conv_cfg, norm_cfg)
        self.depthwise_conv, self.linear_conv = dw, pw

    def _inner_forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.conv1(x).chunk(2, dim=1)
        x2 = self.linear_conv(self.depthwise_conv(self.expand_conv(x2)))
        return cat_shuffle(self.branch1(x1), x2)

    def forward(self, x: Tensor) -> Tensor:
        return self._maybe_checkpoint(self._inner_forward, x)


class ShuffleUnit(CheckpointMixin, BaseModule):
    """ShuffleNetV2 unit, Naive Lite-HRNet's block (pw -> dw -> pw on half the channels).

    Args:
        in_channels: Input channels.
        out_channels: Output channels (equal to ``in_channels`` when ``stride == 1``).
        stride: Stride of the depthwise conv.
        conv_cfg / norm_cfg / act_cfg: Layer configs.
        with_cp: Gradient checkpointing.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 conv_cfg: CfgType = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = RELU,
                 with_cp: bool = False,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.stride = stride
        self.with_cp = with_cp
        branch_features = out_channels // 2
        if stride == 1 and in_channels != branch_features * 2:
            raise ValueError(f'ShuffleUnit: with stride 1, in_channels ({in_channels}) must be '
                             f'even and equal out_channels ({out_channels})')
        if stride > 1:
            self.branch1 = depthwise_pointwise(in_channels, branch_features, stride, act_cfg,
                                               conv_cfg, norm_cfg)
        self.branch2 = nn.Sequential(
            ConvModule(in_channels if stride > 1 else branch_features, branch_features,
                       kernel_size=1, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg),
            *depthwise_pointwise(branch_features, branch_features, stride, act_cfg, conv_cfg,
                                 norm_cfg))

    def _inner_forward(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            return cat_shuffle(self.branch1(x), self.branch2(x))
        x1, x2 = x.chunk(2, dim=1)
        return cat_shuffle(x1, self.branch2(x2))

    def forward(self, x: Tensor) -> Tensor:
        return self._maybe_checkpoint(self._inner_forward, x)


class IterativeHead(BaseModule):
    """Lite-HRNet's extra head: from the lowest resolution up, each branch adds the upsampled
    result of the one below and goes through a depthwise-separable conv.

    Args:
        in_channels: Channels of each branch, highest resolution first.
        norm_cfg: Norm config.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)[::-1]
        outs = self.in_channels[1:] + self.in_channels[-1:]
        self.projects = nn.ModuleList([
            DepthwiseSeparableConvModule(c_in, c_out, kernel_size=3, padding=1,
                                         norm_cfg=norm_cfg, act_cfg=RELU, dw_act_cfg=None,
                                         pw_act_cfg=RELU)
            for c_in, c_out in zip(self.in_channels, outs)
        ])

    def forward(self, x: Tensors) -> Tensors:
        y: Tensors = []
        last: Optional[Tensor] = None
        for s, project in zip(x[::-1], self.projects):
            if last is not None:
                s = s + F.interpolate(last, size=s.shape[-2:], mode='bilinear',
                                      align_corners=True)
            last = project(s)
            y.append(last)
        return y[::-1]


class LiteHRModule(BaseModule):
    """One high-resolution module: per-branch blocks, then multi-resolution fusion.

    Args:
        num_branches: Number of branches.
        num_blocks: Blocks per branch (CCW blocks for 'LITE', shuffle units for 'NAIVE').
        in_channels: Channels of each branch.
        reduce_ratio: Cross-resolution weighting reduction ratio ('LITE' only).
        module_type: 'LITE' or 'NAIVE' (case-insensitive).
        multiscale_output: Output every branch (True) or only the highest resolution.
        with_fuse: Whether to fuse the branches at the end.
        conv_cfg / norm_cfg: Layer configs.
        with_cp: Gradient checkpointing of the blocks.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 num_branches: int,
                 num_blocks: int,
                 in_channels: Sequence[int],
                 reduce_ratio: int,
                 module_type: str,
                 multiscale_output: bool = False,
                 with_fuse: bool = True,
                 conv_cfg: CfgType = None,
                 norm_cfg: dict = dict(type='BN'),
                 with_cp: bool = False,
                 init_cfg: CfgType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_branches != len(in_channels):
            raise ValueError(f'LiteHRModule: num_branches ({num_branches}) != '
                             f'len(in_channels) ({len(in_channels)})')
        self.in_channels = list(in_channels)
        self.num_branches = num_branches
        self.module_type = module_type.upper()
        self.multiscale_output = multiscale_output
        self.with_fuse = with_fuse
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        if self.module_type == 'LITE':
            self.layers = nn.Sequential(*[
                ConditionalChannelWeighting(self.in_channels, stride=1,
                                            reduce_ratio=reduce_ratio, conv_cfg=conv_cfg,
                                            norm_cfg=norm_cfg, with_cp=with_cp)
                for _ in range(num_blocks)
            ])
        elif self.module_type == 'NAIVE':
            self.layers = nn.ModuleList([
                nn.Sequential(*[
                    ShuffleUnit(c, c, conv_cfg=conv_cfg, norm_cfg=norm_cfg, with_cp=with_cp)
                    for _ in range(num_blocks)
                ]) for c in self.in_channels
            ])
        else:
            raise ValueError(f"module_type: expected 'LITE' or 'NAIVE', got {module_type!r}")
        if with_fuse:
            self.fuse_layers = self._make_fuse_layers()
            self.relu = nn.ReLU()
        #: Set by :meth:`switch_to_deploy` (inference only, BN folded).
        self.deploy = False

    def _make_fuse_layers(self) -> Optional[nn.ModuleList]:
        if self.num_branches == 1:
            return None
        ch = self.in_channels
        rows = []
        for i in range(self.num_branches if self.multiscale_output else 1):
            row: List[Optional[nn.Module]] = []
            for j in range(self.num_branches):
                if j > i:  # lower resolution: 1x1 conv + BN, nearest upsampling
                    row.append(nn.Sequential(
                        build_conv_layer(self.conv_cfg, ch[j], ch[i], kernel_size=1,
                                         bias=False),
                        build_norm_layer(self.norm_cfg, ch[i])[1],
                        nn.Upsample(scale_factor=2**(j - i), mode='nearest')))
                elif j == i:
                    row.append(None)
                else:  # higher resolution: (i - j) stride-2 dw/pw pairs
                    row.append(nn.Sequential(*[
                        depthwise_pointwise(ch[j], ch[i] if k == i - j - 1 else ch[j], 2,
                                            None if k == i - j - 1 else RELU, self.conv_cfg,
                                            self.norm_cfg,
                                            flat=True) for k in range(i - j)
                    ]))
            rows.append(nn.ModuleList(row))
        return nn.ModuleList(rows)

    @staticmethod
    def _add_lower_res_term(y: Tensor, layer: nn.Sequential, x: Tensor,
                            double_y: bool = False, inplace: bool = False) -> Tensor:
        """``y + layer(x)`` for a lower-resolution term (1x1 conv, BN, nearest upsampling);
        ``y + y + layer(x)`` with ``double_y``, in one pass (see :func:`_add_double_upsampled`);
        with ``inplace``, written into ``y``.

        The upsampling is left to :func:`_add_upsampled`, which adds the same values without
        materialising them, unless the ``nn.Upsample`` has hooks (e.g. a FLOP counter's):
        then it runs, so that they see it. Same result either way, bit for bit.
        """
        up = layer[2]
        t = layer[1](layer[0](x))
        if up._forward_hooks or up._forward_pre_hooks:
            t = up(t)  # same size as y now: the helpers below just add
        if double_y:
            return _add_double_upsampled(y, t, inplace)
        return _add_upsampled(y, t, inplace)

    def _fuse(self, out: Tensors) -> Tensors:
        """Multi-resolution fusion, bit-compatible with the reference.

        The reference computes ``y = out[0]; y += out[0]; y += f_0j(out[j])...`` in place,
        so (1) branch 0 enters output 0 twice and (2) ``out[0]`` itself becomes that pre-ReLU
        sum, which is what every lower-resolution output then receives from branch 0 — also
        twice. The released weights were trained with this; we keep it (dropping the double
        term costs 0.5-1 AP with them). Evaluating ``f_i0`` once and doubling is exact
        (``a + a == 2 * a``). In training the reference's second call matters only for its
        BN running statistics (two updates per step from the same batch statistics): we
        apply the second update in closed form (:func:`_call_with_double_bn_update`), so
        ``f_i0`` runs forward and backward once, with the doubled gradient (exact too:
        every backward op is linear in the incoming gradient, and scaling by 2 commutes
        with rounding). The doubled term and the next one are added in one op,
        ``t + 2 * a`` (``torch.add``'s ``alpha``): ``a + a`` is exact, so this rounds once,
        as ``(a + a) + t`` does, and saves a pass over the full-resolution tensors.
        """
        if self.deploy:
            return self._fuse_deploy(out)
        # Without autograd, sums go in place into tensors nothing else reads (out[0], the
        # blocks' fresh output, as in the reference; then f_i0's outputs): no extra
        # full-resolution buffer at the peak. Same values, bit for bit.
        inplace = not torch.is_grad_enabled() and not _tracing()
        fuse = self.fuse_layers  # not None: at least two branches
        s0 = self._add_lower_res_term(out[0], fuse[0][1], out[1], True, inplace)
        for j in range(2, self.num_branches):
            s0 = self._add_lower_res_term(s0, fuse[0][j], out[j], inplace=inplace)
        fused = [self.relu(s0)]
        for i in range(1, len(fuse)):
            a = _call_with_double_bn_update(fuse[i][0], s0) if self.training else fuse[i][0](s0)
            y = torch.add(out[1] if i == 1 else fuse[i][1](out[1]), a, alpha=2,
                          out=a if inplace else None)
            for j in range(2, self.num_branches):
                if j > i:
                    y = self._add_lower_res_term(y, fuse[i][j], out[j], inplace=inplace)
                    continue
                t = out[j] if j == i else fuse[i][j](out[j])
                y = y.add_(t) if inplace else y + t
            fused.append(self.relu(y))
        return fused

    @torch.no_grad()
    def switch_to_deploy(self, test_cfg: Optional[dict] = None) -> None:
        """Fold BN and switch to the inference-only path, in place (``test_cfg`` is
        ignored: MMPose's estimators pass theirs to every submodule).

        * LITE blocks run their weightings on plain tensors
          (:meth:`ConditionalChannelWeighting.switch_to_deploy`).
        * The 1x1 convs that read the same lower-resolution branch ``j`` (one per output
          ``i < j``) are merged into one conv, whose output is split per output.
        * ``f_i0``'s last conv is scaled by 2 (exact: a power of two), replacing ``a + a``.
        """
        from ..deploy import fuse_conv_bn  # deploy.py needs no model classes: no cycle
        if self.deploy:
            return
        self.eval()
        fuse_conv_bn(self)
        if self.module_type == 'LITE':
            for block in self.layers:
                block.switch_to_deploy()
        if self.with_fuse and self.fuse_layers is not None:
            self._deploy_fuse_layers()
        self.deploy = True

    def _deploy_fuse_layers(self) -> None:
        """Merge and scale the folded fusion convs (see :meth:`switch_to_deploy`)."""
        fuse = self.fuse_layers
        for j in range(1, self.num_branches):
            convs = [fuse[i][j][0] for i in range(min(j, len(fuse)))]
            if not convs:
                continue
            self.register_buffer(f'_up_weight{j}',
                                 torch.cat([c.weight.detach() for c in convs]).contiguous(),
                                 persistent=False)
            self.register_buffer(f'_up_bias{j}', torch.cat([_bias_of(c) for c in convs]),
                                 persistent=False)
        for i in range(1, len(fuse)):
            last = _convs_of(fuse[i][0])[-1]
            last.weight.mul_(2)
            if last.bias is not None:
                last.bias.mul_(2)

    def _fuse_deploy(self, out: Tensors) -> Tensors:
        """Inference fusion: same sums as :meth:`_fuse` up to float rounding (terms are
        added in another order).

        Lower-resolution terms are summed at their own resolutions first, from the lowest
        up (nearest upsampling by 2 twice is upsampling by 4), so every output receives one
        upsampled term instead of one per lower branch.
        """
        fuse = self.fuse_layers
        n = self.num_branches
        ch = self.in_channels
        low: List[Sequence[Tensor]] = [[]]
        for j in range(1, n):
            w, b = getattr(self, f'_up_weight{j}'), getattr(self, f'_up_bias{j}')
            low.append(pointwise_conv(out[j], w, b).split_with_sizes(ch[:min(j, len(fuse))], 1))
        # Sums go in place into fresh tensors that nothing else reads: the merged convs'
        # outputs, f_i0's, and out[0] (this module's own blocks' output).
        fused: Tensors = []
        s0 = out[0]
        for i in range(len(fuse)):
            up: Optional[Tensor] = None
            for j in range(n - 1, i, -1):
                up = low[j][i] if up is None else _add_upsampled(low[j][i], up, inplace=True)
            if i == 0:  # up is set: there are at least two branches
                s0 = _add_double_upsampled(s0, up, inplace=True)
                continue
            y = fuse[i][0](s0)  # its last conv is doubled
            for j in range(1, i):
                y.add_(fuse[i][j](out[j]))
            y.add_(out[i])
            if up is not None:
                y = _add_upsampled(y, up, inplace=True)
            fused.append(torch.relu_(y))
        return [torch.relu_(s0)] + fused  # after every f_i0 has read the pre-ReLU sum

    def forward(self, x: Tensors) -> Tensors:
        if self.module_type == 'LITE':
            out = self.layers(x)
        else:
            out = [branch(s) for branch, s in zip(self.layers, x)]
        if self.with_fuse and self.fuse_layers is not None:
            out = self._fuse(out)
        if not self.multiscale_output:
            out = out[:1]
        return out
