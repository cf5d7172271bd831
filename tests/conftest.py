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
