"""The torch-free runtime in a process where importing torch or any OpenMMLab package
raises: same keypoints as the PyTorch path on every bundled COCO person, flip test on and
off."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from litehrnet_mmpose.apis.pose_inference import TorchBackend
from litehrnet_runtime import TopDownEstimator

from .helpers import ROOT

BLOCKED = ('torch', 'torchvision', 'mmcv', 'mmengine', 'mmpose', 'mmdet', 'mmseg',
           'litehrnet_mmpose', 'onnx')
# Installs a finder that refuses the packages above, checks it works, then runs the CLI.
BLOCKER = f'''
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
for name in {BLOCKED!r}:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit('the import blocker let ' + name + ' through')
from litehrnet_runtime.cli import main
status = main(sys.argv[1:])
leaked = sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r})
assert not leaked, leaked
sys.exit(status)
'''


def gt_detections(path: Path) -> dict:
    """The bundled COCO ground-truth boxes as a COCO detections file; boxes by file name."""
    ann = json.loads((ROOT / 'samples/coco/person_keypoints_sample.json').read_text())
    dets = [dict(image_id=a['image_id'], bbox=a['bbox'], score=1.0, category_id=1)
            for a in ann['annotations']]
    path.write_text(json.dumps(dets))
    names = {im['id']: im['file_name'] for im in ann['images']}
    boxes: dict = {}
    for a in ann['annotations']:
        x, y, w, h = a['bbox']
        boxes.setdefault(names[a['image_id']], []).append([x, y, x + w, y + h])
    return boxes


@pytest.mark.slow
@pytest.mark.parametrize('flip', [True, False])
def test_torch_free_runtime_matches_pytorch(pose_model: torch.nn.Module, pose_onnx: str,
                                            tmp_path: Path, flip: bool) -> None:
    boxes = gt_detections(tmp_path / 'dets.json')
    out = tmp_path / 'pred'
    cmd = [sys.executable, '-c', BLOCKER, str(ROOT / 'samples/coco/images'), '--pose2d',
           pose_onnx, '--bboxes', str(tmp_path / 'dets.json'), '--bbox-thr', '0',
           '--pred-out-dir', str(out), '--vis-out-dir', str(tmp_path / 'vis'), '--quiet']
    proc = subprocess.run(cmd + ([] if flip else ['--no-flip-test']), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    torch_path = TopDownEstimator(TorchBackend(pose_model), flip_test=flip)
    worst = 0.
    for name, person_boxes in boxes.items():
        people = json.loads((out / (Path(name).stem + '.json')).read_text())
        got = np.array([p['keypoints'] for p in people], np.float32)
        want, _ = torch_path.estimate(cv2.imread(str(ROOT / 'samples/coco/images' / name)),
                                      np.array(person_boxes, np.float32))
        assert got.shape == want.shape
        worst = max(worst, np.abs(got - want).max())
        assert (tmp_path / 'vis' / name).is_file()
    # 0.5 px is the bound; the JSON rounds to 0.01 px
    assert worst <= 0.5
    assert (out / 'coco_keypoint_results.json').is_file()
