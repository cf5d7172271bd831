"""Nothing lost: a real tools/train.py run killed with SIGKILL mid-epoch, or while writing a
checkpoint, resumes with --resume and ends bit-identical to an uninterrupted run.

The COCO config on the bundled sample (12 people, batch 4: 3 iterations per epoch, with
its random flips, half-body crops and box jitter), 2 epochs, a checkpoint and a validation
after every epoch, ``randomness.deterministic=True``.
"""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch

from litehrnet_mmpose.apis.checkpoint import find_resume_checkpoint, read_checkpoint

from .helpers import (COCO, ROOT, SEG_CONFIGS, run, segmentation_sample_options,
                      write_tiny_cityscapes)

CONFIG, SAMPLE_OPTIONS, _ = COCO
OPTIONS = SAMPLE_OPTIONS + [
    'train_dataloader.batch_size=4', 'train_cfg.max_epochs=2', 'randomness.seed=7',
    'randomness.deterministic=True', 'default_hooks.checkpoint.save_best=None'
]
EPOCHS, ITERS = 2, 3
LOSS_LINE = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[(\d+)/\d+\].*?\sloss: (\S+)')


def train_cmd(work_dir: Path, *extra: str) -> List[str]:
    return [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work_dir), *extra,
            '--cfg-options', *OPTIONS]


def losses(log: str) -> Dict[Tuple[int, int], str]:
    """Logged loss per (epoch, iteration), as printed."""
    return {(int(e), int(i)): loss for e, i, loss in LOSS_LINE.findall(log)}


def load(path: Path) -> dict:
    return read_checkpoint(str(path))


def assert_same_training_state(a: dict, b: dict) -> None:
    """Weights, buffers, optimizer state and schedulers bit-identical."""
    assert a['meta']['epoch'] == b['meta']['epoch'] and a['meta']['iter'] == b['meta']['iter']
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    opt_a, opt_b = a['optimizer'], b['optimizer']
    assert opt_a['param_groups'] == opt_b['param_groups']
    assert opt_a['state'].keys() == opt_b['state'].keys()
    for idx, state in opt_a['state'].items():
        for name, value in state.items():
            assert torch.equal(value, opt_b['state'][idx][name]), (idx, name)
    assert a['param_schedulers'] == b['param_schedulers']


