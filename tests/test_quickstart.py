"""The README's main job, shortened: train on the bundled images through tools/train.py
(validating before and after), then draw skeletons with tools/demo.py."""
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow  # every test here trains or runs tools/ in subprocesses

ROOT = Path(__file__).resolve().parents[1]
CONFIG = 'configs/quickstart/litehrnet_18_sample_coco_256x192.py'
IMAGE = 'samples/coco/images/000000196141.jpg'


def run(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp('quickstart')
    log = run('tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options',
              'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
              'default_hooks.checkpoint.interval=2')
    # Validated twice (untrained, trained) with COCO AP via xtcocotools, then summarised.
    aps = re.findall(r'coco/AP: (\d+\.\d+)', log)
    assert len(aps) >= 2, log[-3000:]
    assert re.search(r'validation before -> after training: coco/AP: [\d.]+ -> [\d.]+, '
                     r'coco/AR: [\d.]+ -> [\d.]+$', log, re.M)
    assert re.search(r'Epoch\(train\)\s+\[2\]\[1/1\].*eta.*loss', log)
    assert (work / 'epoch_2.pth').is_file()
    return work


def test_training_writes_checkpoint_and_reports_ap(trained: Path) -> None:
    assert (trained / 'last_checkpoint').read_text().strip().endswith('epoch_2.pth')


def test_demo_draws_skeletons_and_prints_keypoints(trained: Path) -> None:
    out = trained / 'skeletons.png'
    log = run('tools/demo.py', CONFIG, str(trained / 'epoch_2.pth'), IMAGE, '--bboxes',
              'samples/coco/person_detection_sample.json', '--bbox-thr', '0.5', '--kpt-thr',
              '0', '--out', str(out))
    m = re.search(r'(\d+) person\(s\), keypoints array \((\d+), 17, 2\)', log)
    assert m and m.group(1) == m.group(2) and int(m.group(1)) >= 1, log[-2000:]
    assert log.count('left_ankle') == int(m.group(1))
    drawn, original = cv2.imread(str(out)), cv2.imread(str(ROOT / IMAGE))
    assert drawn is not None and drawn.shape == original.shape
    assert (drawn != original).any()
    # With --kpt-thr 0 every keypoint is drawn as a filled circle: the pixel at each printed
    # keypoint of the first person must have been painted over.
    kpts = np.array(re.findall(r'x=\s*([\d.]+) y=\s*([\d.]+)', log), dtype=float)
    changed = (drawn != original).any(axis=2)
    assert all(changed[int(y), int(x)] for x, y in kpts[:17]
               if 0 <= int(y) < changed.shape[0] and 0 <= int(x) < changed.shape[1])


def test_resume_continues_from_the_last_checkpoint(trained: Path) -> None:
    """mmengine's checkpoints load under PyTorch's weights-only default (see
    litehrnet_mmpose.engine.checkpoint_rules), so --resume works and continues at epoch 3."""
    log = run('tools/train.py', CONFIG, '--work-dir', str(trained), '--resume',
              '--cfg-options', 'train_cfg.max_epochs=3', 'train_cfg.val_interval=3',
              'default_hooks.checkpoint.interval=3')
    assert 'resumed epoch: 2' in log, log[-3000:]
    assert re.search(r'Epoch\(train\)\s+\[3\]\[1/1\]', log)
    assert not re.search(r'Epoch\(train\)\s+\[1\]', log)
    assert (trained / 'epoch_3.pth').is_file()
