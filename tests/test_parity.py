"""Weight compatibility and numerical parity with MMPose 1.3.2's own LiteHRNet."""
import pytest
import torch
from mmpose.registry import MODELS as MMPOSE_MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from litehrnet_mmpose import MODELS, LiteHRNet

from .helpers import ARCHS, H, W, build, build_reference, randomize_bn


def test_both_lite_hrnets_live_in_one_process() -> None:
    import mmpose.models  # noqa: F401
    from mmpose.models.backbones import LiteHRNet as MMPoseLiteHRNet
    assert MMPOSE_MODELS.get('LiteHRNet') is MMPoseLiteHRNet
    assert MMPOSE_MODELS.get('litehrnet_mmpose.LiteHRNet') is LiteHRNet
    assert MODELS.get('LiteHRNet') is LiteHRNet
    assert MODELS.parent is MMPOSE_MODELS and MODELS.scope == 'litehrnet_mmpose'


@pytest.mark.parametrize('arch', list(ARCHS))
def test_state_dicts_have_identical_keys_and_shapes(arch: str) -> None:
    ours, ref = build(arch).state_dict(), build_reference(arch).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in ref.items()}


@pytest.mark.parametrize('arch', list(ARCHS))
def test_outputs_equal_mmpose_in_eval_and_train(arch: str) -> None:
    ref = build_reference(arch)
    randomize_bn(ref)
    ours = build(arch)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, H, W)
    ref.eval(), ours.eval()
    with torch.no_grad():
        out_no_grad = ours(x)
        diff = (ref(x)[0] - out_no_grad[0]).abs().max().item()
    # Outputs, eval and train: bit-exact today, the two run the same float ops in the same
    # order (measured 0 for all four archs on an AMD EPYC Zen 3, 1 and 2 threads, AVX2 and
    # SSE4.1 kernels); 1e-5 (~20 float32 ulps of outputs <= 5) would allow reordered sums.
    assert diff <= 1e-5
    # Without autograd the fusion sums in place: the same values, bit for bit.
    for a, b in zip(ours(x), out_no_grad):
        assert torch.equal(a.detach(), b)
    # Train mode (batch statistics): outputs, input gradients and the BN running statistics
    # left behind must all match.
    ref.train(), ours.train()
    xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_r, out_o = ref(xr)[0], ours(xo)[0]
    assert (out_r - out_o).abs().max().item() <= 1e-5
    out_r.pow(2).mean().backward()
    out_o.pow(2).mean().backward()
    # Gradients differ by float summation order only (backward runs the fusion's sums in
    # another order): measured up to 6e-6 of each tensor's largest entry (~50 ulps), input
    # gradients 1.3e-6, on the machine above (1 and 2 threads, AVX2 and SSE4.1 kernels);
    # 1e-4 of it allowed (16x). A BN bias whose BN feeds a conv and another BN gets a
    # gradient that cancels to rounding noise (~1e-8): its scale is the gradient of the same
    # BN's weight, the sum of the same terms without the cancellation (noise <= 8.6e-6 of it).
    torch.testing.assert_close(xo.grad, xr.grad, rtol=1e-4,
                               atol=1e-4 * xr.grad.abs().max().item())
    bns = {n: m for n, m in ref.named_modules() if isinstance(m, _BatchNorm)}
    for (name, a), b in zip(ref.named_parameters(), ours.parameters()):
        scale = a.grad.abs().max().item()
        owner, kind = name.rsplit('.', 1)
        if kind == 'bias' and owner in bns:
            scale = max(scale, bns[owner].weight.grad.abs().max().item())
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-4 * scale, msg=name)
    # Running statistics: ours applies the repeated fusion call's second BN update in closed
    # form, MMPose makes it: ulps apart (measured <= 2.4e-6 relative, ~20 ulps).
    for (name, a), b in zip(ref.state_dict().items(), ours.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
