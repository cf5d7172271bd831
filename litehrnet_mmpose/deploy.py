"""Inference-only deployment: fold every BatchNorm into its conv and switch Lite-HRNet's
blocks to their faster inference paths.

    from litehrnet_mmpose.deploy import switch_to_deploy
    pose_model = switch_to_deploy(init_model(config, checkpoint, device='cpu'))

Outputs stay equal to the eval-mode model up to float rounding (<= 1e-4 on the tests'
random weights). The backbone runs in channels_last memory inside (faster depthwise convs
on CPU; ``switch_to_deploy(model, channels_last=False)`` keeps NCHW) and returns NCHW
tensors; traced and exported graphs (jit, torch.fx, ONNX) are NCHW either way.
Deployment rewrites weights in place and cannot be undone: train, fine-tune or save
checkpoints from a model that was never switched. On a GPU, :class:`CUDAGraphForward`
replays a captured forward without the per-kernel launch cost.
"""
import time
from typing import Any, Callable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    'CUDAGraphForward', 'TensorMode', 'export_onnx', 'fold_bn_into_conv', 'fuse_conv_bn',
    'ort_run', 'ort_session', 'summarize', 'switch_to_deploy', 'time_calls'
]


@torch.no_grad()
def fold_bn_into_conv(conv: nn.Conv2d, bn: _BatchNorm) -> None:
    """Fold ``bn`` (eval-mode statistics) into ``conv``'s weight and bias, in place.

    ``bn(conv(x)) == conv'(x)`` with ``W' = W * s`` and ``b' = (b - mean) * s + beta`` where
    ``s = gamma / sqrt(var + eps)``.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f'conv: expected nn.Conv2d, got {type(conv).__name__}')
    if not isinstance(bn, _BatchNorm) or bn.running_mean is None:
        raise TypeError('bn: expected a BatchNorm with running statistics, got '
                        f'{type(bn).__name__}')
    if bn.num_features != conv.out_channels:
        raise ValueError(f'bn.num_features: {bn.num_features} != conv.out_channels '
                         f'{conv.out_channels}')
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.affine:
        shift = shift + bn.bias
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    conv.weight = nn.Parameter(conv.weight * scale.reshape(-1, 1, 1, 1))
    conv.bias = nn.Parameter(shift)


def _fuse_conv_module(module: ConvModule) -> bool:
    """Fold a ConvModule's norm into its conv (only for the conv -> norm order)."""
    if not module.with_norm or not isinstance(module.norm, _BatchNorm):
        return False
    order = list(module.order)
    if order.index('conv') > order.index('norm') or not isinstance(module.conv, nn.Conv2d):
        return False
    fold_bn_into_conv(module.conv, module.norm)
    # ConvModule.forward skips the norm when with_norm is False; the BN itself is dropped.
    module.with_norm = False
    delattr(module, module.norm_name)
    return True


def _fuse_sequential(seq: nn.Sequential) -> int:
    """Fold every ``Conv2d`` directly followed by a BN in a bare ``nn.Sequential`` and drop
    the BN (Lite-HRNet's transitions and fusions use this layout)."""
    layers: List[nn.Module] = list(seq)
    kept: List[nn.Module] = []
    folded = 0
    for layer in layers:
        prev: Optional[nn.Module] = kept[-1] if kept else None
        if isinstance(layer, _BatchNorm) and isinstance(prev, nn.Conv2d):
            fold_bn_into_conv(prev, layer)
            folded += 1
            continue
        kept.append(layer)
    if folded:
        for key in list(seq._modules):
            del seq._modules[key]
        for k, layer in enumerate(kept):
            seq.add_module(str(k), layer)
    return folded


