"""Cityscapes segmentation with our Lite-HRNet in MMSegmentation 1.x: the configs build and
run, ``litehrnet_mmpose.LiteHRNet`` resolves from mmseg's registry in either import order
without touching mmseg's (or MMPose's) own entries, and tools/train.py / tools/test.py train,
validate and test on a tiny Cityscapes-layout dataset."""
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.registry import DefaultScope

from .helpers import ROOT, SEG_CONFIG_DIR, SEG_CONFIGS, write_tiny_cityscapes


def run_python(*args: str) -> str:
    """Run ``python ARGS`` in the repository root; return stdout + stderr, failing on error."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def metafile_models() -> List[dict]:
    return yaml.safe_load((SEG_CONFIG_DIR / 'metafile.yml').read_text())['Models']


def test_both_archs_have_a_config_and_a_metafile_entry() -> None:
    assert [p.name for p in SEG_CONFIGS] == [
        'litehrnet_18_cityscapes_512x1024.py', 'litehrnet_30_cityscapes_512x1024.py']
    models = metafile_models()
    assert [m['Config'] for m in models] == [str(p.relative_to(ROOT)) for p in SEG_CONFIGS]
    assert [m['Results'][0]['Metrics']['mIoU'] for m in models] == [73.8, 76.0]


@pytest.mark.parametrize('config', SEG_CONFIGS, ids=lambda p: p.stem)
def test_config_builds_and_runs_forward(config: Path) -> None:
    from mmseg.registry import MODELS

    import litehrnet_mmpose
    cfg = Config.fromfile(config)
    assert cfg.default_scope == 'mmseg'
    assert cfg.model.data_preprocessor.size == (512, 1024) == cfg.crop_size
    with DefaultScope.overwrite_default_scope(cfg.default_scope):  # leave other tests' scope
        model = MODELS.build(cfg.model).eval()
    # The README's / metafile's measured #Params.
    params = {m['Config']: m['Metadata']['Parameters (measured, M)'] for m in metafile_models()}
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == params[
        str(config.relative_to(ROOT))]
    assert type(model.backbone) is litehrnet_mmpose.LiteHRNet
    assert model.backbone.arch == config.stem.split('_')[1]
    head = cfg.model.decode_head
    assert list(head.in_channels) == model.backbone.out_channels
    assert head.channels == sum(model.backbone.out_channels)
    # A smaller input than the 512x1024 crops keeps this quick; tensor mode gives the
    # decode head's logits at 1/4 of the input.
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 128, 256), None, mode='tensor')
    assert tuple(logits.shape) == (1, head.num_classes, 32, 64)


# Run in a fresh interpreter per import order: which of MMPose / mmseg creates its registries
# first decides the order of the root registry's children, hence what a depth-first search
# for the 'litehrnet_mmpose' scope finds first.
REGISTRY_CHECK = r'''
import json, sys
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.registry import MODELS as ROOT_MODELS
if sys.argv[1] == 'pose-first':
    import litehrnet_mmpose
from mmseg.registry import MODELS as SEG_MODELS
from mmpose.registry import MODELS as POSE_MODELS
for reg in (SEG_MODELS, POSE_MODELS):
    reg.import_from_location()
seg_before, pose_before = dict(SEG_MODELS.module_dict), dict(POSE_MODELS.module_dict)
import litehrnet_mmpose.seg
from litehrnet_mmpose import LiteHRNet

def build(scope, type_):
    with DefaultScope.overwrite_default_scope(scope):
        return type(ROOT_MODELS.build(dict(type=type_, out_indices=(0, 1, 2, 3))))

init_default_scope('mmseg')
out = dict(
    seg_untouched=SEG_MODELS.module_dict == seg_before and 'LiteHRNet' not in SEG_MODELS,
    pose_untouched=POSE_MODELS.module_dict == pose_before,
    pose_own_is_mmposes=POSE_MODELS.get('LiteHRNet').__module__.startswith('mmpose.'),
    from_seg=build('mmseg', 'litehrnet_mmpose.LiteHRNet') is LiteHRNet,
    from_pose=build('mmpose', 'litehrnet_mmpose.LiteHRNet') is LiteHRNet,
    from_seg_registry=SEG_MODELS.get('litehrnet_mmpose.LiteHRNet') is LiteHRNet,
    seg_child=SEG_MODELS.children['litehrnet_mmpose'] is litehrnet_mmpose.seg.MODELS,
    search_root=ROOT_MODELS._search_child('litehrnet_mmpose').get('LiteHRNet') is LiteHRNet,
    search_root_parent=ROOT_MODELS._search_child('litehrnet_mmpose').parent.scope,
)
print('RESULT', json.dumps(out))
'''


@pytest.mark.slow
@pytest.mark.parametrize('order,first', [('pose-first', 'mmpose'), ('seg-first', 'mmseg')])
def test_registry_resolves_ours_in_either_import_order(order: str, first: str) -> None:
    log = run_python('-c', REGISTRY_CHECK, order)
    result = json.loads(re.search(r'^RESULT (.*)$', log, re.M).group(1))
    # The depth-first search from the root finds whichever same-scope child came first (so
    # both orders really were exercised); building with the prefix never depends on it.
    assert result.pop('search_root_parent') == first
    assert all(result.values()), result


def tiny_config(tmp_path: Path) -> Path:
    """The real 18 config with its resize scales and crop shrunk 16x (64x128 crops)."""
    cfg = Config.fromfile(SEG_CONFIGS[0])
    crop = (64, 128)
    pipelines = (cfg.train_dataloader.dataset.pipeline, cfg.val_dataloader.dataset.pipeline,
                 cfg.test_dataloader.dataset.pipeline)
    for transform in (t for pipeline in pipelines for t in pipeline):
        if 'scale' in transform:
            transform.scale = (crop[1], crop[0])
        if transform.type == 'RandomCrop':
            transform.crop_size = crop
    path = tmp_path / 'tiny_litehrnet_18_cityscapes.py'
    cfg.dump(str(path))
    return path


@pytest.mark.slow
def test_train_two_iterations_validate_and_test(tmp_path: Path) -> None:
    data, work = tmp_path / 'cityscapes', tmp_path / 'work'
    write_tiny_cityscapes(data)
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    options = [f'{k}.dataset.data_root={data}' for k in loaders]
    options += [f'{k}.{key}={value}' for k in loaders for key, value in (
        ('batch_size', 1), ('num_workers', 0), ('persistent_workers', False))]
    options += ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1',
                'model.data_preprocessor.size=(64,128)', 'env_cfg.cudnn_benchmark=False']
    config = str(tiny_config(tmp_path))
    log = run_python('tools/train.py', config, '--work-dir', str(work), '--cfg-options',
                     *options)
    assert re.search(r'Iter\(train\)\s+\[2/2\].*loss', log), log[-3000:]
    assert re.search(r'Iter\(val\) \[2/2\].*mIoU: \d+\.\d+', log), log[-3000:]
    assert (work / 'iter_2.pth').is_file()
    # The test tool loads it (weights-only, through StrictCheckpointHook's fit check) and
    # evaluates.
    log = run_python('tools/test.py', config, str(work / 'iter_2.pth'), '--work-dir',
                     str(tmp_path / 'test'), '--cfg-options', *options)
    assert re.search(r'Iter\(test\) \[2/2\].*mIoU: \d+\.\d+', log), log[-3000:]
