"""Deploy mode (BN folding, inference-only fusion), graph capture (torch.fx, torch.jit,
ONNX through tools/export_onnx.py) and the benchmark's quick mode."""
import copy
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from litehrnet_mmpose.apis.models import build_pose_model
from litehrnet_mmpose.deploy import fuse_conv_bn, layout, switch_to_deploy
from litehrnet_mmpose.deploy.layout import PointwiseConv2d

from .helpers import ARCHS, H, W, build, build_small, load_tool, randomize_bn

ROOT = Path(__file__).resolve().parents[1]
CONFIG_18 = str(ROOT / 'configs/top_down/lite_hrnet/coco/litehrnet_18_coco_256x192.py')
ALL_OUT = (0, 1, 2, 3)


def eval_model(arch: str) -> nn.Module:
    model = build(arch, out_indices=ALL_OUT)
    randomize_bn(model)
    return model.eval()


def small_eval_model(module_type: str, num_stages: int = 3) -> nn.Module:
    """eval_model on the presets' code paths with fewer ops (graph capture costs per op)."""
    model = build_small(module_type, num_stages)
    randomize_bn(model)
    return model.eval()


def max_diff(a: tuple, b: tuple) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b))


def timing_is_consistent(t: dict, n: int) -> bool:
    """A summary of the ``n`` requested timings, all finite, median within [min, max]."""
    return (t['n'] == n and all(math.isfinite(t[k]) for k in ('min', 'median', 'max', 'iqr'))
            and t['min'] <= t['median'] <= t['max'])


@pytest.mark.parametrize('channels_last', [True, False], ids=['channels_last', 'nchw'])
@pytest.mark.parametrize('arch', list(ARCHS))
def test_deploy_outputs_equal_eval(arch: str, channels_last: bool) -> None:
    model = eval_model(arch)
    keys = set(model.state_dict())
    deployed = copy.deepcopy(model)
    deployed.switch_to_deploy(channels_last=channels_last)
    assert set(model.state_dict()) == keys  # the original is untouched
    assert not any(isinstance(m, _BatchNorm) for m in deployed.modules())
    assert any(type(m) is PointwiseConv2d for m in deployed.modules())
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        expected, got = model(x), deployed(x)
    assert [o.shape for o in got] == [o.shape for o in expected]
    assert all(o.is_contiguous() for o in got)  # NCHW outputs whatever the inner layout
    assert max(o.abs().max().item() for o in expected) > 1e-2  # a meaningful comparison
    # BN folded into the convs (weights rescaled and rounded once, other kernels in
    # channels_last): measured <= 4.8e-7 on outputs <= 0.6, AMD EPYC Zen 3, 1 and 2 threads.
    assert max_diff(expected, got) <= 1e-4
    with pytest.raises(RuntimeError, match='deploy'):
        deployed.train()


