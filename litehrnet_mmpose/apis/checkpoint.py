"""Checkpoints: converting the official (MMPose 0.x) layout, and strict, explained loading.

The official Lite-HRNet checkpoints are MMPose 0.x ``TopDown`` models: ``backbone.*`` (the
same names as ours) and ``keypoint_head.final_layer.*`` (MMPose 1.x: ``head.final_layer.*``),
plus a ``meta`` dict. MMPose 1.x checkpoints of its own ``LiteHRNet`` need no conversion.
"""
import glob
import logging
import os.path as osp
from collections import OrderedDict
from typing import List, Mapping, Optional, Tuple

import torch
from mmengine.logging import print_log

from ..engine.checkpoint_rules import CheckpointError, UnsafeCheckpointError, safe_load
from ..engine.state_dicts import (check_fits, compare_state_dicts, is_official_layout, load_strict,
                                  state_dict_of)

# (official 0.x prefix, MMPose 1.x prefix); anything else in an official checkpoint is an
# error, not something to drop silently.
OFFICIAL_TO_MMPOSE1: List[Tuple[str, str]] = [
    ('backbone.', 'backbone.'),
    ('keypoint_head.final_layer.', 'head.final_layer.'),
]


def read_checkpoint(path: str, unsafe: bool = False) -> dict:
    """Load a checkpoint file on the CPU, weights-only, with errors that name the file.

    Weights-only loading never runs code from the file: the unpickler builds tensors,
    containers, numbers and strings, plus mmengine's data types in the restricted forms of
    :mod:`litehrnet_mmpose.engine.checkpoint_rules`, and refuses anything else. ``unsafe=True``
    (the converter's ``--unsafe-load``) unpickles fully, for a trusted old file only.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint: no such file {path!r}')
    if unsafe:
        try:
            ckpt = torch.load(path, map_location='cpu', weights_only=False)
        except Exception as e:
            raise CheckpointError(f'{path}: not a readable PyTorch checkpoint: '
                                  f'{type(e).__name__}: {e}') from e
    else:
        ckpt = safe_load(path, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path}: expected a checkpoint dict, got '
                              f'{type(ckpt).__name__}')
    return ckpt


def find_resume_checkpoint(work_dir: str) -> Optional[Tuple[str, dict]]:
    """The newest complete checkpoint in ``work_dir``, loaded: the one its
    ``last_checkpoint`` names, else the newest ``epoch_*.pth`` / ``iter_*.pth`` that loads.

    mmengine trusts ``last_checkpoint`` blindly; a crash can leave it empty (it is written
    without the atomic backend) or naming a file that was truncated before this project
    made checkpoint writes atomic.
    """
    candidates = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            candidates.append(f.read().strip())
    candidates += sorted(glob.glob(osp.join(work_dir, 'epoch_*.pth')) +
                         glob.glob(osp.join(work_dir, 'iter_*.pth')),
                         key=osp.getmtime, reverse=True)
    for path in dict.fromkeys(c for c in candidates if c):
        try:
            return path, read_checkpoint(path)
        except UnsafeCheckpointError:
            raise  # a refused file is an alarm, not a crash leftover to pass over
        except (FileNotFoundError, CheckpointError) as e:
            print_log(f'not resuming from {path}: {e}', logger='current',
                      level=logging.WARNING)
    return None


def convert_official(state_dict: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename an official / MMPose 0.x top-down state dict to MMPose 1.x names."""
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        for old, new in OFFICIAL_TO_MMPOSE1:
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f'convert: {len(unknown)} key(s) with no MMPose 1.x counterpart: '
                         f'{unknown[:10]}')
    return out

__all__ = [
    'CheckpointError', 'UnsafeCheckpointError', 'check_fits', 'compare_state_dicts',
    'convert_official', 'find_resume_checkpoint', 'is_official_layout', 'load_strict',
    'read_checkpoint', 'state_dict_of'
]
