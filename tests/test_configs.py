"""Every config under configs/ builds its model and runs a forward pass at its input size."""
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
