"""INT8 post-training static quantization of an exported pose model, and its accuracy cost.

Calibration sees exactly what inference feeds the network: person crops cut and normalised
by the runtime's own preprocessing (``litehrnet_runtime.topdown``), from the images and
ground-truth boxes the project ships (samples/coco, samples/mpii), plus their horizontal
flips (the flip test runs those too).

- :func:`quantize_onnxruntime`: ONNX Runtime ``quantize_static``, QDQ, int8 per-channel
  weights; the result is an ``.onnx`` with the FP32 file's metadata.
- :func:`quantize_openvino`: NNCF ``nncf.quantize`` on the OpenVINO model; the result is an
  IR (``.xml`` + ``.bin``) with the metadata under ``rt_info['litehrnet_mmpose']``.

The defaults are the best recipe measured on the quickstart model (docs/quantization.md);
its accuracy and latency cost is measured by :mod:`litehrnet_mmpose.apis.int8_eval`.

Everything selects nodes by op type, never by name, so a re-written export graph keeps
working. Needs ``onnxruntime`` (and ``onnx``) or ``openvino`` + ``nncf``; no torch.
"""
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from litehrnet_runtime.meta import METADATA_KEY
from litehrnet_runtime.topdown import box_center_scale, crop_and_normalize

ROOT = Path(__file__).resolve().parents[2]
COCO_SAMPLE = (str(ROOT / 'samples/coco/person_keypoints_sample.json'),
               str(ROOT / 'samples/coco/images'))
MPII_SAMPLE = (str(ROOT / 'samples/mpii/mpii_sample.json'), str(ROOT / 'samples/mpii/images'))
BUNDLED_SETS = (COCO_SAMPLE, MPII_SAMPLE)

ORT_METHODS = ('minmax', 'percentile', 'entropy')
ORT_ACTIVATIONS = ('uint8', 'int8')
# The best recipes measured on the trained quickstart model (docs/quantization.md): every
# op the quantizer knows except the channel-weighting multiplies and the fusion / residual
# adds, the head's final conv in FP32; ORT: percentile ranges, uint8 activations.
ORT_KEEP_FP32 = ('Mul', 'Add')
OV_KEEP_FP32 = ('Multiply', 'Add')
OV_PRESETS = ('performance', 'mixed')

Box = Tuple[str, np.ndarray]  # an image path and its people's xyxy boxes (N, 4)


# ------------------------------------------------------------------ calibration data


def _check_file(value: Any, name: str) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f'{name}: expected a file path, got {type(value).__name__} {value!r}')
    if not os.path.isfile(value):
        raise ValueError(f'{name}: no such file: {value}')
    return str(value)


def person_boxes(ann_file: str, image_dir: str) -> List[Box]:
    """(image path, xyxy boxes) per image of a COCO keypoint file (``bbox`` xywh, iscrowd
    skipped) or an MPII json list (``center`` + ``scale``, boxes as MMPose's MpiiDataset
    makes them: scale x 200 square, centre moved 15 px-units down, 1-based -> 0-based)."""
    ann_file = _check_file(ann_file, 'ann_file')
    if not os.path.isdir(image_dir):
        raise ValueError(f'image_dir: no such directory: {image_dir}')
    with open(ann_file) as f:
        data = json.load(f)
    per_image: Dict[str, List[List[float]]] = {}
    if isinstance(data, dict) and 'annotations' in data and 'images' in data:
        names = {img['id']: img['file_name'] for img in data['images']}
        for ann in data['annotations']:
            if ann.get('iscrowd', 0) or ann['image_id'] not in names:
                continue
            x, y, w, h = ann['bbox']
            if w > 1 and h > 1:
                per_image.setdefault(names[ann['image_id']], []).append([x, y, x + w, y + h])
    elif isinstance(data, list) and all('center' in a and 'scale' in a for a in data):
        for ann in data:
            s = float(ann['scale']) * 200.
            cx, cy = np.asarray(ann['center'], np.float64) + [0., 15. / 200. * s] - 1.
            per_image.setdefault(ann['image'], []).append(
                [cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2])
    else:
        raise ValueError(f'ann_file: {ann_file} is neither a COCO keypoint file nor an MPII '
                         f'json list (center, scale, image)')
    out = []
    for name in sorted(per_image):
        path = os.path.join(image_dir, name)
        if not os.path.isfile(path):
            raise ValueError(f'image_dir: {path} (listed in {ann_file}) does not exist')
        out.append((path, np.asarray(per_image[name], np.float32)))
    return out


