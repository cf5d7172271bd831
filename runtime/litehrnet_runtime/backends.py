"""Exported networks behind one interface: ``run(batch) -> heatmaps`` plus ``meta``.

A backend takes the normalised crops (N, 3, H, W) float32 and returns the heatmaps
(N, K, h, w) float32. It runs any N: a graph exported with a static batch B is run in
chunks of B, the last one padded. ``meta`` is the exported metadata (:mod:`.meta`).
The PyTorch backend (a checkpoint and its config) is litehrnet_mmpose's
``apis.pose_inference.TorchBackend``, which has the same two members.
"""
import os
from typing import Any, Dict, List, Optional

import numpy as np

from .meta import METADATA_KEY, check_io_shapes, loads_meta

BACKENDS = ('onnxruntime', 'openvino')
#: OpenVINO inference precisions: f32, or bf16 on CPUs with bf16 units (AMX, AVX-512 BF16;
#: others run f32): same AP on the bundled sample, 0.56-0.76x the latency (docs/deployment.md).
PRECISIONS = ('f32', 'bf16')


def _check_file(path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'--pose2d {path}: no such file')


def _static_batch(dim: Any) -> Optional[int]:
    return dim if isinstance(dim, int) and dim > 0 else None


class _ChunkedBackend:
    """Runs batches of any size on a graph of static batch ``self.batch`` (None: any)."""
    batch: Optional[int] = None
    meta: Dict[str, Any]

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def run(self, x: np.ndarray) -> np.ndarray:
        """Heatmaps (N, K, h, w) of the crops ``x`` (N, 3, H, W) float32."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.batch is None or len(x) == self.batch:
            return self._run(x)
        outs: List[np.ndarray] = []
        for i in range(0, len(x), self.batch):
            chunk = x[i:i + self.batch]
            n = len(chunk)
            if n < self.batch:
                chunk = np.concatenate([chunk, np.zeros((self.batch - n, ) + chunk.shape[1:],
                                                        np.float32)])
            outs.append(self._run(chunk)[:n])
        if not outs:
            k = len(self.meta['dataset']['keypoint_names'])
            w, h = self.meta['codec']['heatmap_size']
            return np.zeros((0, k, h, w), np.float32)
        return np.concatenate(outs)


def ort_cpu_session(path: str, threads: Optional[int] = None) -> Any:
    """An ONNX Runtime CPU session for ``path``, denormals flushed (untrained or quantised
    weights make them, ~100x slower on x86); ``threads``: intra-op threads."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.add_session_config_entry('session.set_denormal_as_zero', '1')
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])


class OnnxRuntimeBackend(_ChunkedBackend):
    """An exported ``.onnx`` file in ONNX Runtime (CPU; ``threads``: intra-op threads)."""
    name = 'onnxruntime'

    def __init__(self, path: str, threads: Optional[int] = None) -> None:
        _check_file(path)
        try:
            self.session = ort_cpu_session(path, threads)
        except Exception as e:  # ORT raises its own Fail / InvalidProtobuf types
            raise ValueError(f'--pose2d {path}: ONNX Runtime cannot load it: {e}') from e
        custom = self.session.get_modelmeta().custom_metadata_map
        self.meta = loads_meta(custom.get(METADATA_KEY), path)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) < 1:
            raise ValueError(f'{path}: expected one input and an output, got {len(inputs)} '
                             f'and {len(outputs)}')
        check_io_shapes(self.meta, inputs[0].shape, outputs[0].shape, path)
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        self.batch = _static_batch(inputs[0].shape[0])

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: x})[0]


class OpenVINOBackend(_ChunkedBackend):
    """An exported ``.onnx`` file, or an OpenVINO IR ``.xml`` saved from one, in OpenVINO
    (CPU, latency hint; ``threads``: inference threads; ``precision``: one of
    :data:`PRECISIONS`)."""
    name = 'openvino'

    def __init__(self, path: str, threads: Optional[int] = None,
                 precision: str = 'f32') -> None:
        import openvino as ov
        if precision not in PRECISIONS:
            raise ValueError(f'--precision: expected one of {", ".join(PRECISIONS)}, got '
                             f'{precision!r}')
        _check_file(path)
        core = ov.Core()
        try:
            model = core.read_model(path)
        except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
            raise ValueError(f'--pose2d {path}: OpenVINO cannot read it: {e}') from e
        self.meta = loads_meta(_ov_metadata(model), path)
        if len(model.inputs) != 1:
            raise ValueError(f'{path}: expected one input, got {len(model.inputs)}')
        shapes = [[d.get_length() if d.is_static else None for d in port.get_partial_shape()]
                  for port in (model.inputs[0], model.outputs[0])]
        check_io_shapes(self.meta, shapes[0], shapes[1], path)
        self.batch = _static_batch(shapes[0][0])
        # f32 unless asked: on CPUs with bf16 units OpenVINO's default is bf16, which moves
        # random-weight heatmaps by up to 0.4 (trained ones far less; docs/deployment.md)
        self.precision = precision
        config = {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_PRECISION_HINT': precision}
        if threads is not None:
            config['INFERENCE_NUM_THREADS'] = threads
        self.compiled = core.compile_model(model, 'CPU', config)
        self.request = self.compiled.create_infer_request()

    def _run(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: x})
        return self.request.get_output_tensor(0).data.copy()


def _ov_metadata(model: Any) -> Optional[str]:
    """The metadata string: an IR keeps it under ``rt_info[METADATA_KEY]``, an ONNX file
    read by OpenVINO under ``rt_info['framework'][METADATA_KEY]``."""
    for path in ([METADATA_KEY], ['framework', METADATA_KEY]):
        if model.has_rt_info(path):
            return model.get_rt_info(path).astype(str)
    return None


def open_backend(path: str, backend: str = 'auto', threads: Optional[int] = None,
                 precision: str = 'f32') -> Any:
    """The backend for an exported file: ``onnxruntime`` or ``openvino``; ``auto`` takes
    OpenVINO for an ``.xml`` IR and ONNX Runtime otherwise (falling back to OpenVINO when
    onnxruntime is not installed). ``precision`` other than f32 needs OpenVINO."""
    if backend not in BACKENDS + ('auto', ):
        raise ValueError(f'--backend: expected one of auto, {", ".join(BACKENDS)} for an '
                         f'exported file, got {backend!r}')
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f'threads: expected a positive int, got {threads!r}')
    if backend == 'auto':
        backend = 'openvino' if path.lower().endswith('.xml') else 'onnxruntime'
        if backend == 'onnxruntime':
            try:
                import onnxruntime  # noqa: F401
            except ImportError:
                backend = 'openvino'
    if backend == 'onnxruntime' and path.lower().endswith('.xml'):
        raise ValueError(f'--pose2d {path}: an OpenVINO IR runs with --backend openvino')
    if precision != 'f32' and backend != 'openvino':
        raise ValueError(f'--precision {precision}: runs in OpenVINO only (--backend openvino '
                         f'or an .xml IR); ONNX Runtime runs f32 on the CPU')
    try:
        if backend == 'onnxruntime':
            return OnnxRuntimeBackend(path, threads)
        return OpenVINOBackend(path, threads, precision)
    except ImportError as e:
        raise ValueError(f'--backend {backend}: its package is not installed ({e}); pip '
                         f'install {backend}') from e