def kill_when(cmd: List[str], pattern: str) -> str:
    """Run ``cmd``, SIGKILL it as soon as its output matches ``pattern``; its output."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if re.search(pattern, line):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    log = ''.join(out)
    assert proc.returncode == -signal.SIGKILL, log[-3000:]
    return log


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, str]:
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    log = run(train_cmd(work_dir))
    assert sorted(losses(log)) == [(e, i) for e in range(1, EPOCHS + 1)
                                   for i in range(1, ITERS + 1)], log[-3000:]
    return work_dir, log


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(uninterrupted: Tuple[Path, str],
                                                        tmp_path: Path) -> None:
    ref_dir, ref_log = uninterrupted
    # killed in epoch 2, after its 2nd iteration, with epoch_1.pth on disk
    killed = kill_when(train_cmd(tmp_path), r'Epoch\(train\)\s+\[2\]\[2/3\]')
    assert (tmp_path / 'epoch_1.pth').is_file() and not (tmp_path / 'epoch_2.pth').exists()
    resumed = run(train_cmd(tmp_path, '--resume'))
    assert f'resuming from {tmp_path / "epoch_1.pth"}' in resumed
    assert_same_training_state(load(ref_dir / 'epoch_2.pth'), load(tmp_path / 'epoch_2.pth'))
    # The logged losses (smoothed over mmengine's window, whose history the checkpoint
    # carries) of every iteration match, including the repeated part of epoch 2.
    ref, before, after = losses(ref_log), losses(killed), losses(resumed)
    assert sorted(after) == [(2, i) for i in range(1, ITERS + 1)]
    assert {**before, **after} == ref


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='uses /proc')
def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(
        uninterrupted: Tuple[Path, str], tmp_path: Path) -> None:
    """SIGKILL halfway through writing epoch_2.pth (the bytes are cut to half first):
    epoch_2.pth never appears, last_checkpoint still names epoch_1.pth, and --resume
    continues from it to the same end state."""
    ref_dir, _ = uninterrupted
    driver = (
        'import os, runpy, signal, sys\n'
        'real_fsync = os.fsync\n'
        'def fsync(fd):\n'
        '    path = os.readlink(f"/proc/self/fd/{fd}")\n'
        '    if path.endswith("epoch_2.pth.partial"):\n'
        '        os.ftruncate(fd, os.fstat(fd).st_size // 2)\n'
        '        os.kill(os.getpid(), signal.SIGKILL)\n'
        '    real_fsync(fd)\n'
        'os.fsync = fsync\n'
        'sys.argv = sys.argv[1:]\n'
        'runpy.run_path("tools/train.py", run_name="__main__")\n')
    proc = subprocess.run([sys.executable, '-c', driver, *train_cmd(tmp_path)[1:]], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == -signal.SIGKILL, (proc.stdout + proc.stderr)[-3000:]
    assert (tmp_path / 'epoch_2.pth.partial').is_file()
    assert not (tmp_path / 'epoch_2.pth').exists()
    assert (tmp_path / 'last_checkpoint').read_text().strip() == str(tmp_path / 'epoch_1.pth')
    resumed = run(train_cmd(tmp_path, '--resume'))
    assert f'resuming from {tmp_path / "epoch_1.pth"}' in resumed
    assert 'a checkpoint write that did not finish' in resumed
    assert_same_training_state(load(ref_dir / 'epoch_2.pth'), load(tmp_path / 'epoch_2.pth'))


def test_resume_skips_a_truncated_checkpoint_named_by_last_checkpoint(tmp_path: Path) -> None:
    """A checkpoint truncated by a crash under mmengine's plain writer (before this project)
    is passed over with a warning for the newest complete one."""
    good, bad = tmp_path / 'epoch_1.pth', tmp_path / 'epoch_2.pth'
    torch.save({'meta': {'seed': 3}, 'state_dict': {'w': torch.ones(2)}}, good)
    torch.save({'meta': {'seed': 3}, 'state_dict': {'w': torch.ones(2000)}}, bad)
    bad.write_bytes(bad.read_bytes()[:1000])
    os.utime(bad)
    (tmp_path / 'last_checkpoint').write_text(str(bad))
    path, ckpt = find_resume_checkpoint(str(tmp_path))
    assert path == str(good) and ckpt['meta']['seed'] == 3


# The shipped configs as they are: no ``randomness`` key, so the resumed run's seed comes
# from the checkpoint (tests above pass randomness.seed=7 and never take that path).


def seed_of(path: Path) -> int:
    return load(path)['meta']['seed']


@pytest.mark.slow
def test_resume_a_shipped_coco_config_without_a_seed(tmp_path: Path) -> None:
    from mmengine.config import Config
    assert 'randomness' not in Config.fromfile(ROOT / CONFIG)
    cmd = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path)]
    run([*cmd, '--cfg-options', *SAMPLE_OPTIONS])
    resumed = run([*cmd, '--resume', '--cfg-options', *SAMPLE_OPTIONS,
                   'train_cfg.max_epochs=2'])
    assert f'resuming from {tmp_path / "epoch_1.pth"}' in resumed
    assert re.search(r'Epoch\(train\)\s+\[2\]\[2/2\]', resumed), resumed[-3000:]
    assert seed_of(tmp_path / 'epoch_2.pth') == seed_of(tmp_path / 'epoch_1.pth')


@pytest.mark.slow
def test_resume_the_shipped_segmentation_config(tmp_path: Path) -> None:
    """The segmentation README's --resume on the shipped config (iteration-based)."""
    from mmengine.config import Config
    config = SEG_CONFIGS[0]
    assert 'randomness' not in Config.fromfile(config)
    write_tiny_cityscapes(tmp_path / 'cityscapes')
    options = segmentation_sample_options(tmp_path / 'cityscapes')
    cmd = [sys.executable, 'tools/train.py', str(config), '--work-dir', str(tmp_path / 'work')]
    run([*cmd, '--cfg-options', *options, 'train_cfg.max_iters=2'])
    resumed = run([*cmd, '--resume', '--cfg-options', *options, 'train_cfg.max_iters=4'])
    assert f'resuming from {tmp_path / "work" / "iter_2.pth"}' in resumed
    assert re.search(r'Iter\(train\)\s+\[4/4\].*loss', resumed), resumed[-3000:]
    assert re.search(r'Iter\(val\) \[2/2\].*mIoU: \d+\.\d+', resumed), resumed[-3000:]
    assert seed_of(tmp_path / 'work' / 'iter_4.pth') == seed_of(tmp_path / 'work' / 'iter_2.pth')
