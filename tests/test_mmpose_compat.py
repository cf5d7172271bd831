"""Drop-in compatibility with MMPose 1.3.2's ``LiteHRNet``: code written against MMPose's
classes (its docstring example, its own unit tests, the constructor calls of its network,
its configs) runs unchanged on ours, with the same constructor signatures, public
attributes, state-dict layout and forward return types.

Where a test runs a call pattern, it runs it on MMPose's classes too (``impl='mmpose'``), so
every expectation below is MMPose's actual behaviour, not our reading of it. Output values
are test_parity.py's subject; here only what code written for MMPose relies on."""
import contextlib
import copy
import inspect
import io
from pathlib import Path
from typing import Any, Callable, Dict

import mmpose
import mmpose.models.backbones.litehrnet as mmpose_litehrnet
import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS as MMPOSE_MODELS

import litehrnet_mmpose
from litehrnet_mmpose import ARCH_SETTINGS, MODELS
from litehrnet_mmpose.models import (ConditionalChannelWeighting, CrossResolutionWeighting,
                                     IterativeHead, LiteHRModule, LiteHRNet, NaiveLiteHRNet,
                                     ShuffleUnit, SpatialWeighting, Stem)

from .helpers import build_reference, randomize_bn

CLASSES = ('LiteHRNet', 'LiteHRModule', 'ConditionalChannelWeighting',
           'CrossResolutionWeighting', 'SpatialWeighting', 'Stem', 'IterativeHead',
           'ShuffleUnit')
OURS = dict(zip(CLASSES, (LiteHRNet, LiteHRModule, ConditionalChannelWeighting,
                          CrossResolutionWeighting, SpatialWeighting, Stem, IterativeHead,
                          ShuffleUnit)))
MMPOSE = {name: getattr(mmpose_litehrnet, name) for name in CLASSES}
IMPLS = {'mmpose': MMPOSE, 'ours': OURS}


def structure(out: Any) -> Any:
    """Container types and tensor shapes of a forward's result, nested."""
    if isinstance(out, torch.Tensor):
        return 'Tensor', tuple(out.shape)
    assert isinstance(out, (list, tuple)), type(out)
    return type(out).__name__, [structure(o) for o in out]


# ------------------------------------------------------------ state-dict layout


PRESETS = [(litehrnet_mmpose.LiteHRNet, '18'), (litehrnet_mmpose.LiteHRNet, '30'),
           (litehrnet_mmpose.NaiveLiteHRNet, 'naive-18'),
           (litehrnet_mmpose.NaiveLiteHRNet, 'wider-naive-18')]


@pytest.mark.parametrize('cls,arch', PRESETS, ids=[arch for _, arch in PRESETS])
def test_preset_state_dict_keys_shapes_and_order_are_mmposes(cls: type, arch: str) -> None:
    """Our preset against MMPose's LiteHRNet built with the same ``extra``: the same keys
    with the same shapes, in the same order."""
    ours = [(k, tuple(v.shape)) for k, v in cls(arch=arch).state_dict().items()]
    ref = [(k, tuple(v.shape))
           for k, v in build_reference(arch, init_weights=False).state_dict().items()]
    assert ours == ref


# ------------------------------------------------------------ MMPose's own code, unchanged


def mmpose_docstring_example() -> tuple:
    """The code and the printed output of the ``Example:`` in MMPose's LiteHRNet docstring,
    as written there (its continuation lines also start with ``>>>``)."""
    doc = inspect.getdoc(mmpose_litehrnet.LiteHRNet)
    code, printed = [], []
    for line in doc[doc.index('Example:'):].splitlines()[1:]:
        line = line.strip()
        if line.startswith(('>>> ', '... ')) or line in ('>>>', '...'):
            code.append(line[4:])
        elif line:
            printed.append(line)
    return '\n'.join(code), '\n'.join(printed)


