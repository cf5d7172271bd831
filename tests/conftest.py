"""Pytest fixtures shared by the test modules (plain helpers and constants: helpers.py).

tests/ is a package: test modules import shared code relatively (``from .helpers import
build``), with no ``sys.path`` changes. pytest imports them as ``tests.<module>`` with the
repository root first on ``sys.path``, which shadows the top-level ``tests`` package that
mmsegmentation installs into site-packages.
"""
from typing import Iterator

import pytest
import torch


@pytest.fixture(scope='session', autouse=True)
def one_intra_op_thread() -> Iterator[None]:
    """Run the in-process tests' torch ops on one thread. The models here are small (64x96
    inputs): a second OpenMP thread gains little, and on a 2-core machine shared with other
    work it costs 50x (measured: a Lite-HRNet-18 forward at 1x3x32x32 took 0.08 s on one
    thread, 4.6-5.8 s on two while another process kept one core busy), as every op waits
    at a barrier for the descheduled thread. Subprocesses (slow lane) keep their defaults."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ inference (runtime)
# One pose model for the inference tests: the quickstart config (COCO, Lite-HRNet-18,
# 256x192, flip test on) with seeded random weights and non-trivial BN statistics, saved as
# a checkpoint and exported (deployed, dynamic batch) with its inference metadata.


@pytest.fixture(scope='session')
def pose_model() -> torch.nn.Module:
    """The quickstart model, random weights (seed 0), BN statistics randomised."""
    from litehrnet_mmpose.apis.models import build_pose_model

    from .helpers import QUICKSTART_CONFIG, randomize_bn
    torch.manual_seed(0)
    model = build_pose_model(QUICKSTART_CONFIG)
    randomize_bn(model)
    return model.eval()


@pytest.fixture(scope='session')
def pose_checkpoint(pose_model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> str:
    """:func:`pose_model` saved as an MMPose checkpoint (state_dict only)."""
    path = tmp_path_factory.mktemp('ckpt') / 'pose.pth'
    torch.save({'state_dict': pose_model.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='session')
def pose_onnx(pose_checkpoint: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """:func:`pose_model` deployed and exported by tools/export_onnx.py (dynamic batch)."""
    from .helpers import QUICKSTART_CONFIG, load_tool
    path = tmp_path_factory.mktemp('onnx') / 'pose.onnx'
    status = load_tool('export_onnx').main([QUICKSTART_CONFIG, pose_checkpoint, '--deploy',
                                            '--dynamic-batch', '--repeats', '0', '--out',
                                            str(path), '--openvino-ir',
                                            str(path.with_suffix('.xml'))])
    assert status == 0
    return str(path)
