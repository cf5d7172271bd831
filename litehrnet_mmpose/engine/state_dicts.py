"""State dicts: finding the weights in a loaded checkpoint, and strict loading with a
readable report of what does not fit (used by the Runner hooks and the tools)."""
from typing import Dict, List, Mapping

import torch
import torch.nn as nn

from .checkpoint_rules import CheckpointError


def state_dict_of(checkpoint: Mapping) -> Mapping[str, torch.Tensor]:
    """The weights of a loaded checkpoint file (``state_dict`` entry or the dict itself)."""
    sd = checkpoint.get('state_dict', checkpoint)
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError('checkpoint: no state_dict of tensors found (keys: '
                              f'{sorted(checkpoint)[:8]})')
    return sd


def is_official_layout(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` has the official / MMPose 0.x head names."""
    return any(k.startswith('keypoint_head.') for k in state_dict)


def compare_state_dicts(model: nn.Module,
                        state_dict: Mapping[str, torch.Tensor]) -> Dict[str, List[str]]:
    """Missing, unexpected and shape-mismatched keys of ``state_dict`` against ``model``.

    Own code: ``load_state_dict(strict=False)`` reports missing and unexpected keys but
    raises on the first shape mismatch, after loading what fits; this touches nothing.
    """
    own = model.state_dict()
    return {
        'missing': sorted(k for k in own if k not in state_dict),
        'unexpected': sorted(k for k in state_dict if k not in own),
        'shape mismatch': sorted(
            f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}'
            for k, v in own.items() if k in state_dict and state_dict[k].shape != v.shape),
    }


def format_mismatch(report: Dict[str, List[str]], limit: int = 10) -> str:
    """A :func:`compare_state_dicts` report as text, ``limit`` keys per kind."""
    lines = []
    for kind, keys in report.items():
        if keys:
            lines.append(f'{len(keys)} {kind} key(s):')
            lines += [f'  {k}' for k in keys[:limit]]
            if len(keys) > limit:
                lines.append(f'  ... and {len(keys) - limit} more')
    return '\n'.join(lines)


def check_fits(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` with a readable report unless ``state_dict`` fits ``model``
    exactly (official checkpoints are pointed to the converter)."""
    if is_official_layout(state_dict):
        raise CheckpointError(f'{source}: this is an official / MMPose 0.x checkpoint '
                              '(keypoint_head.*); convert it first with '
                              'tools/convert_checkpoint.py')
    report = compare_state_dicts(model, state_dict)
    if any(report.values()):
        raise CheckpointError(f'{source}: does not fit the model\n{format_mismatch(report)}')


def load_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load every weight or nothing; a mismatch raises with a readable report."""
    check_fits(model, state_dict, source)
    model.load_state_dict(state_dict, strict=True)