@pytest.mark.parametrize('impl', IMPLS)
def test_mmposes_docstring_example_runs_unchanged(impl: str) -> None:
    """``self = LiteHRNet(extra, in_channels=1)``, ``self.eval()``, ``self.forward(inputs)``
    and the shapes it prints: run from the docstring's own text, with ``LiteHRNet`` ours."""
    code, printed = mmpose_docstring_example()
    import_line = 'from mmpose.models import LiteHRNet'
    assert import_line in code and 'self = LiteHRNet(extra, in_channels=1)' in code
    assert printed == '(1, 40, 8, 8)'
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code.replace(import_line, ''), {'LiteHRNet': IMPLS[impl]['LiteHRNet']})
    assert out.getvalue().strip() == printed


# MMPose's unit tests (tests/test_models/test_backbones/test_litehrnet.py in MMPose 1.3.2),
# their calls and checks as written there.
MMPOSE_TEST_EXTRA = dict(
    stem=dict(stem_channels=32, out_channels=32, expand_ratio=1),
    num_stages=3,
    stages_spec=dict(
        num_modules=(2, 4, 2),
        num_branches=(2, 3, 4),
        num_blocks=(2, 2, 2),
        module_type=('LITE', 'LITE', 'LITE'),
        with_fuse=(True, True, True),
        reduce_ratios=(8, 8, 8),
        num_channels=(
            (40, 80),
            (40, 80, 160),
            (40, 80, 160, 320),
        )),
    with_head=True)


@pytest.mark.parametrize('impl', IMPLS)
def test_mmposes_litehrmodule_unit_test_runs_unchanged(impl: str) -> None:
    """MMPose's ``test_litehrmodule``: single-branch modules, a NAIVE one called on ``[x]``,
    an unknown module type is a ValueError; and a LITE one, which MMPose calls on ``[[x]]``.

    The one place where ours differs on purpose: with a single branch, MMPose's LITE module
    applies only its first block, to ``x[0]`` (so the branch list comes nested); ours takes
    the branch list ``[x]`` as every other module does and applies all ``num_blocks``. No
    Lite-HRNet preset or config has a single-branch module."""
    LiteHRModule = IMPLS[impl]['LiteHRModule']
    block = LiteHRModule(
        num_branches=1, num_blocks=1, in_channels=[40], reduce_ratio=8, module_type='LITE')
    x = torch.randn(2, 40, 56, 56)
    if impl == 'mmpose':
        x_out = block([[x]])
        assert x_out[0][0].shape == torch.Size([2, 40, 56, 56])
    else:
        x_out = block([x])
        assert x_out[0].shape == torch.Size([2, 40, 56, 56])

    block = LiteHRModule(
        num_branches=1, num_blocks=1, in_channels=[40], reduce_ratio=8, module_type='NAIVE')
    x = torch.randn(2, 40, 56, 56)
    x_out = block([x])
    assert x_out[0].shape == torch.Size([2, 40, 56, 56])

    with pytest.raises(ValueError):
        LiteHRModule(num_branches=1, num_blocks=1, in_channels=[40], reduce_ratio=8,
                     module_type='none')


@pytest.mark.parametrize('module_type', ['LITE', 'NAIVE'])
@pytest.mark.parametrize('impl', IMPLS)
def test_mmposes_litehrnet_unit_test_runs_unchanged(impl: str, module_type: str) -> None:
    """MMPose's ``test_litehrnet_backbone``: ``LiteHRNet(extra, in_channels=3)`` on 224x224
    images returns a tuple whose last entry is 2x40x56x56, before and after
    ``init_weights()`` and ``train()``."""
    LiteHRNet = IMPLS[impl]['LiteHRNet']
    extra = copy.deepcopy(MMPOSE_TEST_EXTRA)
    extra['stages_spec']['module_type'] = (module_type, ) * 3

    model = LiteHRNet(extra, in_channels=3)
    imgs = torch.randn(2, 3, 224, 224)
    feat = model(imgs)
    assert isinstance(feat, tuple)
    assert feat[-1].shape == torch.Size([2, 40, 56, 56])

    model.init_weights()
    model.train()
    feat = model(imgs)
    assert isinstance(feat, tuple)
    assert feat[-1].shape == torch.Size([2, 40, 56, 56])


