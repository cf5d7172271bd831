"""ONNX export and ONNX Runtime sessions (CPU)."""
import warnings
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor


def export_onnx(module: nn.Module,
                path: str,
                input_shape: Sequence[int],
                dynamic_batch: bool = False,
                opset: int = 17) -> None:
    """Export ``module`` (one image tensor in, one tensor out) to ONNX at ``path``.

    Uses the TorchScript-based exporter (``dynamo=False``: no ``onnxscript`` needed);
    input ``input`` of shape ``input_shape`` (N, C, H, W), output ``output``; with
    ``dynamic_batch`` the batch axis of both is symbolic.
    """
    if len(input_shape) != 4 or not all(isinstance(d, int) and d > 0 for d in input_shape):
        raise ValueError(f'input_shape: expected 4 positive ints (N, C, H, W), got '
                         f'{input_shape!r}')
    if opset < 17:
        raise ValueError(f'opset: must be >= 17, got {opset}')
    module = module.eval()
    x = torch.randn(*input_shape)
    axes = {'input': {0: 'batch'}, 'output': {0: 'batch'}} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # TracerWarnings and the exporter's deprecation note
        torch.onnx.export(module, (x, ), path, input_names=['input'], output_names=['output'],
                          opset_version=opset, dynamic_axes=axes, dynamo=False,
                          do_constant_folding=True)


def ort_session(path: str, threads: Optional[int] = None) -> Any:
    """An ONNX Runtime CPU session for ``path`` (``threads``: intra-op threads)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    # Flush denormals, as :func:`time_calls`' callers do in PyTorch (set_flush_denormal).
    opts.add_session_config_entry('session.set_denormal_as_zero', '1')
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])


def ort_run(session: Any, x: Tensor) -> np.ndarray:
    """Run a single-input, single-output session on ``x``."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.detach().cpu().numpy()})[0]
