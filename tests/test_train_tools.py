"""tools/train.py and tools/dist_train.sh on the real COCO and MPII configs, retargeted
from the command line at the bundled sample data: 2 iterations of training, one evaluation."""
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parents[1]


def data_options(root: str, ann: str, batch: int) -> List[str]:
    """--cfg-options pointing a config's train/val data at a bundled sample set."""
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.batch_size={batch}', f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False', f'{loader}.dataset.data_root={root}',
                 f'{loader}.dataset.ann_file={ann}', f'{loader}.dataset.data_prefix.img=images/']
    return opts


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


def run(cmd: List[str], **env: str) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    return log


@pytest.mark.parametrize('config,options,metric', [COCO, MPII], ids=['coco', 'mpii'])
def test_train_two_iterations_and_evaluate(config: str, options: List[str], metric: str,
                                           tmp_path: Path) -> None:
    log = run([sys.executable, 'tools/train.py', config, '--work-dir', str(tmp_path),
               '--cfg-options', *options])
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-3000:]
    assert re.search(metric, log), log[-3000:]
    assert (tmp_path / 'epoch_1.pth').is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_and_test_two_cpu_processes(tmp_path: Path) -> None:
    """torchrun with 2 processes on the CPU (gloo): each rank trains on half the data, then
    both evaluate the checkpoint."""
    config, options, metric = COCO
    log = run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(tmp_path),
               '--cfg-options', *options], PYTHON=sys.executable, PORT=str(free_port()))
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log, log[-3000:]
    assert "'backend': 'gloo'" in log
    # 14 people, 7 per batch and 2 ranks: one iteration per rank per epoch.
    assert re.search(r'Epoch\(train\)\s+\[1\]\[1/1\]', log), log[-3000:]
    assert re.search(metric, log)
    assert (tmp_path / 'epoch_1.pth').is_file()
    # dist_test.sh evaluates that checkpoint with the same 2 processes.
    log = run(['bash', 'tools/dist_test.sh', config, str(tmp_path / 'epoch_1.pth'), '2',
               '--work-dir', str(tmp_path / 'test'), '--cfg-options', *options],
              PYTHON=sys.executable, PORT=str(free_port()))
    assert 'GPU number: 2' in log and re.search(metric, log), log[-3000:]
