"""``with_cp``: activation checkpointing that leaves BN statistics as a plain run would."""
import contextlib
from typing import Callable, Iterator, List, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

Tensors = List[Tensor]


@contextlib.contextmanager
def keep_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Restore the BN running statistics of ``module`` on exit.

    Checkpointing runs the forward a second time during backward; without this the running
    mean/var would be updated twice per step and drift from a run without ``with_cp``.
    """
    saved = [(buf, buf.clone()) for m in module.modules() if isinstance(m, _BatchNorm)
             for buf in (m.running_mean, m.running_var, m.num_batches_tracked)
             if buf is not None]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


class CheckpointMixin:
    """Run ``fn(x)`` under non-reentrant activation checkpointing when ``with_cp`` is set.

    Unlike the reference (which reads ``x.requires_grad`` and so crashes on the list inputs
    of channel weighting), this accepts a tensor or a list of tensors, and it leaves BN
    running statistics exactly as a run without checkpointing would.
    """

    with_cp: bool
    training: bool

    def _maybe_checkpoint(self, fn: Callable, x: Union[Tensor, Tensors]) -> Union[Tensor, Tensors]:
        tensors = x if isinstance(x, (list, tuple)) else [x]
        if (self.with_cp and self.training and torch.is_grad_enabled()
                and any(t.requires_grad for t in tensors)):
            return cp.checkpoint(
                fn, x, use_reentrant=False,
                context_fn=lambda: (contextlib.nullcontext(), keep_bn_statistics(self)))
        return fn(x)

