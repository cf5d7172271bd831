"""CUDA graphs: replay a captured forward without the per-kernel launch cost."""
from typing import Any, Optional

import torch
import torch.nn as nn
from torch import Tensor


class CUDAGraphForward:
    """``module(x)`` replayed from a CUDA graph captured once, for inputs of one shape, dtype
    and memory format: one launch per call instead of one per kernel.

    Lite-HRNet runs a few thousand small kernels per forward; on a GPU its eager time is
    mostly the CPU launching them (measured on an H100: batch 64 takes as long as batch 1).
    A graph replays them without Python. Inference only (eval mode, no autograd); works on
    any model, deployed (``switch_to_deploy``) or not. The returned output is the graph's
    static buffer, overwritten by the next call: clone it to keep it.

    Args:
        module: a CUDA module taking one tensor, e.g.
            ``TensorForward(pose_model, first_output=True)`` (:mod:`litehrnet_mmpose.utils`).
        example: an input with the shape, dtype, device and memory format of every call.
        autocast_dtype: capture under ``torch.autocast('cuda', dtype=...)`` (e.g.
            ``torch.float16``); None: no autocast.
        warmup: eager calls on a side stream before the capture (cuDNN's algorithm
            choice, lazy initialisation), as CUDA graph capture requires.
    """

    def __init__(self,
                 module: nn.Module,
                 example: Tensor,
                 autocast_dtype: Optional[torch.dtype] = None,
                 warmup: int = 3) -> None:
        if not isinstance(example, Tensor) or example.device.type != 'cuda':
            raise ValueError('example: expected a CUDA tensor, got '
                             f'{getattr(example, "device", type(example).__name__)}')
        if autocast_dtype is not None and not isinstance(autocast_dtype, torch.dtype):
            raise TypeError(f'autocast_dtype: expected a torch.dtype or None, got '
                            f'{autocast_dtype!r}')
        if not isinstance(warmup, int) or warmup < 1:
            raise ValueError(f'warmup: expected a positive int, got {warmup!r}')
        self.module = module.eval()
        self.autocast_dtype = autocast_dtype
        self.static_input = example.detach().clone()  # keeps example's memory format
        side = torch.cuda.Stream(example.device)
        side.wait_stream(torch.cuda.current_stream(example.device))
        with torch.cuda.stream(side):
            for _ in range(warmup):
                self._forward()
        torch.cuda.current_stream(example.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_output = self._forward()

    def _forward(self) -> Any:
        # The autocast cache must be off while capturing (its casts would outlive the graph).
        with torch.no_grad(), torch.autocast('cuda', dtype=self.autocast_dtype or torch.float16,
                                             enabled=self.autocast_dtype is not None,
                                             cache_enabled=False):
            return self.module(self.static_input)

    def __call__(self, x: Tensor) -> Any:
        ref = self.static_input
        if not isinstance(x, Tensor) or (x.shape, x.dtype, x.device) != (ref.shape, ref.dtype,
                                                                          ref.device):
            got = ((x.shape, x.dtype, x.device) if isinstance(x, Tensor) else
                   type(x).__name__)
            raise ValueError(f'x: expected shape {tuple(ref.shape)}, {ref.dtype} on '
                             f'{ref.device} (as captured), got {got}')
        ref.copy_(x)
        self.graph.replay()
        return self.static_output
