"""Published weights: official (MMPose 0.x) checkpoints convert and predict identically;
MMPose 1.x checkpoints of MMPose's own LiteHRNet load directly; mismatches are reported."""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from litehrnet_mmpose.apis.inference import load_bboxes, predict_and_draw
from litehrnet_mmpose.apis.models import build_pose_model

from .helpers import ROOT, randomize_bn

CONFIG = str(ROOT / 'configs/top_down/lite_hrnet/coco/litehrnet_18_coco_256x192.py')
IMAGE = str(ROOT / 'samples/coco/images/000000000785.jpg')
DETS = str(ROOT / 'samples/coco/person_detection_sample.json')


@pytest.fixture(scope='module')
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """MMPose's model with random weights, saved in the official and the 1.x layouts."""
    tmp = tmp_path_factory.mktemp('ckpt')
    torch.manual_seed(0)
    model = build_pose_model(CONFIG, reference=True)  # MMPose's own LiteHRNet inside
    randomize_bn(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    sd = model.state_dict()
    # The official checkpoints' key set: MMPose 0.x TopDown = backbone.* + keypoint_head.*
    official = {('keypoint_head.' + k[len('head.'):] if k.startswith('head.') else k): v
                for k, v in sd.items()}
    assert sum(k.startswith('keypoint_head.final_layer.') for k in official) == 2
    paths = dict(official=tmp / 'official.pth', mmpose1=tmp / 'mmpose1.pth',
                 converted=tmp / 'converted.pth')
    torch.save({'meta': {'epoch': 210}, 'state_dict': official}, paths['official'])
    torch.save({'meta': {}, 'state_dict': sd}, paths['mmpose1'])
    boxes = load_bboxes(DETS, IMAGE, 0.5)
    kpts, scores = predict_and_draw(model, IMAGE, boxes, None)
    return dict(paths=paths, keypoints=kpts, scores=scores, boxes=boxes, tmp=tmp)


def assert_same_predictions(kpts: np.ndarray, scores: np.ndarray, reference: dict) -> None:
    """Ours with the weights against MMPose's LiteHRNet: identical today (measured 0 on an
    AMD EPYC Zen 3: the forwards are bit-exact, see test_parity); 1e-3 px and 1e-5 in score
    leave room for heatmap rounding (~1e-6) through the decoder's sub-pixel refinement."""
    np.testing.assert_allclose(kpts, reference['keypoints'], atol=1e-3)
    np.testing.assert_allclose(scores, reference['scores'], atol=1e-5)


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_official_checkpoint_converts_and_predicts_identically(reference: dict) -> None:
    paths = reference['paths']
    proc = run_tool('tools/convert_checkpoint.py', str(paths['official']),
                    str(paths['converted']), '--config', CONFIG)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = build_pose_model(CONFIG, str(paths['converted']))
    kpts, scores = predict_and_draw(model, IMAGE, reference['boxes'], None)
    assert kpts.shape == reference['keypoints'].shape and len(kpts) >= 1
    assert_same_predictions(kpts, scores, reference)


def test_mmpose1_checkpoint_loads_directly(reference: dict) -> None:
    model = build_pose_model(CONFIG, str(reference['paths']['mmpose1']))
    kpts, scores = predict_and_draw(model, IMAGE, reference['boxes'], None)
    assert_same_predictions(kpts, scores, reference)


@pytest.mark.slow
def test_wrong_architecture_is_reported_not_partially_loaded(reference: dict) -> None:
    proc = run_tool('tools/convert_checkpoint.py', str(reference['paths']['official']),
                    str(reference['tmp'] / 'wrong.pth'), '--config',
                    str(ROOT / 'configs/top_down/lite_hrnet/coco/litehrnet_30_coco_256x192.py'))
    assert proc.returncode != 0
    assert 'missing key(s)' in proc.stderr and 'backbone.stage0.2.' in proc.stderr
    assert not (reference['tmp'] / 'wrong.pth').exists()


@pytest.mark.slow
def test_official_checkpoint_given_to_test_tool_points_to_converter(reference: dict) -> None:
    proc = run_tool('tools/test.py', 'configs/quickstart/litehrnet_18_sample_coco_256x192.py',
                    str(reference['paths']['official']), '--work-dir',
                    str(reference['tmp'] / 'work'))
    assert proc.returncode != 0
    assert 'convert_checkpoint.py' in proc.stderr


@pytest.mark.slow
def test_test_tool_evaluates_a_converted_checkpoint(reference: dict) -> None:
    proc = run_tool('tools/test.py', 'configs/quickstart/litehrnet_18_sample_coco_256x192.py',
                    str(reference['paths']['mmpose1']), '--work-dir',
                    str(reference['tmp'] / 'work'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'coco/AP:' in proc.stdout + proc.stderr


class _RunsCode:
    """A pickle payload that would run a shell command when unpickled."""

    def __reduce__(self) -> tuple:
        import os
        return os.system, ('echo pwned',)


def evil_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsCode()}, path)
    return path


def test_loading_never_runs_code_from_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(pickle.UnpicklingError, match='system'):
        torch.load(evil_checkpoint(tmp_path))


@pytest.mark.slow
def test_converter_never_runs_code_from_a_checkpoint(tmp_path: Path) -> None:
    path = evil_checkpoint(tmp_path)
    proc = run_tool('tools/convert_checkpoint.py', str(path), str(tmp_path / 'out.pth'))
    assert proc.returncode != 0 and 'cannot be loaded weights-only' in proc.stderr
    assert 'pwned' not in proc.stdout
