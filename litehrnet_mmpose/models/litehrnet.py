"""Lite-HRNet and Naive Lite-HRNet backbones (Yu et al., CVPR 2021).

Both are built from an ``extra`` dict in MMPose's layout (stem / num_stages / stages_spec /
with_head); ``arch=`` picks a preset from ``ARCH_SETTINGS`` and ``extra=`` replaces it
entirely, so an MMPose config ports by changing ``type`` to ``litehrnet_mmpose.LiteHRNet``.
"""
import copy
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import MODELS
from .blocks import (IterativeHead, LiteHRModule, PointwiseConv2d, Stem, _tracing,
                     depthwise_pointwise)

RELU = dict(type='ReLU')


def _check_input_size(x: Tensor, divisor: int, owner: str) -> None:
    """Raise unless the input's height and width are multiples of ``divisor``.

    An opaque call in torch.fx graphs (it branches on the shape); skipped while jit tracing
    (and so ONNX export), where the traced graph would not keep it anyway.
    """
    if torch.jit.is_tracing():
        return
    h, w = x.shape[-2:]
    if h % divisor or w % divisor:
        raise ValueError(f'{owner}: input height and width must be divisible by {divisor}, '
                         f'got {h}x{w}')


torch.fx.wrap('_check_input_size')


# arch -> (module type, modules per stage, channels of the highest-resolution branch).
# Every preset: stem 32 -> 32 channels, 2/3/4 branches doubling in width, 2 blocks per
# module, reduce ratio 8 (ignored by 'NAIVE'), iterative head. Values from the paper
# (Table 2) and the official configs.
_PRESETS: Dict[str, Tuple[str, Tuple[int, int, int], int]] = {
    '18': ('LITE', (2, 4, 2), 40),
    '30': ('LITE', (3, 8, 3), 40),
    'naive-18': ('NAIVE', (2, 4, 2), 30),
    'wider-naive-18': ('NAIVE', (2, 4, 2), 40),
}


def _preset_extra(module_type: str, num_modules: Tuple[int, ...], width: int) -> dict:
    num_branches = (2, 3, 4)
    return dict(
        stem=dict(stem_channels=32, out_channels=32, expand_ratio=1),
        num_stages=3,
        stages_spec=dict(
            num_modules=num_modules,
            num_branches=num_branches,
            num_blocks=(2, 2, 2),
            module_type=(module_type, ) * 3,
            with_fuse=(True, True, True),
            reduce_ratios=(8, 8, 8) if module_type == 'LITE' else (1, 1, 1),
            num_channels=tuple(tuple(width * 2**b for b in range(n)) for n in num_branches)),
        with_head=True)


#: The ``extra`` dict of every named architecture.
ARCH_SETTINGS: Dict[str, dict] = {k: _preset_extra(*v) for k, v in _PRESETS.items()}

_SPEC_KEYS = ('num_modules', 'num_branches', 'num_blocks', 'module_type', 'with_fuse',
              'reduce_ratios', 'num_channels')


def resolve_arch(arch: Any, choices: Sequence[str], field: str) -> str:
    """The preset name ``arch`` means: a name in ``choices``, or an int naming one (mmengine's
    ``--cfg-options model.backbone.arch=30`` yields the int 30, the shell having stripped
    any quotes). Raises ValueError naming ``field`` otherwise."""
    if isinstance(arch, int) and not isinstance(arch, bool) and str(arch) in choices:
        return str(arch)
    if isinstance(arch, str) and arch in choices:
        return arch
    kind = f' ({type(arch).__name__})' if not isinstance(arch, str) else ''
    raise ValueError(f'{field}: unknown arch {arch!r}{kind}; expected one of '
                     f'{sorted(choices)} or an extra= dict')


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{field}: expected a positive int, got {value!r}')
    return value