@pytest.mark.parametrize('part', ['module', 'block'])
def test_module_and_block_switch_to_deploy_alone(part: str) -> None:
    """A LiteHRModule or a ConditionalChannelWeighting block switched on its own (outside
    a backbone, BN not yet folded) gives the eval-mode outputs."""
    model = eval_model('18')
    original = model.stage1[0] if part == 'module' else model.stage1[0].layers[0]
    module = switch_to_deploy(copy.deepcopy(original))
    assert type(module).__name__.startswith('Deploy')
    assert not any(isinstance(m, _BatchNorm) for m in module.modules())
    g = torch.Generator().manual_seed(0)
    x = [torch.randn(2, c, H // 4 // 2**i, W // 4 // 2**i, generator=g)
         for i, c in enumerate(model.stage1[0].in_channels)]
    with torch.no_grad():  # BN folding's rounding, as above: measured <= 9.5e-7 (outputs <= 8)
        assert max_diff(original(x), module(x)) <= 1e-4


def test_channels_last_helpers_equal_nchw() -> None:
    """The channels_last implementations of the layout-sensitive helpers give the NCHW
    ones' values on channel slices of a channels_last tensor (what blocks pass them)."""
    cl = torch.channels_last
    g = torch.Generator().manual_seed(0)
    full = torch.randn(2, 16, 8, 12, generator=g).contiguous(memory_format=cl)
    a, b = full[:, :8], full[:, 8:]
    assert layout.is_channels_last(a) and not layout.is_channels_last(a.contiguous())
    got = layout.cat_shuffle(a, b)
    assert got.is_contiguous(memory_format=cl)
    assert torch.equal(got, layout.cat_shuffle(a.contiguous(), b.contiguous()))
    w = torch.randn(2, 16, 4, 3, generator=g)[:, 8:]  # upsampled by 2 x 4
    for fn in (layout.mul_upsampled, layout.add_upsampled, layout.add_double_upsampled):
        got = fn(b, w.contiguous(memory_format=cl))
        assert got.is_contiguous(memory_format=cl)
        assert torch.equal(got, fn(b.contiguous(), w.contiguous()))
    for fn in (layout.add_upsampled, layout.add_double_upsampled):  # deploy's fusion sums
        for target in (full.clone()[:, 8:], b.contiguous()):
            expected = fn(target, w)
            assert fn(target, w, out=target) is target and torch.equal(target, expected)
    weight, bias = torch.randn(5, 8, 1, 1, generator=g), torch.randn(5, generator=g)
    got = layout.pointwise_conv(b, weight, bias)
    assert got.is_contiguous(memory_format=cl)
    # a matmul over channels vs conv2d's kernel: another summation order, measured <= 9.5e-7
    # on values <= 10.5 (AMD EPYC Zen 3), 6% of torch's float32 default (rtol 1.3e-6, atol 1e-5)
    torch.testing.assert_close(got, F.conv2d(b.contiguous(), weight, bias))


def test_fuse_conv_bn_handles_conv_module_and_bare_sequential() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='BN')),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8),
                      nn.Conv2d(8, 4, 1, bias=True), nn.BatchNorm2d(4), nn.ReLU()))
    randomize_bn(model)
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    expected = model(x)
    with pytest.raises(ValueError, match='eval'):
        fuse_conv_bn(copy.deepcopy(model).train())
    assert fuse_conv_bn(model) == 3
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())
    # mmcv's fold: each BN becomes an Identity, so every other layer keeps its index
    assert [type(m) for m in model[1]] == [nn.Conv2d, nn.Identity, nn.Conv2d, nn.Identity,
                                           nn.ReLU]
    # folded weights rounded once: measured 2.4e-7 on values <= 1.4 (AMD EPYC Zen 3)
    torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match='module'):
        fuse_conv_bn('not a module')


@pytest.mark.filterwarnings('ignore::torch.jit.TracerWarning')  # static spatial sizes
@pytest.mark.parametrize('deploy', [False, True], ids=['eval', 'deploy'])
@pytest.mark.parametrize('module_type', ['LITE', 'NAIVE'])
def test_fx_and_jit_trace_equal_eager(module_type: str, deploy: bool) -> None:
    model = small_eval_model(module_type)
    if deploy:
        model.switch_to_deploy()
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        expected = model(x)
        if deploy:  # traced graphs are NCHW: compare with the eager NCHW deploy path
            model.switch_to_deploy(channels_last=False)
            nchw = model(x)
            # channels_last kernels sum in another order: measured <= 1.8e-7 (outputs <= 0.4)
            assert max_diff(expected, nchw) <= 1e-5
            expected = nchw
        # traced graphs run the very ops of the eager forward: bit-exact
        graph = torch.fx.symbolic_trace(model)
        assert max_diff(expected, graph(x)) == 0
        traced = torch.jit.trace(model, (x, ), check_trace=False)
        assert max_diff(expected, traced(x)) == 0
    # the fx graph keeps the input size check
    with pytest.raises(ValueError, match='divisible by 32'):
        graph(torch.randn(1, 3, H + 4, W))


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_torch_compile_fullgraph_without_graph_breaks(mode: str) -> None:
    """Dynamo captures the whole backbone as one graph (``fullgraph=True`` raises on any
    break), in eval mode and in train mode (where the fusion updates BN statistics in
    closed form). The ``eager`` backend checks exactly that without Inductor's C++ codegen,
    which takes minutes on a small CPU. Dynamo's tracing costs per op: a two-stage model
    (three branches) has every code path of the presets at a fifth of Lite-HRNet-18's time."""
    torch._dynamo.reset()
    model = small_eval_model('LITE', num_stages=2)
    x = torch.randn(2, 3, H, W)
    # The eager backend runs the captured ops themselves: bit-exact in both modes, BN
    # statistics included (measured 0 here and on Lite-HRNet-18, AMD EPYC Zen 3).
    if mode == 'eval':
        with torch.no_grad():
            expected = model(x)
            got = torch.compile(model, fullgraph=True, backend='eager')(x)
        assert max_diff(expected, got) == 0
        return
    compiled = copy.deepcopy(model).train()
    model.train()
    expected = model(x)
    got = torch.compile(compiled, fullgraph=True, backend='eager')(x)
    assert max_diff(expected, got) == 0
    for (name, a), b in zip(model.state_dict().items(), compiled.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)


