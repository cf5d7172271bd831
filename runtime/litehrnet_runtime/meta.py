"""What inference needs besides the network, as exported with the network.

``tools/export_onnx.py`` writes this dictionary as JSON into the ONNX file's metadata
(``metadata_props`` key :data:`METADATA_KEY`; OpenVINO reads it as ``rt_info['framework']``
and an IR saved by us keeps it under ``rt_info[METADATA_KEY]``), so the exported file alone
is enough to turn an image into keypoints. :func:`check_meta` validates it on load: a file
without it, or with a field this runtime does not know how to run, is refused with a
message saying how to re-export.
"""
import json
from typing import Any, Dict, List, Optional, Sequence

METADATA_KEY = 'litehrnet_mmpose'
FORMAT = 'litehrnet_mmpose.topdown-heatmap/1'
REEXPORT = ('re-export it with `python tools/export_onnx.py CONFIG CHECKPOINT --out FILE` '
            '(litehrnet_mmpose), which writes the metadata inference needs')
SUPPORTED_CODECS = ('MSRAHeatmap', )
SUPPORTED_FLIP_MODES = ('heatmap', )


def _need(meta: Dict[str, Any], where: str, key: str, kind: type) -> Any:
    name = key.rsplit('.', 1)[-1]  # key: the dotted path, for the message
    if name not in meta:
        raise ValueError(f'{where}: metadata field {key!r} is missing; {REEXPORT}')
    value = meta[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ValueError(f'{where}: metadata field {key!r} should be {kind.__name__}, got '
                         f'{value!r:.80}; {REEXPORT}')
    return value


def _ints(value: Any, n: Optional[int], field: str, where: str) -> List[int]:
    if (not isinstance(value, list) or (n is not None and len(value) != n)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ValueError(f'{where}: metadata field {field!r} should be a list of '
                         f'{n if n is not None else "some"} ints, got {value!r:.80}')
    return value


def check_meta(meta: Any, where: str) -> Dict[str, Any]:
    """``meta`` if it describes a top-down heatmap model this runtime can run, else a
    ValueError naming ``where`` (the file) and the field."""
    if not isinstance(meta, dict):
        raise ValueError(f'{where}: metadata should be a JSON object, got {meta!r:.80}')
    if meta.get('format') != FORMAT:
        raise ValueError(f'{where}: metadata format {meta.get("format")!r}, this runtime '
                         f'reads {FORMAT!r}; {REEXPORT}')
    inp = _need(meta, where, 'input', dict)
    _ints(_need(inp, where, 'input.size', list), 2, 'input.size', where)
    for key in ('mean', 'std'):
        vals = _need(inp, where, f'input.{key}', list)
        if len(vals) != 3 or not all(isinstance(v, (int, float)) for v in vals):
            raise ValueError(f'{where}: metadata field input.{key} should be 3 numbers, got '
                             f'{vals!r:.80}')
    if any(s == 0 for s in inp['std']):
        raise ValueError(f'{where}: metadata field input.std has a zero: {inp["std"]}')
    if inp.get('channel_order') not in ('rgb', 'bgr'):
        raise ValueError(f'{where}: metadata field input.channel_order should be "rgb" or '
                         f'"bgr", got {inp.get("channel_order")!r}')
    codec = _need(meta, where, 'codec', dict)
    if codec.get('type') not in SUPPORTED_CODECS:
        raise ValueError(f'{where}: codec {codec.get("type")!r} is not supported by this '
                         f'runtime (supported: {", ".join(SUPPORTED_CODECS)})')
    _ints(_need(codec, where, 'codec.heatmap_size', list), 2, 'codec.heatmap_size', where)
    _ints(_need(codec, where, 'codec.input_size', list), 2, 'codec.input_size', where)
    if codec.get('unbiased'):
        kernel = codec.get('blur_kernel_size')
        if not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f'{where}: codec.blur_kernel_size should be an odd positive '
                             f'int, got {kernel!r}')
    test_cfg = _need(meta, where, 'test_cfg', dict)
    if test_cfg.get('flip_test') and test_cfg.get('flip_mode') not in SUPPORTED_FLIP_MODES:
        raise ValueError(f'{where}: flip_mode {test_cfg.get("flip_mode")!r} is not supported '
                         f'(supported: {", ".join(SUPPORTED_FLIP_MODES)})')
    ds = _need(meta, where, 'dataset', dict)
    names = _need(ds, where, 'dataset.keypoint_names', list)
    k = len(names)
    flip = _ints(_need(ds, where, 'dataset.flip_indices', list), k, 'dataset.flip_indices', where)
    if sorted(flip) != list(range(k)):
        raise ValueError(f'{where}: dataset.flip_indices is not a permutation of 0..{k - 1}: '
                         f'{flip}')
    for i, link in enumerate(ds.get('skeleton', [])):
        if len(_ints(link, 2, f'dataset.skeleton[{i}]', where)) != 2 or max(link) >= k:
            raise ValueError(f'{where}: dataset.skeleton[{i}] = {link} names a keypoint >= '
                             f'{k}')
    return meta


def loads_meta(text: Optional[str], where: str) -> Dict[str, Any]:
    """Parse and check the JSON metadata string of an exported file."""
    if text is None:
        raise ValueError(f'{where} has no {METADATA_KEY!r} metadata: it was not exported by '
                         f'litehrnet_mmpose, or by a version without inference metadata; '
                         f'{REEXPORT}')
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f'{where}: its {METADATA_KEY!r} metadata is not valid JSON ({e}); '
                         f'{REEXPORT}') from e
    return check_meta(meta, where)


def check_io_shapes(meta: Dict[str, Any], input_shape: Sequence[Any],
                    output_shape: Sequence[Any], where: str) -> None:
    """The graph's input (N, 3, H, W) and output (N, K, h, w) agree with the metadata (a
    symbolic dimension, given as a str or None, matches anything)."""
    w, h = meta['input']['size']
    hw, hh = meta['codec']['heatmap_size']
    k = len(meta['dataset']['keypoint_names'])
    for what, shape, want in (('input', input_shape, (None, 3, h, w)),
                              ('output', output_shape, (None, k, hh, hw))):
        fixed = [d if isinstance(d, int) and d > 0 else None for d in shape]
        if len(fixed) != 4 or any(g is not None and e is not None and g != e
                                  for g, e in zip(fixed, want)):
            raise ValueError(f'{where}: the graph\'s {what} has shape {list(shape)}, the '
                             f'metadata says (N, {", ".join(str(e) for e in want[1:])}): the '
                             f'file\'s network and metadata disagree; {REEXPORT}')