MMPOSE_CONFIGS = sorted((Path(mmpose.__file__).parent / '.mim/configs').rglob('*litehrnet*.py'))


def test_mmposes_own_configs_build_ours_by_changing_the_type() -> None:
    """The ``model.backbone`` dict of each of MMPose's own Lite-HRNet configs, with ``type``
    changed to ours and nothing else, builds our LiteHRNet with MMPose's state-dict layout
    (each distinct backbone dict built once)."""
    assert len(MMPOSE_CONFIGS) == 7  # COCO 18/30 x 2 sizes, MPII 18/30, COCO-WholeBody hand
    built = set()
    for config in MMPOSE_CONFIGS:
        backbone = Config.fromfile(config).model.backbone.to_dict()
        assert backbone['type'] == 'LiteHRNet', config.name
        if repr(backbone) in built:
            continue
        built.add(repr(backbone))
        ours = MODELS.build({**backbone, 'type': 'litehrnet_mmpose.LiteHRNet'})
        assert type(ours) is LiteHRNet
        ref = MMPOSE_MODELS.build(backbone)
        assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
            (k, v.shape) for k, v in ref.state_dict().items()], config.name
    assert len(built) == 2  # the Lite-HRNet-18 and -30 backbones


# ------------------------------------------------------------ constructor signatures


@pytest.mark.parametrize('name', CLASSES)
def test_constructor_signature_starts_with_mmposes(name: str) -> None:
    """MMPose's parameters, in MMPose's positional order, with MMPose's defaults; whatever
    ours adds comes after them, keyword-only. (A parameter MMPose requires may have a
    default in ours: every call valid for MMPose's stays valid, e.g. ``extra`` falling back
    to ``arch``.)"""
    ref = list(inspect.signature(MMPOSE[name]).parameters.values())
    ours = list(inspect.signature(OURS[name]).parameters.values())
    assert [(p.name, p.kind) for p in ours[:len(ref)]] == [(p.name, p.kind) for p in ref]
    for r, o in zip(ref, ours):
        if r.default is not inspect.Parameter.empty:
            assert o.default == r.default, (r.name, o.default, r.default)
    extras = ours[len(ref):]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in extras), extras
    # and forward takes what MMPose's takes
    assert list(inspect.signature(OURS[name].forward).parameters) == list(
        inspect.signature(MMPOSE[name].forward).parameters)


def test_naive_litehrnet_takes_litehrnets_arguments() -> None:
    """NaiveLiteHRNet stands in for MMPose's LiteHRNet with a NAIVE ``extra`` the same way."""
    assert inspect.signature(NaiveLiteHRNet) == inspect.signature(LiteHRNet)


# ------------------------------------------------------------ same weights, same return types


def branches(channels: tuple, size: int = 16) -> Callable[[], list]:
    """Inputs of a multi-branch block: batch 2, each branch half the previous one's size."""
    def make() -> list:
        g = torch.Generator().manual_seed(0)
        return [torch.randn(2, c, size // 2**i, size // 2**i, generator=g)
                for i, c in enumerate(channels)]
    return make


def image(channels: int, size: int) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(0))