@pytest.fixture(scope='module')
def checkpoint_18(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A pose checkpoint of the Lite-HRNet-18 config with random BN statistics."""
    torch.manual_seed(0)
    model = build_pose_model(CONFIG_18)
    randomize_bn(model)
    path = tmp_path_factory.mktemp('ckpt') / 'litehrnet18_random.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.mark.parametrize('channels_last', [True, False], ids=['channels_last', 'nchw'])
def test_pose_model_deploy_equals_eval(checkpoint_18: str, channels_last: bool) -> None:
    model = build_pose_model(CONFIG_18, checkpoint_18)
    deployed = switch_to_deploy(copy.deepcopy(model), channels_last=channels_last)
    assert deployed.backbone.deploy
    assert deployed.backbone.deploy_channels_last is channels_last
    with pytest.raises(TypeError, match='channels_last'):
        switch_to_deploy(deployed, channels_last='yes')
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = model(x, None, mode='tensor')
        got = deployed(x, None, mode='tensor')
    assert expected.abs().max().item() > 1e-2
    # BN folding's rounding: measured <= 8.4e-7 on heatmaps <= 0.9 (AMD EPYC Zen 3)
    assert (expected - got).abs().max().item() <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize('deploy', [None, 'graph', 'eager'])
def test_export_onnx_round_trip(checkpoint_18: str, tmp_path: Path, deploy: str) -> None:
    pytest.importorskip('onnxruntime')
    tool = load_tool('export_onnx')
    out, report = tmp_path / 'model.onnx', tmp_path / 'report.json'
    argv = [CONFIG_18, checkpoint_18, '--shape', '64', '96', '--out', str(out),
            '--dynamic-batch', '--repeats', '2', '--json', str(report)]
    flags = {None: [], 'graph': ['--deploy'], 'eager': ['--deploy-eager']}[deploy]
    assert tool.main(argv + flags) == 0
    result = json.loads(report.read_text())
    # ONNX Runtime's kernels vs PyTorch's (other summation orders; the tool's --atol default):
    # measured 8.3e-7 (eval) and 4.2e-7 (deploy eager) on heatmaps <= 0.9, AMD EPYC Zen 3
    assert result['max_abs_diff'] <= 1e-4
    assert result['opset'] >= 17 and result['deploy'] == deploy
    assert result['output_shape'] == [17, 16, 24]
    for timing in (result['pytorch_latency_s'], result['ort_latency_s']):
        assert timing_is_consistent(timing, n=2), timing
    import onnx
    model = onnx.load(str(out))
    assert model.opset_import[0].version >= 17
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == 'batch'


@pytest.mark.slow
def test_benchmark_quick_mode(tmp_path: Path) -> None:
    tool = load_tool('benchmark')
    out_json, out_table = tmp_path / 'bench.json', tmp_path / 'bench.md'
    argv = ['--quick', '--threads', '1', '--configs', CONFIG_18, '--shape', '64', '96',
            '--out-json', str(out_json), '--out-table', str(out_table)]
    assert tool.main(argv) == 0
    data = json.loads(out_json.read_text())
    assert data['meta']['threads'] == 1 and data['meta']['quick']
    res = data['results'][CONFIG_18]
    # Same weights, eval mode: ours is bit-exact with MMPose (measured 0); deployed, BN
    # folding's rounding on calibrated outputs <= 2: measured 1.8e-5 to 1.9e-5 (AMD EPYC Zen 3)
    assert res['checks']['ours'] <= 1e-5 and res['checks']['ours-deploy'] <= 1e-4
    metrics = {row['metric'] for row in res['rows']}
    assert {'cpu_latency_b1', 'cpu_throughput_b2', 'train_step_b2', 'train_b2_saved_tensors',
            'cpu_latency_b1_peak_tensors', 'cpu_throughput_b2_peak_tensors',
            'train_b2_peak_tensors'} <= metrics
    heatmap_bytes = 17 * (64 // 4) * (96 // 4) * 4  # one image's float32 output
    for row in res['rows']:  # peak tensor memory: one measurement, at least the output
        if row['metric'].endswith('_peak_tensors'):
            assert row['n'] == 1 and row['median'] >= row['batch'] * heatmap_bytes, row
    if importlib.util.find_spec('onnxruntime'):
        assert 'ort_latency_b1' in metrics
    baseline = {r['metric']: r for r in res['rows'] if r['variant'] == 'mmpose'}
    for row in res['rows']:  # every ratio is to MMPose's row of the same metric (the same
        # float division as the tool's, and JSON keeps floats exactly: compared exactly)
        assert row['ratio'] == row['median'] / baseline[row['metric']]['median'], row
        if row['unit'] == 's':  # timings: one per repeat (--quick: 2)
            assert timing_is_consistent(row, n=2), row
        else:  # bytes: one measurement per row
            assert row['n'] == 1 and row['min'] == row['median'] == row['max'], row
    train = [r for r in res['rows'] if r['metric'] == 'train_step_b2']
    assert {r['variant'] for r in train} == {'mmpose', 'ours'}
    ref_losses = next(r['losses'] for r in train if r['variant'] == 'mmpose')
    for row in train:  # warm-up and timed steps: the loss falls, the same for both
        losses = row['losses']
        assert len(losses) >= 3 and losses[-1] < losses[0]
        # Same weights and data: the trajectories differ only by float rounding, which
        # training amplifies. Step 1 is one forward of identical weights, computed bit for
        # bit alike (measured 0, as in test_parity): ~8 ulps allowed.
        torch.testing.assert_close(losses[0], ref_losses[0], rtol=1e-6, atol=0)
        # Step 2 follows one Adam step from gradients ~1e-6 apart (summation order), whose
        # first update is lr * sign(g): the same but where g is rounding noise (BN biases
        # before a BN, which that BN cancels). Measured <= 2.2e-7.
        torch.testing.assert_close(losses[1], ref_losses[1], rtol=1e-5, atol=0)
        # Then each step multiplies the difference 10-150x (measured with Adam and with SGD
        # alike, less with larger batches: train-mode BN normalises 12 values per channel on
        # the lowest branch here): steps 3/4 measured 7.7e-7/1.1e-4 on an AMD EPYC Zen 3
        # (AVX2), 1.16e-5 at step 3 on an AVX-512 EPYC. 1% over the 4 steps: 90x our worst,
        # 6x the AVX-512 step 3 grown 150x.
        assert row['loss_max_rel_diff'] <= 1e-2
    latency = {r['variant'] for r in res['rows'] if r['metric'] == 'cpu_latency_b1'}
    assert latency == {'mmpose', 'mmpose+bnfold', 'ours', 'ours-deploy'}
    table = out_table.read_text()
    assert table.startswith('| config |') and 'ours-deploy' in table


@pytest.mark.slow
def test_benchmark_accelerator_rows_run_on_any_device() -> None:
    # CI has no GPU: the GPU rows' code runs here on the CPU (autocast in bf16 there).
    tool = load_tool('benchmark')
    args = tool.parse_args(['--quick', '--shape', '64', '96', '--gpu-batch', '2'])
    variants, checks = tool.build_variants(CONFIG_18, args.shape)
    rows = tool.accelerator_rows(variants, args, torch.device('cpu'))
    by_metric: dict = {}
    for row in rows:
        by_metric.setdefault(row['metric'], {})[row['variant']] = row
    assert set(by_metric) == {f'gpu_{p}_cl_b{b}' for p in ('fp32', 'amp') for b in (1, 2)}
    scale = max(1.0, checks['output_abs_max'])
    for metric, variants_rows in by_metric.items():
        assert set(variants_rows) == {'mmpose', 'mmpose+bnfold', 'ours', 'ours-deploy'}
        assert variants_rows['mmpose']['ratio'] == 1
        diffs = {k: r['max_abs_diff_vs_mmpose'] for k, r in variants_rows.items()}
        if 'fp32' in metric:  # same weights: ours equal, deployed variants within rounding
            # measured: ours 0 (bit-exact), ours-deploy 1.7e-5 to 1.9e-5 of outputs <= 2.04
            # (BN folding's float32 rounding on calibrated activations), AMD EPYC Zen 3
            assert diffs['ours'] <= 1e-5 * scale and diffs['ours-deploy'] <= 1e-4 * scale
        else:  # bf16 autocast: finite, of the order of bf16 rounding
            # bf16 keeps 8 significant bits and every layer rounds again; BN folded before
            # autocast rounds other weights, so even MMPose's own model folded differs by
            # that much: measured up to 0.26 of the output scale (mmpose+bnfold, 0.25 for
            # ours-deploy; ours 0), CPU autocast on an AMD EPYC Zen 3
            assert all(math.isfinite(d) and d < 0.5 * scale for d in diffs.values()), diffs


def test_cuda_graph_forward_rejects_bad_inputs() -> None:
    from litehrnet_mmpose.deploy import CUDAGraphForward
    with pytest.raises(ValueError, match='example: expected a CUDA tensor'):
        CUDAGraphForward(nn.Identity(), torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match='example: expected a CUDA tensor'):
        CUDAGraphForward(nn.Identity(), [1, 2])


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('amp', [False, True])
def test_cuda_graph_forward_replays_the_deployed_pose_model(amp: bool) -> None:
    from litehrnet_mmpose.deploy import CUDAGraphForward, TensorMode
    torch.manual_seed(0)
    model = TensorMode(switch_to_deploy(build_pose_model(CONFIG_18))).cuda()
    model = model.to(memory_format=torch.channels_last)
    dtype = torch.float16 if amp else None
    x = [torch.randn(2, 3, H, W, device='cuda').to(memory_format=torch.channels_last)
         for _ in range(2)]
    graphed = CUDAGraphForward(model, x[0], autocast_dtype=dtype)
    for xi in x:  # each call reads the new input: replays are not stale
        with torch.no_grad(), torch.autocast('cuda', dtype=dtype or torch.float16,
                                             enabled=amp):
            want = model(xi).float()
        got = graphed(xi).float()
        assert got.shape == want.shape
        # The replayed kernels are those an eager call runs, unless cuDNN picks another
        # algorithm for the capture: fp32 within 1e-5, fp16 within its 11-bit rounding
        # (1e-3). Not measured: this project's machine has no GPU.
        torch.testing.assert_close(got, want, rtol=1e-3 if amp else 1e-5, atol=1e-3 if amp
                                   else 1e-5)
    with pytest.raises(ValueError, match='x: expected shape'):
        graphed(torch.randn(1, 3, H, W, device='cuda'))
