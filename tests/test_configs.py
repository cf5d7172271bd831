"""Every config under configs/ builds its model and runs a forward pass at its input size;
the configs README's commands for the bundled samples run as written."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]
# Pose configs (segmentation ones are covered by test_segmentation.py).
CONFIGS = sorted(str(p.relative_to(ROOT)) for sub in ('top_down', 'quickstart')
                 for p in (ROOT / 'configs' / sub).rglob('*.py') if '_base_' not in p.parts)


def test_every_published_row_has_a_config() -> None:
    names = {Path(c).name for c in CONFIGS}
    for arch in ('18', '30'):
        for size in ('256x192', '384x288'):
            assert f'litehrnet_{arch}_coco_{size}.py' in names
        assert f'litehrnet_{arch}_mpii_256x256.py' in names
    for variant in ('naive', 'wider_naive'):
        assert f'{variant}_litehrnet_18_coco_256x192.py' in names
        assert f'{variant}_litehrnet_18_mpii_256x256.py' in names


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_runs_forward(config: str) -> None:
    cfg = Config.fromfile(ROOT / config)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model).eval()
    codec = cfg.model.head.decoder
    w, h = codec.input_size
    with torch.no_grad():
        heatmaps = model(torch.randn(1, 3, h, w), None, mode='tensor')
    hw, hh = codec.heatmap_size
    assert tuple(heatmaps.shape) == (1, cfg.model.head.out_channels, hh, hw)
    assert cfg.model.head.in_channels == model.backbone.out_channels[0]


README = ROOT / 'configs/top_down/lite_hrnet/README.md'
SAMPLE_BLOCKS = [b for b in re.findall(r'```shell\n(.*?)```', README.read_text(), re.S)
                 if 'samples/' in b]


@pytest.mark.slow
@pytest.mark.parametrize('block,metric', list(zip(SAMPLE_BLOCKS, [r'coco/AP: \d', r'PCK: \d'])),
                         ids=['coco', 'mpii'])
def test_readme_sample_commands_run_as_written(block: str, metric: str,
                                               tmp_path: Path) -> None:
    """Each block, with work_dirs/ moved to a temporary directory and ``python`` being this
    interpreter: trains an epoch, then tests its checkpoint."""
    assert len(SAMPLE_BLOCKS) == 2
    env = {**os.environ, 'PATH': f'{Path(sys.executable).parent}:{os.environ["PATH"]}'}
    proc = subprocess.run(['bash', '-euo', 'pipefail', '-c',
                           block.replace('work_dirs/', f'{tmp_path}/')], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert re.search(r'Epoch\(train\)\s+\[1\]', log), log[-3000:]
    assert re.search(r'Epoch\(test\).*' + metric, log), log[-3000:]


def _mmpose_zoo() -> dict:
    """(arch, dataset, input size) -> Weights URL, from MMPose 1.3.2's own LiteHRNet
    metafiles (installed with mmpose)."""
    import mmpose
    import yaml
    zoo = {}
    for path in (Path(mmpose.__file__).parent / '.mim/configs/body_2d_keypoint').rglob(
            'litehrnet_*.yml'):
        for model in yaml.safe_load(path.read_text())['Models']:
            m = re.search(r'litehrnet-(\d+)_.*_(coco|mpii)-(\d+x\d+)', model['Name'])
            zoo[m.groups()] = model['Weights']
    return zoo


@pytest.mark.parametrize('variant', ['lite_hrnet', 'naive_litehrnet'])
def test_metafiles_list_the_published_checkpoints(variant: str) -> None:
    """Every config's metafile entry links its official checkpoint (the README table's) and,
    for Lite-HRNet, MMPose 1.x's own, which must be the one MMPose's metafile lists."""
    import yaml
    folder = ROOT / 'configs/top_down' / variant
    models = yaml.safe_load((folder / 'metafile.yml').read_text())['Models']
    configs = {str(p.relative_to(ROOT)) for p in folder.rglob('*.py')}
    assert {m['Config'] for m in models} == configs
    readme = (folder / 'README.md').read_text()
    zoo = _mmpose_zoo()
    for model in models:
        assert model['Weights'].startswith('https://drive.google.com/')
        assert f'[config]({Path(model["Config"]).relative_to(folder.relative_to(ROOT))}) | ' \
               f'[GoogleDrive]({model["Weights"]})' in readme, model['Name']
        m = re.fullmatch(r'litehrnet_(\d+)_(coco|mpii)_(\d+x\d+)', model['Name'])
        if variant == 'lite_hrnet':
            url = model['Metadata']['MMPose 1.x weights']
            assert url == zoo[m.groups()] and url in readme, model['Name']
        else:
            assert 'MMPose 1.x weights' not in model['Metadata']
