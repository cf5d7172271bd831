"""Checks a config before the Runner starts, with errors naming the file, field and value.

Without them these mistakes surface late and far from their cause: a missing
``custom_imports`` only breaks MMPose's own tools ("not in the mmpose::model registry"),
an input size the backbone cannot halve five times fails in the first forward pass after
the datasets are loaded, and a head whose ``in_channels`` do not match the backbone (the
official naive configs ship that bug) fails inside a convolution with a shape message.
"""
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

from ..registry import SCOPE

CfgPath = Tuple[str, Any]


def _walk(node: Any, path: str = '') -> Iterator[CfgPath]:
    """Every (dotted path, value) in a config tree, lists indexed by position."""
    yield path, node
    if isinstance(node, dict):
        items: Sequence = list(node.items())
    elif isinstance(node, (list, tuple)):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        yield from _walk(value, f'{path}.{key}' if path else str(key))


def _check_custom_imports(cfg: Config, source: str) -> None:
    ours = [(p, v) for p, v in _walk(cfg.to_dict())
            if p.endswith('type') and isinstance(v, str) and v.startswith(SCOPE + '.')]
    imports = (cfg.get('custom_imports') or {}).get('imports', [])
    imports = [imports] if isinstance(imports, str) else list(imports)
    if ours and not any(m == SCOPE or m.startswith(SCOPE + '.') for m in imports):
        path, value = ours[0]
        raise ValueError(
            f'{source}: {path}={value!r} needs our registrations, but custom_imports does '
            f'not import {SCOPE} (it has {imports!r}); add '
            f"custom_imports = dict(imports=['{SCOPE}'], allow_failed_imports=False) "
            "(or inherit configs/_base_/default_runtime.py); MMPose's own tools cannot find "
            f'{value!r} without it')


def _build_backbone(cfg: Config, source: str) -> Optional[Any]:
    """Our backbone of ``cfg.model``, built on the CPU; None for any other backbone."""
    from ..models import LiteHRNet
    backbone_cfg = (cfg.get('model') or {}).get('backbone')
    if not isinstance(backbone_cfg, dict) or not str(backbone_cfg.get('type', '')).startswith(
            SCOPE + '.'):
        return None
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpose')):
        try:
            backbone = MODELS.build(backbone_cfg)
        except (ValueError, TypeError) as e:  # our messages name the field and value
            raise type(e)(f'{source}: model.backbone: {e}') from e
    return backbone if isinstance(backbone, LiteHRNet) else None


def _check_input_sizes(cfg: Config, divisor: int, source: str) -> None:
    for path, value in _walk(cfg.to_dict()):
        if path.split('.')[-1] == 'input_size' and isinstance(value, (list, tuple)):
            if any(not isinstance(v, int) or v % divisor for v in value):
                raise ValueError(
                    f'{source}: {path}={tuple(value)!r}: the backbone halves its input down '
                    f'to 1/{divisor}, so width and height must be multiples of {divisor}')


def _check_head_channels(cfg: Config, backbone: Any, source: str) -> None:
    outs: List[int] = [backbone.out_channels[i] for i in backbone.out_indices]
    desc = f'the backbone ({cfg.model.backbone.type}) outputs {outs} channels'
    head = cfg.model.get('head')
    # MMPose's top-down heads read the last of the backbone's outputs.
    if isinstance(head, dict) and isinstance(head.get('in_channels'), int):
        if head['in_channels'] != outs[-1]:
            raise ValueError(f'{source}: model.head.in_channels={head["in_channels"]} but '
                             f'{desc}; set it to {outs[-1]}')
    decode = cfg.model.get('decode_head')  # mmseg: in_index picks among the outputs
    if isinstance(decode, dict) and 'in_channels' in decode:
        index = decode.get('in_index', -1)
        expected = ([outs[i] for i in index] if isinstance(index, (list, tuple))
                    else outs[index])
        got = list(decode['in_channels']) if isinstance(decode['in_channels'],
                                                        (list, tuple)) else decode['in_channels']
        if got != expected:
            raise ValueError(f'{source}: model.decode_head.in_channels={got} but {desc} '
                             f'(in_index={index}); set it to {expected}')


def check_config(cfg: Config) -> None:
    """Check ``cfg`` (its ``filename`` is named in errors); raises ValueError/TypeError."""
    source = cfg.filename or 'config'
    _check_custom_imports(cfg, source)
    backbone = _build_backbone(cfg, source)
    if backbone is not None:
        _check_input_sizes(cfg, backbone.size_divisor, source)
        _check_head_channels(cfg, backbone, source)


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


# MMPose's PCK metrics and their default norm_item; 'head' needs the dataset's head sizes.
_PCK_DEFAULT_NORM = {'MpiiPCKAccuracy': 'head', 'PCKAccuracy': 'bbox',
                     'JhmdbPCKAccuracy': 'bbox'}


def _needs_head_size(evaluator: Any) -> bool:
    if not isinstance(evaluator, dict):
        return False
    default = _PCK_DEFAULT_NORM.get(str(evaluator.get('type', '')).split('.')[-1])
    return default is not None and 'head' in _as_list(evaluator.get('norm_item', default))


def check_evaluation(cfg: Config,
                     loaders: Union[str, Sequence[str]] = ('val_dataloader', )) -> None:
    """Check that each of ``loaders`` (``'val_dataloader'`` / ``'test_dataloader'``) gives
    its evaluator what it needs, before training starts: an MPII dataset without
    ``headbox_file`` has no head sizes, and a PCK normalised by them (``MpiiPCKAccuracy``)
    would otherwise fail at the first validation, after a whole training epoch."""
    source = cfg.filename or 'config'
    for loader in _as_list(loaders):
        evaluator_key = loader.replace('dataloader', 'evaluator')
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        evaluators = _as_list(cfg.get(evaluator_key) or [])
        if not str(dataset.get('type', '')).endswith('MpiiDataset') or dataset.get(
                'headbox_file'):
            continue
        for i, evaluator in enumerate(evaluators):
            if _needs_head_size(evaluator):
                name = evaluator_key if len(evaluators) == 1 else f'{evaluator_key}[{i}]'
                raise ValueError(
                    f'{source}: {name}.type={evaluator["type"]!r} normalises PCK by the head '
                    f'size, but {loader}.dataset.headbox_file='
                    f'{dataset.get("headbox_file")!r} gives the MPII dataset none (evaluation '
                    f'would fail after training); set {loader}.dataset.headbox_file to '
                    "MPII's annotations/mpii_gt_val.mat, or normalise by the person box: "
                    f'--cfg-options {name}.type=PCKAccuracy {name}.norm_item=bbox')
