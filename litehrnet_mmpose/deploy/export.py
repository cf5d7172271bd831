"""ONNX export (with the runtime's inference metadata), OpenVINO IR, ONNX Runtime sessions."""
import json
import warnings
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from litehrnet_runtime.backends import ort_cpu_session
from litehrnet_runtime.meta import METADATA_KEY


def export_onnx(module: nn.Module,
                path: str,
                input_shape: Sequence[int],
                dynamic_batch: bool = False,
                opset: int = 17,
                metadata: Optional[Dict[str, Any]] = None) -> None:
    """Export ``module`` (one image tensor in, one tensor out) to ONNX at ``path``.

    Uses the TorchScript-based exporter (``dynamo=False``: no ``onnxscript`` needed);
    input ``input`` of shape ``input_shape`` (N, C, H, W), output ``output``; with
    ``dynamic_batch`` the batch axis of both is symbolic. ``metadata`` (see
    :func:`~.metadata.pose_metadata`) is stored as JSON in the file's ``metadata_props``
    under ``litehrnet_mmpose``, where ``litehrnet_runtime`` reads it.
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
    if metadata is None and not dynamic_batch:
        return
    import onnx
    graph = onnx.load(path)
    if dynamic_batch:
        graph = _named_batch(graph)
    if metadata is not None:
        del graph.metadata_props[:]
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
    onnx.save(graph, path)


def _named_batch(graph: Any) -> Any:
    """``graph`` with the shapes of its tensors inferred and the unknown first axis of
    every 4-d one named as the input's batch axis. Without it ONNX Runtime cannot prove
    that the two inputs of an element-wise op (a branch and its upsampled weights) have
    one shape, and leaves its blocked NCHWc layout around each (327 reorders instead of 1
    in the runtime graph, 1.2x slower). Image-model graphs: every 4-d tensor is batch-first."""
    import onnx
    graph = onnx.shape_inference.infer_shapes(graph)
    batch = graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param
    for value in list(graph.graph.value_info) + list(graph.graph.output):
        shape = value.type.tensor_type.shape
        if value.type.tensor_type.HasField('shape') and len(shape.dim) == 4 and not shape.dim[
                0].HasField('dim_value'):
            shape.dim[0].dim_param = batch
    return graph


def save_openvino_ir(onnx_path: str, xml_path: str) -> None:
    """Convert an exported ONNX file to OpenVINO IR (``.xml`` + ``.bin``), keeping its
    metadata under ``rt_info['litehrnet_mmpose']`` (needs the ``openvino`` package)."""
    import openvino as ov
    model = ov.Core().read_model(onnx_path)
    key = ['framework', METADATA_KEY]
    if model.has_rt_info(key):
        model.set_rt_info(model.get_rt_info(key).astype(str), [METADATA_KEY])
    ov.save_model(model, xml_path, compress_to_fp16=False)


def ort_session(path: str, threads: Optional[int] = None) -> Any:
    """An ONNX Runtime CPU session for ``path`` (``threads``: intra-op threads), with the
    runtime's settings (``litehrnet_runtime.backends.ort_cpu_session``: denormals flushed,
    as :func:`time_calls`' callers do in PyTorch)."""
    return ort_cpu_session(path, threads)


def ort_run(session: Any, x: Tensor) -> np.ndarray:
    """Run a single-input, single-output session on ``x``."""
    name = session.get_inputs()[0].name
    return session.run(None, {name: x.detach().cpu().numpy()})[0]