def bundled_boxes(sets: Sequence[Tuple[str, str]] = BUNDLED_SETS) -> List[Box]:
    """:func:`person_boxes` of several (annotation file, image dir) pairs, concatenated."""
    return [item for ann, images in sets for item in person_boxes(ann, images)]


def read_image(path: str) -> np.ndarray:
    """An image file as BGR uint8 (the runtime's input convention)."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'image: OpenCV cannot read {path}')
    return image


def calibration_crops(meta: Dict[str, Any], boxes: Optional[Sequence[Box]] = None,
                      flip: bool = True) -> np.ndarray:
    """Normalised person crops (N, 3, H, W) float32 of ``boxes`` (default: every bundled
    COCO and MPII person), cut as the runtime does for ``meta`` (an exported file's
    metadata); with ``flip`` their horizontal mirrors too (2N crops), as the flip test."""
    boxes = bundled_boxes() if boxes is None else boxes
    w, h = meta['input']['size']
    crops = []
    for path, xyxy in boxes:
        if len(xyxy):
            centers, scales = box_center_scale(xyxy, w / h)
            crops.append(crop_and_normalize(read_image(path), centers, scales, meta))
    if not crops:
        raise ValueError(f'boxes: no person boxes to calibrate with (got {len(boxes)} images)')
    batch = np.concatenate(crops)
    if flip:
        batch = np.concatenate([batch, np.ascontiguousarray(batch[..., ::-1])])
    return batch


def _check_crops(crops: Any, shape: Sequence[Any]) -> np.ndarray:
    """``crops`` as float32 (N, 3, H, W) matching the model input ``shape`` (batch aside)."""
    if not isinstance(crops, np.ndarray):
        raise TypeError(f'crops: expected a numpy array (N, 3, H, W), got '
                        f'{type(crops).__name__}')
    if crops.ndim != 4 or len(crops) == 0:
        raise ValueError(f'crops: expected a non-empty (N, 3, H, W) array, got shape '
                         f'{crops.shape}')
    want = [d if isinstance(d, int) and d > 0 else None for d in shape[1:]]
    if any(w is not None and w != d for w, d in zip(want, crops.shape[1:])):
        raise ValueError(f'crops: shape {crops.shape[1:]} (C, H, W) does not match the '
                         f'model input {list(shape)}')
    return np.ascontiguousarray(crops, dtype=np.float32)


def batches(crops: np.ndarray, batch: Optional[int]) -> Iterator[np.ndarray]:
    """``crops`` in chunks of a static ``batch`` (the last filled with the first crops
    again, not zeros, which would skew the ranges); one at a time when None."""
    b = batch or 1
    for i in range(0, len(crops), b):
        chunk = crops[i:i + b]
        if len(chunk) < b:
            chunk = np.concatenate([chunk, np.resize(crops, (b - len(chunk), ) + crops.shape[1:])])
        yield chunk


# ------------------------------------------------------------------ ONNX Runtime


def _onnx_input(model: Any) -> Tuple[str, List[Any]]:
    inp = model.graph.input[0]
    dims = [d.dim_value if d.HasField('dim_value') else None
            for d in inp.type.tensor_type.shape.dim]
    return inp.name, dims


def _conv_names(model: Any) -> List[str]:
    """The Conv nodes' names in graph (topological) order, naming unnamed ones."""
    names = []
    for i, node in enumerate(model.graph.node):
        if node.op_type == 'Conv':
            if not node.name:
                node.name = f'Conv_q{i}'
            names.append(node.name)
    return names