def fuse_conv_bn(module: nn.Module) -> int:
    """Fold, in place, every BN that directly follows a conv inside ``module``.

    Handles mmcv's ``ConvModule`` (the ``norm`` is removed and skipped) and bare
    ``nn.Sequential(conv, bn, ...)`` (the BN is removed and later layers are renumbered).
    ``module`` must be in eval mode (its BN running statistics are what gets folded).
    Returns the number of BN layers folded.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f'module: expected an nn.Module, got {type(module).__name__}')
    if any(m.training for m in module.modules() if isinstance(m, _BatchNorm)):
        raise ValueError('module: BN layers in training mode; call .eval() before folding')
    folded = 0
    for m in list(module.modules()):
        if isinstance(m, ConvModule):
            folded += _fuse_conv_module(m)
        elif isinstance(m, nn.Sequential):
            folded += _fuse_sequential(m)
    return folded


def _own_switch(model: nn.Module) -> bool:
    """Whether ``model`` has a ``switch_to_deploy`` of this package (a backbone, a block)."""
    fn = getattr(type(model), 'switch_to_deploy', None)
    return fn is not None and fn.__module__.startswith(__name__.split('.')[0] + '.')


def switch_to_deploy(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """Put ``model`` (a backbone or a whole pose / segmentation model) in deploy mode, in
    place: eval mode, ``switch_to_deploy()`` on every outermost module that has one (our
    Lite-HRNet backbones, which also get ``channels_last``: see
    ``LiteHRNet.switch_to_deploy``; ``model`` itself included), then BN folding in
    everything else (e.g. heads). Returns ``model``. Inference only; see the module
    docstring.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f'model: expected an nn.Module, got {type(model).__name__}')
    if not isinstance(channels_last, bool):
        raise TypeError(f'channels_last: expected a bool, got {channels_last!r}')
    model.eval()

    def switch(m: nn.Module) -> None:
        if isinstance(getattr(m, 'deploy_channels_last', None), bool):  # our backbones
            m.switch_to_deploy(channels_last=channels_last)
        else:
            m.switch_to_deploy()

    if _own_switch(model):
        switch(model)
    else:
        # Not the root's own method (MMPose's estimators just forward theirs to every
        # submodule, logging each): call the outermost submodules' ones directly.
        switched: List[str] = []
        for name, m in list(model.named_modules())[1:]:  # switching edits the module tree
            if (callable(getattr(m, 'switch_to_deploy', None))
                    and not any(name.startswith(s + '.') for s in switched)):
                switch(m)
                switched.append(name)
    fuse_conv_bn(model)
    return model


# --------------------------------------------------------------------------------------
# Pose models for export and benchmarking


class TensorMode(nn.Module):
    """``pose_model(x, None, mode='tensor')`` as a plain module: backbone + head, no data
    preprocessor (inputs are already normalised), what ONNX export and tracing need."""

    def __init__(self, pose_model: nn.Module) -> None:
        super().__init__()
        self.model = pose_model

    def forward(self, x: Tensor) -> Tensor:
        out = self.model(x, None, mode='tensor')
        if isinstance(out, (list, tuple)):  # heads may return several maps; keep the first
            out = out[0]
        return out


class CUDAGraphForward:
    """``module(x)`` replayed from a CUDA graph captured once, for inputs of one shape, dtype
    and memory format: one launch per call instead of one per kernel.

    Lite-HRNet runs a few thousand small kernels per forward; on a GPU its eager time is
    mostly the CPU launching them (measured on an H100: batch 64 takes as long as batch 1).
    A graph replays them without Python. Inference only (eval mode, no autograd); works on
    any model, deployed (``switch_to_deploy``) or not. The returned output is the graph's
    static buffer, overwritten by the next call: clone it to keep it.

    Args:
        module: a CUDA module taking one tensor, e.g. ``TensorMode(pose_model)``.
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


# --------------------------------------------------------------------------------------
# ONNX


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
    import warnings
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


# --------------------------------------------------------------------------------------
# Timing


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> List[float]:
    """Seconds taken by each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f'repeats/warmup: expected >= 1 / >= 0, got {repeats}/{warmup}')
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summarize(times: Sequence[float]) -> dict:
    """Median, interquartile range, min and max of a list of timings (same unit)."""
    arr = np.asarray(times, dtype=np.float64)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return dict(median=float(med), iqr=float(q3 - q1), min=float(arr.min()),
                max=float(arr.max()), n=int(arr.size))