def _validate_extra(extra: Any, owner: str) -> dict:
    """Check an ``extra`` dict and return a plain deep copy; errors name the field."""
    if not isinstance(extra, Mapping):
        raise TypeError(f'{owner}.extra: expected a dict, got {type(extra).__name__}')
    extra = copy.deepcopy(dict(extra))
    for key in ('stem', 'num_stages', 'stages_spec'):
        if key not in extra:
            raise ValueError(f'{owner}.extra: missing key {key!r}')
    extra.setdefault('with_head', True)
    stem = extra['stem']
    for key in ('stem_channels', 'out_channels', 'expand_ratio'):
        if key not in stem:
            raise ValueError(f'{owner}.extra.stem: missing key {key!r}')
    stem_ch = _positive_int(stem['stem_channels'], f'{owner}.extra.stem.stem_channels')
    out_ch = _positive_int(stem['out_channels'], f'{owner}.extra.stem.out_channels')
    if stem_ch % 2:
        raise ValueError(f'{owner}.extra.stem.stem_channels: must be even (it is split in '
                         f'two halves), got {stem_ch}')
    if out_ch <= (stem_ch // 2 if out_ch == stem_ch else stem_ch):
        raise ValueError(f'{owner}.extra.stem.out_channels: must exceed stem_channels '
                         f'({stem_ch}) or equal it, got {out_ch}')
    num_stages = _positive_int(extra['num_stages'], f'{owner}.extra.num_stages')
    spec = extra['stages_spec']
    for key in _SPEC_KEYS:
        if key not in spec:
            raise ValueError(f'{owner}.extra.stages_spec: missing key {key!r}')
        value = spec[key]
        if not isinstance(value, (list, tuple)) or len(value) != num_stages:
            raise ValueError(f'{owner}.extra.stages_spec.{key}: expected one entry per stage '
                             f'(num_stages={num_stages}), got {value!r}')
    for i in range(num_stages):
        where = f'{owner}.extra.stages_spec'
        for key in ('num_modules', 'num_branches', 'num_blocks', 'reduce_ratios'):
            _positive_int(spec[key][i], f'{where}.{key}[{i}]')
        module_type = spec['module_type'][i]
        if not isinstance(module_type, str) or module_type.upper() not in ('LITE', 'NAIVE'):
            raise ValueError(f"{where}.module_type[{i}]: expected 'LITE' or 'NAIVE', "
                             f'got {module_type!r}')
        channels = spec['num_channels'][i]
        if not isinstance(channels, (list, tuple)) or len(channels) != spec['num_branches'][i]:
            raise ValueError(f'{where}.num_channels[{i}]: expected num_branches[{i}]='
                             f"{spec['num_branches'][i]} channel counts, got {channels!r}")
        for b, c in enumerate(channels):
            _positive_int(c, f'{where}.num_channels[{i}][{b}]')
            if c % 2:
                raise ValueError(f'{where}.num_channels[{i}][{b}]: must be even (blocks split '
                                 f'channels in two halves), got {c}')
            if module_type.upper() == 'LITE' and c // 2 < 4:
                raise ValueError(f'{where}.num_channels[{i}][{b}]: LITE blocks need at least '
                                 f'8 channels (spatial weighting reduces c/2 by 4), got {c}')
        if module_type.upper() == 'LITE' and sum(c // 2 for c in channels) < spec[
                'reduce_ratios'][i]:
            raise ValueError(f'{where}.reduce_ratios[{i}]: {spec["reduce_ratios"][i]} exceeds '
                             f'the {sum(c // 2 for c in channels)} channels it reduces')
    return extra


class LiteHRNet(BaseModule):
    """Lite-HRNet backbone: `Lite-HRNet: A Lightweight High-Resolution Network
    <https://arxiv.org/abs/2104.06403>`_.

    State-dict compatible with MMPose 1.x's ``LiteHRNet`` and the official checkpoints.
    (A plain ``BaseModule``, as MMPose's ``BaseBackbone`` adds nothing but would import all
    of ``mmpose.models`` with it.)

    Args:
        arch: Preset name (see ``arch_settings``; ``18`` as an int means ``'18'``); ignored
            when ``extra`` is given.
        extra: Full architecture dict in MMPose's layout; overrides ``arch``.
        in_channels: Image channels.
        out_indices: Branches to return, 0 being the highest resolution. ``(0, )`` is the
            top-down pose default; all branches feed segmentation / HRNetV2-style heads.
        conv_cfg / norm_cfg: Layer configs.
        norm_eval: Keep BN layers in eval mode (frozen statistics) during training.
        frozen_stages: Freeze (no grad, eval mode) the stem for ``>= 0``, and the first
            ``frozen_stages`` stages with their transitions. ``-1`` freezes nothing.
        with_cp: Gradient checkpointing of stem and blocks (same gradients, less memory).
        init_cfg: mmengine initialisation config (MMPose's default).
    """

    arch_settings: Dict[str, dict] = {k: ARCH_SETTINGS[k] for k in ('18', '30')}
    default_arch = '18'

    def __init__(self,
                 arch: Optional[Union[str, int]] = None,
                 extra: Optional[dict] = None,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (0, ),
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='Normal', std=0.001, layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
                 ]) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if extra is None:
            arch = resolve_arch(self.default_arch if arch is None else arch,
                                self.arch_settings, f'{name}.arch')
            extra = self.arch_settings[arch]
        self.arch = arch
        self.extra = _validate_extra(extra, name)
        _positive_int(in_channels, f'{name}.in_channels')
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.num_stages = self.extra['num_stages']
        self.stages_spec = self.extra['stages_spec']
        self.with_head = self.extra['with_head']

        stem = self.extra['stem']
        self.stem = Stem(in_channels, stem['stem_channels'], stem['out_channels'],
                         stem['expand_ratio'], conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         with_cp=with_cp)
        channels = [stem['out_channels']]
        for i in range(self.num_stages):
            cur = list(self.stages_spec['num_channels'][i])
            setattr(self, f'transition{i}', self._make_transition_layer(channels, cur))
            stage, channels = self._make_stage(i, cur)
            setattr(self, f'stage{i}', stage)
        if self.with_head:
            self.head_layer = IterativeHead(in_channels=channels, norm_cfg=norm_cfg)
            # Each head projection maps a branch to the width of the branch above it.
            channels = channels[:1] + channels[:-1]
        #: Channels of every output branch, highest resolution first.
        self.out_channels = channels

        num_out = len(channels)
        if (not isinstance(out_indices, (list, tuple)) or not out_indices
                or not all(isinstance(i, int) and -num_out <= i < num_out for i in out_indices)):
            raise ValueError(f'{name}.out_indices: expected indices of the {num_out} output '
                             f'branches, got {out_indices!r}')
        self.out_indices = tuple(i % num_out for i in out_indices)
        if (isinstance(frozen_stages, bool) or not isinstance(frozen_stages, int)
                or not -1 <= frozen_stages <= self.num_stages):
            raise ValueError(f'{name}.frozen_stages: expected an int in [-1, {self.num_stages}]'
                             f', got {frozen_stages!r}')
        self.frozen_stages = frozen_stages
        # The input must halve cleanly down to the lowest-resolution branch.
        self.size_divisor = 4 * 2**(num_out - 1)
        #: Set by :meth:`switch_to_deploy`: BN folded, inference-only fusion.
        self.deploy = False
        #: Deploy mode runs channels_last (see :meth:`switch_to_deploy`).
        self.deploy_channels_last = False
        self._freeze_stages()

    def _make_transition_layer(self, pre: List[int], cur: List[int]) -> nn.ModuleList:
        """Adapt the previous stage's branches to this stage's: a stride-1 dw/pw pair where a
        branch changes width, chains of stride-2 pairs from the last branch for new ones."""
        layers: List[Optional[nn.Module]] = []
        for i, c in enumerate(cur):
            if i < len(pre):
                layers.append(None if c == pre[i] else depthwise_pointwise(
                    pre[i], c, 1, RELU, self.conv_cfg, self.norm_cfg, flat=True))
            else:
                steps = i + 1 - len(pre)
                layers.append(nn.Sequential(*[
                    depthwise_pointwise(pre[-1], c if k == steps - 1 else pre[-1], 2, RELU,
                                        self.conv_cfg, self.norm_cfg, flat=True)
                    for k in range(steps)
                ]))
        return nn.ModuleList(layers)

    def _make_stage(self, index: int, channels: List[int]) -> Tuple[nn.Sequential, List[int]]:
        spec = self.stages_spec
        modules = [
            LiteHRModule(spec['num_branches'][index], spec['num_blocks'][index], channels,
                         spec['reduce_ratios'][index], spec['module_type'][index],
                         multiscale_output=True, with_fuse=spec['with_fuse'][index],
                         conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, with_cp=self.with_cp)
            for _ in range(spec['num_modules'][index])
        ]
        return nn.Sequential(*modules), channels

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the branches in ``out_indices`` (highest resolution first)."""
        _check_input_size(x, self.size_divisor, type(self).__name__)
        channels_last = self.deploy_channels_last and not _tracing()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = [self.stem(x)]
        del x  # frees the channels_last copy of the input before the stages run
        for i in range(self.num_stages):
            transition = getattr(self, f'transition{i}')
            y = getattr(self, f'stage{i}')([
                t(y[min(j, len(y) - 1)]) if t is not None else y[j]
                for j, t in enumerate(transition)
            ])
        if self.with_head:
            y = self.head_layer(y)
        if channels_last:  # heads and users get the usual NCHW-contiguous outputs
            return tuple(y[i].contiguous() for i in self.out_indices)
        return tuple(y[i] for i in self.out_indices)

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        mods: List[nn.Module] = [self.stem]
        for i in range(self.frozen_stages):
            mods += [getattr(self, f'transition{i}'), getattr(self, f'stage{i}')]
        return mods

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def switch_to_deploy(self, test_cfg: Optional[dict] = None,
                         channels_last: bool = True) -> None:
        """Inference-only deploy mode, in place: fold every BN into its conv and switch the
        fusions to their faster inference path (see ``LiteHRModule.switch_to_deploy``).

        With ``channels_last`` (default) the forward converts its input to channels_last
        memory and returns NCHW-contiguous outputs: depthwise convs run 1.5-3x faster in
        that layout on CPU, and 1x1 convs become plain matrix products
        (:class:`~.blocks.PointwiseConv2d`). Traced / exported graphs (jit, ONNX, torch.fx)
        stay NCHW either way.

        Outputs equal eval mode's up to float rounding. Irreversible (weights are
        rewritten), and the model can no longer be put in train mode. ``test_cfg`` is
        ignored: MMPose's ``pose_model.switch_to_deploy()`` passes its own to every submodule.
        """
        if not isinstance(channels_last, bool):
            raise TypeError(f'channels_last: expected a bool, got {channels_last!r}')
        self.deploy_channels_last = channels_last
        if self.deploy:
            return
        from ..deploy import fuse_conv_bn  # deploy.py needs no model classes: no cycle
        self.eval()
        fuse_conv_bn(self)
        for i in range(self.num_stages):
            for module in getattr(self, f'stage{i}'):
                module.switch_to_deploy()
        PointwiseConv2d.convert(self)
        self.deploy = True

    def train(self, mode: bool = True) -> 'LiteHRNet':
        """Set train mode, keeping frozen stages and (with ``norm_eval``) all BN in eval."""
        if mode and getattr(self, 'deploy', False):
            raise RuntimeError(f'{type(self).__name__}: a model switched to deploy mode '
                               '(BN folded) is inference-only and cannot be trained')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


class NaiveLiteHRNet(LiteHRNet):
    """Naive Lite-HRNet: HRNet with ShuffleNet v2 units in place of residual blocks
    (the paper's baseline, Sec. 3.1). Same arguments as :class:`LiteHRNet`; presets
    ``'naive-18'`` (30/60/120/240 channels) and ``'wider-naive-18'`` (40/80/160/320)."""

    arch_settings: Dict[str, dict] = {k: ARCH_SETTINGS[k] for k in ('naive-18',
                                                                     'wider-naive-18')}
    default_arch = 'naive-18'


MODELS.register_module(module=LiteHRNet)
MODELS.register_module(module=NaiveLiteHRNet)