def quantize_onnxruntime(fp32_onnx: str, out_onnx: str, crops: np.ndarray, *,
                         method: str = 'percentile', activation_type: str = 'uint8',
                         op_types: Optional[Sequence[str]] = None,
                         exclude_types: Sequence[str] = ORT_KEEP_FP32,
                         keep_first_conv: bool = False, keep_last_conv: bool = True,
                         percentile: float = 99.999, preprocess: bool = True,
                         per_channel: bool = True) -> Dict[str, Any]:
    """Quantize ``fp32_onnx`` to ``out_onnx`` (QDQ, int8 weights, ``activation_type``
    activations) with ONNX Runtime's ``quantize_static``, calibrated on ``crops``.

    ``method``: activation ranges by ``minmax``, ``percentile`` (``percentile`` of the
    histogram) or ``entropy``. ``op_types``: the op types quantized (None: all ORT can);
    ``exclude_types`` removed from them; ``keep_first_conv`` / ``keep_last_conv`` keep the
    stem's first conv / the head's final conv in FP32 (found by position, not name).
    ``preprocess`` runs ``quant_pre_process`` (shape inference + ORT graph optimisation)
    first, so that QDQ lands on the fused graph ORT runs. The FP32 file's
    ``metadata_props`` are copied over. Returns the settings used (for the reports).
    """
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_onnx = _check_file(fp32_onnx, 'fp32_onnx')
    if method not in ORT_METHODS:
        raise ValueError(f'method: expected one of {", ".join(ORT_METHODS)}, got {method!r}')
    if activation_type not in ORT_ACTIVATIONS:
        raise ValueError(f'activation_type: expected one of {", ".join(ORT_ACTIVATIONS)}, '
                         f'got {activation_type!r}')
    if not 50. < percentile <= 100.:
        raise ValueError(f'percentile: expected a value in (50, 100], got {percentile!r}')
    if not isinstance(out_onnx, (str, os.PathLike)) or not str(out_onnx).endswith('.onnx'):
        raise ValueError(f'out_onnx: expected a path ending in .onnx, got {out_onnx!r}')
    source = onnx.load(fp32_onnx)
    input_name, shape = _onnx_input(source)
    crops = _check_crops(crops, shape)
    metadata = [(p.key, p.value) for p in source.metadata_props]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = batches(crops, shape[0])

        def get_next(self) -> Optional[Dict[str, np.ndarray]]:
            chunk = next(self.it, None)
            return None if chunk is None else {input_name: chunk}

    with tempfile.TemporaryDirectory() as tmp:
        model_in = os.path.join(tmp, 'pre.onnx')
        if preprocess:
            quant_pre_process(fp32_onnx, model_in, skip_symbolic_shape=True)
        else:
            onnx.save(source, model_in)
        model = onnx.load(model_in)
        convs = _conv_names(model)
        onnx.save(model, model_in)
        exclude = ([convs[0]] if keep_first_conv and convs else []) + (
            [convs[-1]] if keep_last_conv and convs else [])
        types = None if op_types is None else [t for t in op_types if t not in exclude_types]
        if op_types is None and exclude_types:
            exclude += [n.name for n in model.graph.node if n.op_type in exclude_types]
        extra = dict(CalibMaxIntermediateOutputs=8)
        if method == 'percentile':
            extra.update(CalibPercentile=percentile)
        act = QuantType.QUInt8 if activation_type == 'uint8' else QuantType.QInt8
        quantize_static(
            model_in, str(out_onnx), Reader(), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=types, nodes_to_exclude=exclude, per_channel=per_channel,
            activation_type=act, weight_type=QuantType.QInt8,
            calibrate_method={'minmax': CalibrationMethod.MinMax,
                              'percentile': CalibrationMethod.Percentile,
                              'entropy': CalibrationMethod.Entropy}[method],
            extra_options=extra)
    out = onnx.load(str(out_onnx))
    del out.metadata_props[:]
    for key, value in metadata:
        out.metadata_props.add(key=key, value=value)
    onnx.save(out, str(out_onnx))
    assert any(p.key == METADATA_KEY for p in out.metadata_props) or not metadata
    return dict(backend='onnxruntime', method=method, activation_type=activation_type,
                op_types=None if types is None else list(types),
                exclude_types=list(exclude_types), keep_first_conv=keep_first_conv,
                keep_last_conv=keep_last_conv, preprocess=preprocess,
                calibration_crops=len(crops),
                **({'percentile': percentile} if method == 'percentile' else {}))


