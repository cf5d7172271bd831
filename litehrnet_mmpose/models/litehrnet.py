"""Lite-HRNet and Naive Lite-HRNet backbones (Yu et al., CVPR 2021).

Both are built from an ``extra`` dict in MMPose's layout (stem / num_stages / stages_spec /
with_head), or from a preset of the architecture table (``arch=``, see :mod:`.arch`); the
constructor takes MMPose's arguments in MMPose's order, so code and configs written for
``mmpose.models.LiteHRNet`` run unchanged.
"""
import importlib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import MODELS, SCOPE
from .arch import ARCH_SETTINGS, positive_int, resolve_arch, validate_extra
from .head import IterativeHead
from .module import LiteHRModule
from .shuffle import Stem
from .transition import Transition

DEFAULT_INIT_CFG = [
    dict(type='Normal', std=0.001, layer=['Conv2d']),
    dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
]


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


class LiteHRNet(BaseModule):
    """Lite-HRNet backbone: `Lite-HRNet: A Lightweight High-Resolution Network
    <https://arxiv.org/abs/2104.06403>`_.

    State-dict compatible with MMPose 1.x's ``LiteHRNet`` and the official checkpoints.
    (A plain ``BaseModule``: MMPose's ``BaseBackbone`` adds nothing used here.)

    Args:
        extra: Full architecture dict in MMPose's layout; None: the ``arch`` preset.
        in_channels: Image channels.
        conv_cfg / norm_cfg: Layer configs.
        norm_eval: Keep BN layers in eval mode (frozen statistics) during training.
        with_cp: Gradient checkpointing of stem and blocks (same gradients, less memory).
        init_cfg: mmengine initialisation config (MMPose's default).
        arch: Preset name (see ``arch_settings``; ``18`` as an int means ``'18'``), used
            when ``extra`` is None.
        out_indices: Branches to return, 0 being the highest resolution. ``(0, )`` is the
            top-down pose default (MMPose's only output); all branches feed segmentation /
            HRNetV2-style heads.
        frozen_stages: Freeze (no grad, eval mode) the stem for ``>= 0``, and the first
            ``frozen_stages`` stages with their transitions. ``-1`` freezes nothing.
    """

    arch_settings: Dict[str, dict] = {k: ARCH_SETTINGS[k] for k in ('18', '30')}
    default_arch = '18'

    def __init__(self,
                 extra: Optional[dict] = None,
                 in_channels: int = 3,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = DEFAULT_INIT_CFG,
                 *,
                 arch: Optional[Union[str, int]] = None,
                 out_indices: Sequence[int] = (0, ),
                 frozen_stages: int = -1) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if isinstance(extra, (str, int)) and not isinstance(extra, bool):
            raise TypeError(f'{name}.extra: expected an architecture dict, got {extra!r}; '
                            f'a preset name is passed as arch={extra!r}')
        if extra is None:
            arch = resolve_arch(self.default_arch if arch is None else arch,
                                self.arch_settings, f'{name}.arch')
            extra = self.arch_settings[arch]
        self.arch = arch
        self.extra = validate_extra(extra, name)
        positive_int(in_channels, f'{name}.in_channels')
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
            setattr(self, f'transition{i}', Transition(channels, cur, conv_cfg, norm_cfg))
            setattr(self, f'stage{i}', self._make_stage(i, cur))
            channels = cur
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
        self._freeze_stages()

    def _make_stage(self, index: int, channels: List[int]) -> nn.Sequential:
        spec = self.stages_spec
        return nn.Sequential(*[
            LiteHRModule(spec['num_branches'][index], spec['num_blocks'][index], channels,
                         spec['reduce_ratios'][index], spec['module_type'][index],
                         multiscale_output=True, with_fuse=spec['with_fuse'][index],
                         conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, with_cp=self.with_cp)
            for _ in range(spec['num_modules'][index])
        ])

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the branches in ``out_indices`` (highest resolution first)."""
        _check_input_size(x, self.size_divisor, type(self).__name__)
        y = [self.stem(x)]
        for i in range(self.num_stages):
            y = getattr(self, f'stage{i}')(getattr(self, f'transition{i}')(y))
        if self.with_head:
            y = self.head_layer(y)
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

    def train(self, mode: bool = True) -> 'LiteHRNet':
        """Set train mode, keeping frozen stages and (with ``norm_eval``) all BN in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def switch_to_deploy(self, test_cfg: Optional[dict] = None,
                         channels_last: bool = True) -> None:
        """Inference-only deploy mode, in place: see :func:`litehrnet_mmpose.deploy.
        switch_to_deploy` (``test_cfg`` is ignored: MMPose's ``pose_model.switch_to_deploy()``
        passes its own to every submodule that has this method).

        The one call from ``models/`` into ``deploy/``, kept so that MMPose's
        ``switch_to_deploy()`` works; looked up by name, as ``deploy/`` imports this module.
        """
        importlib.import_module(f'{SCOPE}.deploy').switch_to_deploy(
            self, channels_last=channels_last)


class NaiveLiteHRNet(LiteHRNet):
    """Naive Lite-HRNet: HRNet with ShuffleNet v2 units in place of residual blocks
    (the paper's baseline, Sec. 3.1). Same arguments as :class:`LiteHRNet`; presets
    ``'naive-18'`` (30/60/120/240 channels) and ``'wider-naive-18'`` (40/80/160/320)."""

    arch_settings: Dict[str, dict] = {k: ARCH_SETTINGS[k] for k in ('naive-18',
                                                                     'wider-naive-18')}
    default_arch = 'naive-18'


MODELS.register_module(module=LiteHRNet)
MODELS.register_module(module=NaiveLiteHRNet)
