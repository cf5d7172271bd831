"""Plain helpers and constants shared by several test modules (fixtures live in conftest.py).

Test modules import them relatively: ``from .helpers import build``.
"""
import importlib.util
import os
import socket
import subprocess
from pathlib import Path
from types import ModuleType
from typing import List, Sequence

import cv2
import numpy as np
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from litehrnet_mmpose import ARCH_SETTINGS, MODELS

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART_CONFIG = str(ROOT / 'configs/quickstart/litehrnet_18_sample_coco_256x192.py')

# ------------------------------------------------------------------ backbones

ARCHS = {'18': 'LiteHRNet', '30': 'LiteHRNet', 'naive-18': 'NaiveLiteHRNet',
         'wider-naive-18': 'NaiveLiteHRNet'}
H, W = 64, 96  # smallest sizes that keep every branch > 1 pixel, still divisible by 32


def build(arch: str, **kwargs) -> torch.nn.Module:
    """Build through the registry from a config dict, as a config file would."""
    torch.manual_seed(0)
    model = MODELS.build(dict(type=f'litehrnet_mmpose.{ARCHS[arch]}', arch=arch, **kwargs))
    model.init_weights()
    return model


def small_extra(module_type: str = 'LITE', num_stages: int = 3) -> dict:
    """The presets' layout cut down to one single-block module per stage and 16/32/64/128
    channels: the same code paths (stem, both kinds of transition, fusion up and down by 1-3
    steps, the iterative head) with a fraction of the ops, for tests whose cost grows with
    the op count (graph capture). ``num_stages=2`` stops at three branches."""
    branches = (2, 3, 4)[:num_stages]
    return dict(
        stem=dict(stem_channels=16, out_channels=16, expand_ratio=1),
        num_stages=num_stages,
        stages_spec=dict(
            num_modules=(1, ) * num_stages, num_branches=branches, num_blocks=(1, ) * num_stages,
            module_type=(module_type, ) * num_stages, with_fuse=(True, ) * num_stages,
            reduce_ratios=(4, ) * num_stages,
            num_channels=tuple(tuple(16 * 2**b for b in range(n)) for n in branches)),
        with_head=True)


def build_small(module_type: str = 'LITE', num_stages: int = 3, **kwargs) -> torch.nn.Module:
    """``build`` for ``small_extra``, every branch out."""
    torch.manual_seed(0)
    model = MODELS.build(dict(type='litehrnet_mmpose.LiteHRNet',
                              extra=small_extra(module_type, num_stages),
                              out_indices=tuple(range(num_stages + 1)), **kwargs))
    model.init_weights()
    return model


def build_reference(arch: str, init_weights: bool = True) -> torch.nn.Module:
    """MMPose 1.3.2's own LiteHRNet with the same ``extra`` as our preset ``arch``."""
    import mmpose.models  # noqa: F401  (registers MMPose's backbones)
    from mmpose.registry import MODELS as MMPOSE_MODELS
    torch.manual_seed(0)
    ref = MMPOSE_MODELS.build(dict(type='LiteHRNet', extra=ARCH_SETTINGS[arch]))
    if init_weights:
        ref.init_weights()
    return ref


def randomize_bn(model: torch.nn.Module, seed: int = 1) -> None:
    """Give every BN non-trivial statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


# ------------------------------------------------------------------ tools


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` (tools/ is not a package) to call its ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(name, ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(cmd: List[str], **env: str) -> str:
    """Run ``cmd`` in the repository root; its stdout + stderr, failing on a non-zero exit."""
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    return log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ bundled sample data


def data_options(root: str, ann: str, batch: int) -> List[str]:
    """--cfg-options pointing a config's train/val data at a bundled sample set."""
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size={batch}', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False', f'{loader}.dataset.data_root={root}',
                 f'{loader}.dataset.ann_file={ann}', f'{loader}.dataset.data_prefix.img=images/']
    return opts


# (config, --cfg-options, metric regex): the real configs retargeted at the bundled samples.
COCO = ('configs/top_down/lite_hrnet/coco/litehrnet_18_coco_256x192.py',
        data_options('samples/coco/', 'person_keypoints_sample.json', 7) + [
            'val_dataloader.dataset.bbox_file=None', 'test_dataloader.dataset.bbox_file=None',
            'val_evaluator.ann_file=samples/coco/person_keypoints_sample.json',
            'test_evaluator.ann_file=samples/coco/person_keypoints_sample.json'],
        r'coco/AP: \d')
# The bundled MPII sample has no head boxes (mpii_gt_val.mat), so PCK is normalised by the
# person box instead of the head size.
MPII = ('configs/top_down/lite_hrnet/mpii/litehrnet_18_mpii_256x256.py',
        data_options('samples/mpii/', 'mpii_sample.json', 3) + [
            'val_dataloader.dataset.headbox_file=None', 'val_evaluator.type=PCKAccuracy',
            'val_evaluator.norm_item=bbox'],
        r'PCK: \d')

# ------------------------------------------------------------------ segmentation

SEG_CONFIG_DIR = ROOT / 'configs' / 'segmentation' / 'cityscapes'
SEG_CONFIGS = sorted(SEG_CONFIG_DIR.glob('litehrnet_*_cityscapes_512x1024.py'))


def write_tiny_cityscapes(root: Path, splits: Sequence[str] = ('train', 'val')) -> None:
    """Two 64x128 images with random train-id labels (0..18, some 255) per split."""
    rng = np.random.default_rng(0)
    for split in splits:
        for i in range(2):
            img_dir = root / 'leftImg8bit' / split / 'city'
            ann_dir = root / 'gtFine' / split / 'city'
            img_dir.mkdir(parents=True, exist_ok=True)
            ann_dir.mkdir(parents=True, exist_ok=True)
            label = rng.integers(0, 19, (8, 16), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
            label[:8, :8] = 255
            image = (rng.random((64, 128, 3)) * 60 + label[..., None] * 10).astype(np.uint8)
            cv2.imwrite(str(img_dir / f'x{i}_leftImg8bit.png'), image)
            cv2.imwrite(str(ann_dir / f'x{i}_gtFine_labelTrainIds.png'), label)


def segmentation_sample_options(data: Path) -> List[str]:
    """--cfg-options running the shipped Cityscapes config on ``write_tiny_cityscapes``'s
    data: resize scales and crop shrunk 16x (64x128 crops), one image per batch."""
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    options = [f'{k}.{key}={value}' for k in loaders for key, value in (
        ('dataset.data_root', data), ('batch_size', 1), ('num_workers', 0),
        ('persistent_workers', False))]
    return options + [
        'train_dataloader.dataset.pipeline.2.scale=(128,64)',
        'train_dataloader.dataset.pipeline.3.crop_size=(64,128)',
        'val_dataloader.dataset.pipeline.1.scale=(128,64)',
        'test_dataloader.dataset.pipeline.1.scale=(128,64)',
        'model.data_preprocessor.size=(64,128)', 'env_cfg.cudnn_benchmark=False',
        'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1']