# ------------------------------------------------------------------ OpenVINO / NNCF


def quantize_openvino(fp32_onnx: str, out_xml: str, crops: np.ndarray, *,
                      preset: str = 'performance',
                      ignored_types: Sequence[str] = OV_KEEP_FP32,
                      fast_bias_correction: bool = True, smooth_quant: bool = False,
                      keep_last_conv: bool = True) -> Dict[str, Any]:
    """Quantize ``fp32_onnx`` (an exported ``.onnx`` or FP32 IR) with NNCF into an OpenVINO
    IR ``out_xml`` (+ ``.bin``), calibrated on all ``crops``.

    ``preset``: ``performance`` (symmetric activations) or ``mixed`` (asymmetric
    activations); ``ignored_types``: OpenVINO op types kept FP32 (e.g. ``Multiply``,
    ``Add``); ``fast_bias_correction`` False runs the slower full bias correction;
    ``keep_last_conv`` keeps the head's final convolution FP32 (by position). Saved with
    FP32 weights where not quantized (``compress_to_fp16=False``) and the metadata under
    ``rt_info['litehrnet_mmpose']``, as ``export.save_openvino_ir`` does. Returns the
    settings used.
    """
    fp32_onnx = _check_file(fp32_onnx, 'fp32_onnx')
    if preset not in OV_PRESETS:
        raise ValueError(f'preset: expected one of {", ".join(OV_PRESETS)}, got {preset!r}')
    if not isinstance(out_xml, (str, os.PathLike)) or not str(out_xml).endswith('.xml'):
        raise ValueError(f'out_xml: expected a path ending in .xml, got {out_xml!r}')
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    model = ov.Core().read_model(fp32_onnx)
    shape = [d.get_length() if d.is_static else None for d in model.inputs[0].get_partial_shape()]
    crops = _check_crops(crops, shape)
    meta = None
    for key in ([METADATA_KEY], ['framework', METADATA_KEY]):
        if model.has_rt_info(key):
            meta = model.get_rt_info(key).astype(str)
            break
    data = list(batches(crops, shape[0]))
    names = []
    if keep_last_conv:
        convs = [op.get_friendly_name() for op in model.get_ordered_ops()
                 if op.get_type_name() == 'Convolution']
        names = convs[-1:]
    scope = nncf.IgnoredScope(types=list(ignored_types), names=names, validate=False)
    advanced = AdvancedQuantizationParameters(
        smooth_quant_alpha=0.95 if smooth_quant else -1)
    quantized = nncf.quantize(
        model, nncf.Dataset(data), subset_size=len(data),
        preset=nncf.QuantizationPreset.PERFORMANCE if preset == 'performance'
        else nncf.QuantizationPreset.MIXED,
        target_device=nncf.TargetDevice.CPU, ignored_scope=scope,
        fast_bias_correction=fast_bias_correction, advanced_parameters=advanced)
    if meta is not None:
        quantized.set_rt_info(meta, [METADATA_KEY])
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    return dict(backend='openvino', preset=preset, ignored_types=list(ignored_types),
                fast_bias_correction=fast_bias_correction, smooth_quant=smooth_quant,
                keep_last_conv=keep_last_conv, calibration_crops=len(crops))
