"""Complexity report: the paper-convention counter reproduces the official README's FLOPs,
and ``tools/summary_network.py`` prints both conventions."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from litehrnet_mmpose.analysis import EXPLANATION, PAPER_UNIT, analyze_complexity, paper_flops
from litehrnet_mmpose.apis.models import build_model_from_config, resolve_input_hw

ROOT = Path(__file__).resolve().parents[1]
LITE = 'configs/top_down/lite_hrnet'
NAIVE = 'configs/top_down/naive_litehrnet'

# (config, H, W, published FLOPs in M = 2**20, published #Params in M, our exact #Params).
# Published figures: the official Lite-HRNet README (backbone + 1x1 heatmap head).
PUBLISHED = [
    (f'{LITE}/coco/litehrnet_18_coco_256x192.py', 256, 192, 205.2, 1.1, 1_130_769),
    (f'{LITE}/coco/litehrnet_18_coco_384x288.py', 384, 288, 461.6, 1.1, 1_130_769),
    (f'{LITE}/coco/litehrnet_30_coco_256x192.py', 256, 192, 319.2, 1.8, 1_763_717),
    (f'{LITE}/coco/litehrnet_30_coco_384x288.py', 384, 288, 717.8, 1.8, 1_763_717),
    (f'{LITE}/mpii/litehrnet_18_mpii_256x256.py', 256, 256, 273.4, 1.1, 1_130_728),
    (f'{LITE}/mpii/litehrnet_30_mpii_256x256.py', 256, 256, 425.3, 1.8, 1_763_676),
    (f'{NAIVE}/coco/naive_litehrnet_18_coco_256x192.py', 256, 192, 194.8, 0.7, 760_365),
    (f'{NAIVE}/coco/wider_naive_litehrnet_18_coco_256x192.py', 256, 192, 311.1, 1.3, 1_318_625),
    (f'{NAIVE}/mpii/naive_litehrnet_18_mpii_256x256.py', 256, 256, 259.6, 0.7, 760_334),
    (f'{NAIVE}/mpii/wider_naive_litehrnet_18_mpii_256x256.py', 256, 256, 418.7, 1.3, 1_318_584),
]

# The one published figure the convention does not reproduce: Wider Naive Lite-HRNet-18 on
# MPII. We measure 414.58M (414.6 under any reading of the counter), 4.1M short of the
# README's 418.7, while the same network at COCO 256x192 matches (311.1). We pin our value.
WIDER_NAIVE_MPII_MEASURED = 414.6
# Naive Lite-HRNet-18 has 0.76M parameters (backbone 759,838 + head), which rounds to 0.8M;
# the README prints 0.7M. Every other row rounds to its published figure. We assert the exact
# counts above and the published rounding only where it holds.
PARAMS_MISPRINTED = {0.7}


@pytest.mark.parametrize('config,height,width,flops,params_m,params',
                         PUBLISHED, ids=[Path(row[0]).stem for row in PUBLISHED])
def test_paper_convention_matches_published(config: str, height: int, width: int,
                                            flops: float, params_m: float,
                                            params: int) -> None:
    """Paper-convention FLOPs and #Params against the official README."""
    model = build_model_from_config(str(ROOT / config)).eval()
    measured = sum(paper_flops(model, torch.randn(1, 3, height, width)).values()) / PAPER_UNIT
    # Counts, not float results: the README prints FLOPs to 0.1 M, so a match is within its
    # last digit (abs=0.1); our own pinned 414.6, a rounding of 414.58, within half of it.
    if 'wider_naive' in config and 'mpii' in config:
        assert measured == pytest.approx(WIDER_NAIVE_MPII_MEASURED, abs=0.05)
        assert abs(measured - flops) > 4  # the README figure is not reproduced
    else:
        assert measured == pytest.approx(flops, abs=0.1)
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == params
    if params_m not in PARAMS_MISPRINTED:
        assert round(n_params / 1e6, 1) == params_m


class _Twice(nn.Module):
    """One conv called on two input sizes, plus an unhooked functional op."""

    def __init__(self) -> None:
        """A conv and a Sigmoid."""
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)
        self.act = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Conv at half and full size, combined."""
        small = self.conv(x[..., ::2, ::2])
        big = self.conv(x)
        return self.act(big) + nn.functional.interpolate(small, size=big.shape[-2:])


def test_counting_rules() -> None:
    """Paper convention: a module called twice counts once (its last call), Sigmoid and
    functional ops count 0; mmengine counts every executed conv and the interpolation."""
    report = analyze_complexity(_Twice(), (8, 8))
    conv_big = 4 * 8 * 8 * 3 * 3 * 2
    conv_small = 4 * 4 * 4 * 3 * 3 * 2
    assert report.total.paper_flops == conv_big
    assert report.total.mmengine_flops == conv_big + conv_small + 4 * 8 * 8
    assert [r.name for r in report.rows] == ['conv', 'total']


def test_resolve_input_hw() -> None:
    """--shape S / H W / config default, and errors naming the field."""
    cfg = Config(dict(codec=dict(input_size=(192, 256))))
    assert resolve_input_hw(None, cfg) == (256, 192)
    assert resolve_input_hw([320], cfg) == (320, 320)
    assert resolve_input_hw([384, 288], cfg) == (384, 288)
    assert resolve_input_hw(None, Config(dict(crop_size=(512, 1024)))) == (512, 1024)
    with pytest.raises(ValueError, match='--shape'):
        resolve_input_hw([1, 2, 3], cfg)
    with pytest.raises(ValueError, match='--shape'):
        resolve_input_hw([0, 8], cfg)
    with pytest.raises(ValueError, match='--shape'):
        resolve_input_hw(None, Config(dict()))
    with pytest.raises(TypeError, match='model'):
        analyze_complexity('not a model', (8, 8))


@pytest.mark.slow
def test_tool_prints_both_columns() -> None:
    """The tool prints the per-stage table with both columns and the explanation."""
    config = ROOT / PUBLISHED[0][0]
    env = dict(os.environ, OMP_NUM_THREADS='1')  # tracing runs faster without contention
    result = subprocess.run([sys.executable, str(ROOT / 'tools/summary_network.py'),
                             str(config)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'input 1x3x256x192' in out  # default shape from the config's codec
    assert 'FLOPs (M = 1e6, mmengine)' in out
    assert 'FLOPs (M = 2^20, paper convention)' in out
    for part in ('stem', 'transition0', 'stage2', 'head_layer', 'head', 'total'):
        assert f'| {part} ' in out
    total = next(line for line in out.splitlines() if line.startswith('| total'))
    assert '205.2' in total and '1,130,769' in total
    assert EXPLANATION in out
