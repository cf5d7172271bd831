"""Bad arguments raise ValueError/TypeError naming the field and the offending value."""
import copy
from typing import Callable

import pytest
import torch

from litehrnet_mmpose import ARCH_SETTINGS, MODELS, LiteHRNet, NaiveLiteHRNet
from litehrnet_mmpose.models import CrossResolutionWeighting, SpatialWeighting


def extra_with(**changes: object) -> dict:
    """ARCH_SETTINGS['18'] with dotted-path fields replaced, e.g. stages_spec__num_modules."""
    extra = copy.deepcopy(ARCH_SETTINGS['18'])
    for path, value in changes.items():
        *parents, leaf = path.split('__')
        node = extra
        for p in parents:
            node = node[p]
        node[leaf] = value
    return extra


CASES = [
    ('unknown arch', lambda: LiteHRNet(arch='42'), ValueError, ['arch', "'42'"]),
    ('naive arch on LiteHRNet', lambda: LiteHRNet(arch='naive-18'), ValueError,
     ['arch', 'naive-18']),
    ('unknown naive arch', lambda: NaiveLiteHRNet(arch='18'), ValueError, ['arch', "'18'"]),
    ('unknown module type',
     lambda: LiteHRNet(extra=extra_with(stages_spec__module_type=('LITE', 'FAST', 'LITE'))),
     ValueError, ['module_type[1]', 'FAST']),
    ('list of wrong length',
     lambda: LiteHRNet(extra=extra_with(stages_spec__num_modules=(2, 4))), ValueError,
     ['num_modules', 'num_stages=3', '(2, 4)']),
    ('channels do not fit the branch count',
     lambda: LiteHRNet(extra=extra_with(stages_spec__num_channels=((40, 80), (40, 80), (40, 80,
                                                                                      160, 320)))),
     ValueError, ['num_channels[1]', 'num_branches[1]=3']),
    ('odd channel count',
     lambda: LiteHRNet(extra=extra_with(stages_spec__num_channels=((41, 80), (40, 80, 160),
                                                                   (40, 80, 160, 320)))),
     ValueError, ['num_channels[0][0]', '41']),
    ('too few channels for LITE',
     lambda: LiteHRNet(extra=extra_with(stages_spec__num_channels=((4, 80), (40, 80, 160),
                                                                   (40, 80, 160, 320)))),
     ValueError, ['num_channels[0][0]', '4']),
    ('missing stages_spec key',
     lambda: LiteHRNet(extra={k: v for k, v in ARCH_SETTINGS['18'].items()
                              if k != 'stages_spec'}), ValueError, ['stages_spec']),
    ('odd stem channels', lambda: LiteHRNet(extra=extra_with(stem__stem_channels=31)),
     ValueError, ['stem_channels', '31']),
    ('extra is not a dict', lambda: LiteHRNet(extra=[1, 2]), TypeError, ['extra', 'list']),
    ('bad out_indices', lambda: LiteHRNet(out_indices=(0, 4)), ValueError,
     ['out_indices', '(0, 4)']),
    ('bad frozen_stages', lambda: LiteHRNet(frozen_stages=5), ValueError,
     ['frozen_stages', '5']),
    ('bad in_channels', lambda: LiteHRNet(in_channels=0), ValueError, ['in_channels', '0']),
    ('reduction leaves no channels', lambda: SpatialWeighting(channels=3, ratio=4), ValueError,
     ['SpatialWeighting.channels', '3']),
    ('bad act_cfg', lambda: SpatialWeighting(channels=16, act_cfg='relu'), TypeError,
     ['act_cfg', 'relu']),
    ('bad cross-resolution channels', lambda: CrossResolutionWeighting(channels=[20, -1]),
     TypeError, ['CrossResolutionWeighting.channels', '-1']),
    ('input not divisible by 32', lambda: LiteHRNet().eval()(torch.zeros(1, 3, 250, 192)),
     ValueError, ['divisible by 32', '250x192']),
    ('unknown type through the registry',
     lambda: MODELS.build(dict(type='litehrnet_mmpose.LiteHRNet', arch='18x')), ValueError,
     ['arch', '18x']),
]


@pytest.mark.parametrize('name,make,error,words', CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(name: str, make: Callable, error: type,
                                      words: list) -> None:
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))