BN = dict(type='BN')
# (class, how MMPose's own code constructs it, an input), the calls as MMPose's litehrnet.py
# makes them: LiteHRNet as MODELS.build does from a config, the blocks as LiteHRNet,
# LiteHRModule and ConditionalChannelWeighting build theirs.
BLOCK_CALLS: Dict[str, tuple] = {
    'LiteHRNet-18': ('LiteHRNet', lambda c: c(extra=copy.deepcopy(ARCH_SETTINGS['18']),
                                              in_channels=3), image(3, 64)),
    'LiteHRNet-naive-18': ('LiteHRNet', lambda c: c(
        extra=copy.deepcopy(ARCH_SETTINGS['naive-18']), in_channels=3), image(3, 64)),
    'LiteHRModule-LITE': ('LiteHRModule', lambda c: c(
        3, 2, [40, 80, 160], 8, 'LITE', multiscale_output=True, with_fuse=True,
        conv_cfg=None, norm_cfg=BN, with_cp=False), branches((40, 80, 160))),
    'LiteHRModule-LITE-one-output': ('LiteHRModule', lambda c: c(
        3, 2, [40, 80, 160], 8, 'LITE', multiscale_output=False, with_fuse=True,
        conv_cfg=None, norm_cfg=BN, with_cp=False), branches((40, 80, 160))),
    'LiteHRModule-NAIVE': ('LiteHRModule', lambda c: c(
        2, 2, [30, 60], 1, 'NAIVE', multiscale_output=True, with_fuse=True, conv_cfg=None,
        norm_cfg=BN, with_cp=False), branches((30, 60))),
    'ConditionalChannelWeighting': ('ConditionalChannelWeighting', lambda c: c(
        [40, 80], stride=1, reduce_ratio=8, conv_cfg=None, norm_cfg=BN, with_cp=False),
        branches((40, 80))),
    'CrossResolutionWeighting': ('CrossResolutionWeighting', lambda c: c(
        [20, 40], ratio=8, conv_cfg=None, norm_cfg=BN), branches((20, 40))),
    'SpatialWeighting': ('SpatialWeighting', lambda c: c(channels=20, ratio=4),
                         image(20, 16)),
    'Stem': ('Stem', lambda c: c(3, stem_channels=32, out_channels=32, expand_ratio=1,
                                 conv_cfg=None, norm_cfg=BN), image(3, 32)),
    'IterativeHead': ('IterativeHead', lambda c: c(in_channels=[40, 80, 160, 320],
                                                   norm_cfg=BN), branches((40, 80, 160, 320))),
    'ShuffleUnit': ('ShuffleUnit', lambda c: c(40, 40, stride=1, conv_cfg=None, norm_cfg=BN,
                                               act_cfg=dict(type='ReLU'), with_cp=False),
                    image(40, 16)),
}


@pytest.fixture(scope='module')
def built_pair() -> Callable[[str], tuple]:
    """MMPose's module (random BN) and ours with its state dict loaded strictly, built once
    per case for this module's tests (which look at structure, not values)."""
    pairs: Dict[str, tuple] = {}

    def get(case: str) -> tuple:
        if case not in pairs:
            name, construct, _ = BLOCK_CALLS[case]
            torch.manual_seed(0)
            ref = construct(MMPOSE[name])
            randomize_bn(ref)
            ours = construct(OURS[name])
            ours.load_state_dict(ref.state_dict(), strict=True)
            pairs[case] = ref, ours
        return pairs[case]
    return get


@pytest.mark.parametrize('mode', ['eval', 'train'])
@pytest.mark.parametrize('case', BLOCK_CALLS)
def test_forward_returns_mmposes_containers_and_shapes(case: str, mode: str,
                                                       built_pair: Callable) -> None:
    ref, ours = built_pair(case)
    ref.train(mode == 'train'), ours.train(mode == 'train')
    x = BLOCK_CALLS[case][2]()
    with torch.no_grad():  # each gets its own copy: MMPose's NAIVE modules write into x
        expected, got = ref(copy.deepcopy(x)), ours(copy.deepcopy(x))
    assert structure(got) == structure(expected)


def public_attributes(module: torch.nn.Module) -> dict:
    return {k: v for k, v in vars(module).items()
            if not k.startswith('_') and k not in ('training', 'init_cfg')}


@pytest.mark.parametrize('case', BLOCK_CALLS)
def test_public_attributes_are_mmposes(case: str, built_pair: Callable) -> None:
    """What MMPose's constructors store on the module (MMPose's own code reads some of it
    back, e.g. ``modules[-1].in_channels``, ``self.stem.out_channels``) is there on ours,
    with the same values."""
    ref, ours = built_pair(case)
    missing = sorted(set(public_attributes(ref)) - set(public_attributes(ours)))
    assert missing == []
    differ = {k: (getattr(ours, k), v) for k, v in public_attributes(ref).items()
              if getattr(ours, k) != v}
    assert differ == {}
