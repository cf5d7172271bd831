"""The architecture table: the paper's presets as ``extra`` dicts in MMPose's layout, and
the checks that give a wrong ``extra`` an error naming its field."""
import copy
from collections.abc import Mapping
from typing import Any, Dict, Sequence, Tuple

# arch -> (module type, modules per stage, channels of the highest-resolution branch).
# Every preset: stem 32 -> 32 channels, 2/3/4 branches doubling in width, 2 blocks per
# module, reduce ratio 8 (ignored by 'NAIVE'), iterative head. Values from the paper
# (Table 2) and the official configs.
_PRESETS: Dict[str, Tuple[str, Tuple[int, int, int], int]] = {
    '18': ('LITE', (2, 4, 2), 40),
    '30': ('LITE', (3, 8, 3), 40),
    'naive-18': ('NAIVE', (2, 4, 2), 30),
    'wider-naive-18': ('NAIVE', (2, 4, 2), 40),
}


def _preset_extra(module_type: str, num_modules: Tuple[int, ...], width: int) -> dict:
    num_branches = (2, 3, 4)
    return dict(
        stem=dict(stem_channels=32, out_channels=32, expand_ratio=1),
        num_stages=3,
        stages_spec=dict(
            num_modules=num_modules,
            num_branches=num_branches,
            num_blocks=(2, 2, 2),
            module_type=(module_type, ) * 3,
            with_fuse=(True, True, True),
            reduce_ratios=(8, 8, 8) if module_type == 'LITE' else (1, 1, 1),
            num_channels=tuple(tuple(width * 2**b for b in range(n)) for n in num_branches)),
        with_head=True)


#: The ``extra`` dict of every named architecture.
ARCH_SETTINGS: Dict[str, dict] = {k: _preset_extra(*v) for k, v in _PRESETS.items()}

_SPEC_KEYS = ('num_modules', 'num_branches', 'num_blocks', 'module_type', 'with_fuse',
              'reduce_ratios', 'num_channels')


def resolve_arch(arch: Any, choices: Sequence[str], field: str) -> str:
    """The preset name ``arch`` means: a name in ``choices``, or an int naming one (mmengine's
    ``--cfg-options model.backbone.arch=30`` yields the int 30, the shell having stripped
    any quotes). Raises ValueError naming ``field`` otherwise."""
    if isinstance(arch, int) and not isinstance(arch, bool) and str(arch) in choices:
        return str(arch)
    if isinstance(arch, str) and arch in choices:
        return arch
    kind = f' ({type(arch).__name__})' if not isinstance(arch, str) else ''
    raise ValueError(f'{field}: unknown arch {arch!r}{kind}; expected one of '
                     f'{sorted(choices)} or an extra= dict')


def positive_int(value: Any, field: str) -> int:
    """``value`` if it is a positive int (not a bool); a ValueError naming ``field`` if not."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{field}: expected a positive int, got {value!r}')
    return value


def validate_extra(extra: Any, owner: str) -> dict:
    """Check an ``extra`` dict and return a plain deep copy; errors name the field."""
    if not isinstance(extra, Mapping):
        raise TypeError(f'{owner}.extra: expected a dict, got {type(extra).__name__}')
    extra = copy.deepcopy(dict(extra))
    for key in ('stem', 'num_stages', 'stages_spec'):
        if key not in extra:
            raise ValueError(f'{owner}.extra: missing key {key!r}')
    extra.setdefault('with_head', True)
    stem = extra['stem']
    for key in ('stem_channels', 'out_channels', 'expand_ratio'):
        if key not in stem:
            raise ValueError(f'{owner}.extra.stem: missing key {key!r}')
    stem_ch = positive_int(stem['stem_channels'], f'{owner}.extra.stem.stem_channels')
    out_ch = positive_int(stem['out_channels'], f'{owner}.extra.stem.out_channels')
    if stem_ch % 2:
        raise ValueError(f'{owner}.extra.stem.stem_channels: must be even (it is split in '
                         f'two halves), got {stem_ch}')
    if out_ch <= (stem_ch // 2 if out_ch == stem_ch else stem_ch):
        raise ValueError(f'{owner}.extra.stem.out_channels: must exceed stem_channels '
                         f'({stem_ch}) or equal it, got {out_ch}')
    num_stages = positive_int(extra['num_stages'], f'{owner}.extra.num_stages')
    spec = extra['stages_spec']
    for key in _SPEC_KEYS:
        if key not in spec:
            raise ValueError(f'{owner}.extra.stages_spec: missing key {key!r}')
        value = spec[key]
        if not isinstance(value, (list, tuple)) or len(value) != num_stages:
            raise ValueError(f'{owner}.extra.stages_spec.{key}: expected one entry per stage '
                             f'(num_stages={num_stages}), got {value!r}')
    for i in range(num_stages):
        where = f'{owner}.extra.stages_spec'
        for key in ('num_modules', 'num_branches', 'num_blocks', 'reduce_ratios'):
            positive_int(spec[key][i], f'{where}.{key}[{i}]')
        module_type = spec['module_type'][i]
        if not isinstance(module_type, str) or module_type.upper() not in ('LITE', 'NAIVE'):
            raise ValueError(f"{where}.module_type[{i}]: expected 'LITE' or 'NAIVE', "
                             f'got {module_type!r}')
        channels = spec['num_channels'][i]
        if not isinstance(channels, (list, tuple)) or len(channels) != spec['num_branches'][i]:
            raise ValueError(f'{where}.num_channels[{i}]: expected num_branches[{i}]='
                             f"{spec['num_branches'][i]} channel counts, got {channels!r}")
        for b, c in enumerate(channels):
            positive_int(c, f'{where}.num_channels[{i}][{b}]')
            if c % 2:
                raise ValueError(f'{where}.num_channels[{i}][{b}]: must be even (blocks split '
                                 f'channels in two halves), got {c}')
            if module_type.upper() == 'LITE' and c // 2 < 4:
                raise ValueError(f'{where}.num_channels[{i}][{b}]: LITE blocks need at least '
                                 f'8 channels (spatial weighting reduces c/2 by 4), got {c}')
        if module_type.upper() == 'LITE' and sum(c // 2 for c in channels) < spec[
                'reduce_ratios'][i]:
            raise ValueError(f'{where}.reduce_ratios[{i}]: {spec["reduce_ratios"][i]} exceeds '
                             f'the {sum(c // 2 for c in channels)} channels it reduces')
    return extra
