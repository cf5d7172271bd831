"""Building a config's model: a pose model for inference (ours or MMPose's reference), any
codebase's model for analysis, and the input size a config trains at.

Used by the demo, the ONNX exporter, the benchmark, summary_network and the tests; weights
load strictly.
"""
import copy
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from ..analysis.complexity import check_hw
from ..models import ARCH_SETTINGS, resolve_arch
from .checkpoint import load_strict, read_checkpoint, state_dict_of
from .config_check import check_config


def reference_backbone_cfg(backbone: dict) -> dict:
    """MMPose's own ``LiteHRNet`` config equivalent to one of our backbone configs.

    Our config names ``arch`` or ``extra``; MMPose's class only takes ``extra``.
    """
    if not isinstance(backbone, dict):
        raise TypeError(f'backbone: expected a config dict, got {type(backbone).__name__}')
    extra = backbone.get('extra')
    if extra is None:
        arch = backbone.get('arch')
        arch = resolve_arch('18' if arch is None else arch, ARCH_SETTINGS, 'backbone.arch')
        extra = ARCH_SETTINGS[arch]
    ref = dict(type='LiteHRNet', extra=copy.deepcopy(extra))
    for key in ('in_channels', 'norm_eval', 'with_cp', 'frozen_stages'):
        if key in backbone:
            ref[key] = backbone[key]
    return ref


def build_pose_model(config: Union[str, Config],
                     checkpoint: Optional[str] = None,
                     reference: bool = False) -> nn.Module:
    """Build a config's pose model on the CPU in eval mode (``mmpose.apis.init_model``).

    Args:
        config: Config path or object (our ``configs/top_down/...``).
        checkpoint: Optional MMPose 1.x checkpoint, loaded strictly.
        reference: Replace the backbone by MMPose's own ``LiteHRNet`` with the same
            architecture (see :func:`reference_backbone_cfg`).
    """
    from mmpose.apis import init_model

    if isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'config: no such file {config!r}')
        config = Config.fromfile(config)
    elif isinstance(config, Config):
        config = copy.deepcopy(config)
    else:
        raise TypeError(f'config: expected a path or mmengine Config, got '
                        f'{type(config).__name__}')
    scope = config.get('default_scope', 'mmpose')
    if scope != 'mmpose':
        raise ValueError(
            f'config {config.filename or ""!r}: default_scope={scope!r}, not an MMPose '
            "config: this builds top-down pose models (tools/demo.py, export_onnx.py, "
            "benchmark.py); a segmentation config trains and tests with tools/train.py / "
            'tools/test.py, and infers with mmseg.apis.init_model / inference_model')
    check_config(config)
    if reference:
        import mmpose.models  # noqa: F401  (registers MMPose's LiteHRNet)
        config.model.backbone = reference_backbone_cfg(config.model.backbone.to_dict())
    model = init_model(config, None, device='cpu')
    if checkpoint is not None:
        load_strict(model, state_dict_of(read_checkpoint(checkpoint)), checkpoint)
    return model.eval()


def build_model_from_config(cfg: Union[str, Config]) -> nn.Module:
    """Build ``cfg.model`` in the config's default scope (any OpenMMLab codebase)."""
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    elif not isinstance(cfg, Config):
        raise TypeError(f'cfg: expected a config path or mmengine Config, got '
                        f'{type(cfg).__name__}')
    if 'model' not in cfg:
        raise ValueError('cfg.model: the config defines no model')
    if cfg.get('default_scope') is not None:
        init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model)


def config_input_hw(cfg: Config) -> Optional[Tuple[int, int]]:
    """Input (height, width) a config trains at: ``codec.input_size`` (MMPose, stored as
    (w, h)) or ``crop_size`` (MMSeg, (h, w)); None if it names neither."""
    codec = cfg.get('codec')
    if isinstance(codec, dict) and codec.get('input_size') is not None:
        w, h = codec['input_size']
        return int(h), int(w)
    if cfg.get('crop_size') is not None:
        h, w = cfg.crop_size
        return int(h), int(w)
    return None


def resolve_input_hw(shape: Optional[Sequence[int]], cfg: Config,
                     field_name: str = '--shape') -> Tuple[int, int]:
    """Input (height, width) from a ``--shape`` value: ``[S]`` is S x S, ``[H, W]`` as is,
    None falls back to :func:`config_input_hw`."""
    if shape is None:
        hw = config_input_hw(cfg)
        if hw is None:
            raise ValueError(f'{field_name}: not given, and the config has neither '
                             'codec.input_size nor crop_size to default to')
        return hw
    shape = list(shape)
    if len(shape) == 1:
        shape *= 2
    return check_hw(tuple(shape), field_name)

