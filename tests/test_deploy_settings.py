"""Deploy on non-default settings: each inference-only block reads the activation, kernel
and norm settings of the module it replaces, or refuses naming the setting."""
import copy
from typing import Callable

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from litehrnet_mmpose.deploy import switch_to_deploy
from litehrnet_mmpose.models import LiteHRNet

H, W = 64, 32


def small_extra(module_type: str) -> dict:
    """Two stages, three branches: every block kind and both fusion directions, fast."""
    return dict(
        stem=dict(stem_channels=16, out_channels=16, expand_ratio=1),
        num_stages=2,
        stages_spec=dict(num_modules=(1, 1), num_branches=(2, 3), num_blocks=(1, 1),
                         module_type=(module_type, ) * 2, with_fuse=(True, True),
                         reduce_ratios=(4, 4), num_channels=((16, 32), (16, 32, 64))),
        with_head=True)


def randomized(model: nn.Module) -> nn.Module:
    """Random weights and BN statistics (the default init makes BN folding trivial)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.3)
    return model.eval()


def deploy_matches_eval(model: nn.Module, in_channels: int = 3) -> float:
    x = torch.randn(2, in_channels, H, W, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x)
        deployed = switch_to_deploy(copy.deepcopy(model))
        got = deployed(x)
    assert not any(isinstance(m, _BatchNorm) for m in deployed.modules())
    assert max(t.abs().max().item() for t in expected) > 1e-2  # a meaningful comparison
    return max((a - b).abs().max().item() for a, b in zip(expected, got))


# Deploy folds BN into conv weights and sums the fusion's terms in another order: float32
# rounding, at most 2.4e-7 on these outputs (AMD EPYC); 1e-4 leaves room for any CPU.
DEPLOY_TOL = 1e-4


@pytest.mark.parametrize('module_type', ['LITE', 'NAIVE'])
@pytest.mark.parametrize('settings', [
    dict(in_channels=1),
    dict(in_channels=4, norm_cfg=dict(type='BN', momentum=0.03, eps=1e-3)),
    dict(norm_cfg=dict(type='SyncBN')),
    dict(conv_cfg=dict(type='Conv2d')),
], ids=['gray', 'rgbd-bn-eps', 'syncbn', 'conv-cfg'])
def test_deploy_equals_eval_on_other_settings(module_type: str, settings: dict) -> None:
    model = randomized(LiteHRNet(small_extra(module_type), out_indices=(0, 1, 2), **settings))
    assert deploy_matches_eval(model, settings.get('in_channels', 3)) <= DEPLOY_TOL


def swap_activation(model: nn.Module) -> None:
    """Hardswish in place of every weighting's ReLU: an activation deploy must read."""
    for m in model.modules():
        if hasattr(m, 'activate') and isinstance(m.activate, nn.ReLU):
            m.activate = nn.Hardswish()


def test_deploy_reads_the_weightings_activations() -> None:
    model = randomized(LiteHRNet(small_extra('LITE'), out_indices=(0, 1, 2)))
    swap_activation(model)
    assert deploy_matches_eval(model) <= DEPLOY_TOL


def prelu_in_spatial_weighting(model: nn.Module) -> None:
    block = model.stage0[0].layers[0]
    block.spatial_weighting[0].conv1.activate = nn.PReLU()


def bilinear_fusion(model: nn.Module) -> None:
    model.stage1[0].fuse_layers[0][2][2].mode = 'bilinear'


def wide_kernel_weighting(model: nn.Module) -> None:
    crw = model.stage0[0].layers[0].cross_resolution_weighting
    old = crw.conv1.conv
    crw.conv1.conv = nn.Conv2d(old.in_channels, old.out_channels, 3, padding=1)


def leaky_fusion_activation(model: nn.Module) -> None:
    model.stage1[0].relu = nn.LeakyReLU()


@pytest.mark.parametrize('module_type, edit, match', [
    ('LITE', prelu_in_spatial_weighting, 'PReLU'),
    ('LITE', bilinear_fusion, 'upsampling'),
    ('LITE', wide_kernel_weighting, 'plain 1x1'),
    ('NAIVE', leaky_fusion_activation, 'LeakyReLU'),
], ids=['prelu', 'bilinear', 'kernel-3x3', 'leaky'])
def test_deploy_refuses_settings_it_does_not_implement(module_type: str, edit: Callable,
                                                       match: str) -> None:
    model = randomized(LiteHRNet(small_extra(module_type)))
    edit(model)
    with pytest.raises(NotImplementedError, match=match):
        switch_to_deploy(model)


@pytest.mark.parametrize('module_type', ['LITE', 'NAIVE'])
def test_deploy_refuses_norms_that_do_not_fold(module_type: str) -> None:
    model = randomized(LiteHRNet(small_extra(module_type),
                                 norm_cfg=dict(type='GN', num_groups=2)))
    with pytest.raises(NotImplementedError, match='norm layer GroupNorm'):
        switch_to_deploy(model)


def test_deploy_refuses_bn_without_affine_parameters() -> None:
    model = randomized(LiteHRNet(small_extra('NAIVE'),
                                 norm_cfg=dict(type='BN', affine=False)))
    with pytest.raises(ValueError, match='not affine'):
        switch_to_deploy(model)


def test_deployed_backbone_runs_with_autograd_enabled() -> None:
    """Deploy is inference only: called outside ``torch.no_grad()`` it still runs (without
    building a graph) and gives the eval outputs."""
    model = randomized(LiteHRNet(small_extra('LITE')))
    x = torch.randn(1, 3, H, W)
    with torch.no_grad():
        expected = model(x)[0]
    got = switch_to_deploy(model)(x)[0]
    assert not got.requires_grad
    assert (got - expected).abs().max().item() <= DEPLOY_TOL
