"""The runtime graph (deploy.to_graph): same outputs as the eval model in PyTorch, ONNX Runtime
and OpenVINO for every preset, and none of the layout nodes it exists to remove."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from litehrnet_mmpose.deploy import GraphLiteHRNet, export_onnx, switch_to_deploy, to_graph
from litehrnet_mmpose.deploy.slots import SATURATE

from .helpers import ARCHS, H, W, build, build_small, randomize_bn

ALL_OUT = (0, 1, 2, 3)
#: What the graph may hold: no Transpose, Reshape, Split, Slice or Gather.
GRAPH_OPS = {'Conv', 'Mul', 'Add', 'Relu', 'Sigmoid', 'Resize', 'AveragePool',
             'GlobalAveragePool', 'Concat', 'Constant', 'Identity'}
# Our graph vs the eval model, both float32: BN folded into the convs (weights rescaled and
# rounded once) and the fusion's sums in another order, as in switch_to_deploy. Measured
# <= 6e-8 on these random-BN models (outputs <= 0.6) in PyTorch, ONNX Runtime and OpenVINO,
# and 1.6e-5 on the benchmark's BN-calibrated 256x192 pose model (outputs <= 2.1); Intel
# Xeon (Sapphire Rapids flags), 1 thread.
ATOL = 1e-4


def eval_model(arch: str, **kwargs: object) -> nn.Module:
    model = build(arch, **kwargs) if arch in ARCHS else build_small(arch, **kwargs)
    randomize_bn(model)
    return model.eval()


def max_diff(a: tuple, b: tuple) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b))


@pytest.mark.parametrize('arch,align', [(a, 16) for a in ARCHS] + [
    (a, k) for a in ('LITE', 'NAIVE') for k in (1, 16)])
def test_graph_equals_eval(arch: str, align: int) -> None:
    model = eval_model(arch, **({'out_indices': ALL_OUT} if arch in ARCHS else {}))
    keys = {k: v.clone() for k, v in model.state_dict().items()}
    graph = to_graph(model, align=align)
    assert isinstance(graph, GraphLiteHRNet)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in keys.items())  # untouched
    x = torch.randn(2, 3, H, W)
    with torch.no_grad():
        expected, got = model(x), graph(x)
    assert [o.shape for o in got] == [o.shape for o in expected]
    assert max(o.abs().max().item() for o in expected) > 1e-2  # a meaningful comparison
    assert max_diff(expected, got) <= ATOL


def test_graph_without_head_restores_the_channel_order() -> None:
    """Without the iterative head the branches leave in permuted slots (and, aligned, with
    dead ones): the outputs are gathered back into their channels."""
    from litehrnet_mmpose.registry import MODELS

    from .helpers import small_extra
    extra = small_extra('LITE')
    extra['with_head'] = False
    torch.manual_seed(0)
    model = MODELS.build(dict(type='litehrnet_mmpose.LiteHRNet', extra=extra,
                              out_indices=ALL_OUT))
    model.init_weights()
    randomize_bn(model)
    model.eval()
    graph = to_graph(model, align=16)
    assert any(getattr(graph, f'order{k}').numel() for k in ALL_OUT)  # a real permutation
    x = torch.randn(1, 3, H, W)
    with torch.no_grad():
        assert max_diff(model(x), graph(x)) <= ATOL


def test_pose_model_graph_keeps_the_head(pose_model: nn.Module) -> None:
    graph = to_graph(pose_model)
    assert isinstance(graph.backbone, GraphLiteHRNet)
    assert not isinstance(pose_model.backbone, GraphLiteHRNet)
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        expected = pose_model(x, None, mode='tensor')
        got = graph(x, None, mode='tensor')
    assert (expected - got).abs().max().item() <= ATOL


def test_to_graph_refuses_a_deployed_model_and_non_modules() -> None:
    model = eval_model('LITE')
    with pytest.raises(ValueError, match='deploy'):
        to_graph(switch_to_deploy(copy.deepcopy(model)))
    with pytest.raises(TypeError, match='model'):
        to_graph('model.pth')


def test_gate_that_cannot_reach_one_is_refused() -> None:
    """Pass-through slots rely on the gate saturating at exactly 1 (sigmoid(100) == 1)."""
    assert torch.sigmoid(torch.tensor(SATURATE)).item() == 1.0
    model = eval_model('LITE')
    model.stage0[0].layers[0].cross_resolution_weighting.conv2.activate = nn.ReLU()
    with pytest.raises(NotImplementedError, match='gate activation|activation'):
        to_graph(model)


def _runtimes() -> list:
    names = []
    for name in ('onnxruntime', 'openvino'):
        try:
            __import__(name)
            names.append(name)
        except ImportError:
            pass
    return names


def _run(runtime: str, path: str, x: np.ndarray) -> list:
    if runtime == 'onnxruntime':
        from litehrnet_mmpose.deploy import ort_session
        return ort_session(path, 1).run(None, {'input': x})
    import openvino as ov
    compiled = ov.Core().compile_model(path, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    request = compiled.create_infer_request()
    request.infer({0: x})
    return [request.get_output_tensor(k).data.copy() for k in range(len(compiled.outputs))]


class _AllOutputs(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple:
        return tuple(self.model(x))


def _export_all(module: nn.Module, path: str, shape: tuple) -> None:
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(_AllOutputs(module), (torch.randn(*shape), ), path,
                          input_names=['input'], opset_version=17, dynamo=False)


def _check_runtimes(model: nn.Module, tmp_path: Path, batch: int = 2) -> None:
    import onnx
    path = str(tmp_path / 'graph.onnx')
    _export_all(to_graph(model), path, (batch, 3, H, W))
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert ops <= GRAPH_OPS | {'Gather'}, ops - GRAPH_OPS  # Gather: outputs back in order
    x = torch.randn(batch, 3, H, W)
    with torch.no_grad():
        expected = [t.numpy() for t in model(x)]
    runtimes = _runtimes()
    if not runtimes:
        pytest.skip('neither onnxruntime nor openvino is installed')
    for runtime in runtimes:
        got = _run(runtime, path, x.numpy())
        # The runtimes' kernels vs PyTorch's (other summation orders and, in OpenVINO,
        # fused ops): measured <= 6e-8 on these outputs (<= 0.6), as in PyTorch (ATOL).
        diff = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
        assert diff <= ATOL, (runtime, diff)


@pytest.mark.parametrize('arch', ['LITE', 'NAIVE'])
def test_small_graph_in_the_runtimes(arch: str, tmp_path: Path) -> None:
    _check_runtimes(eval_model(arch), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize('arch', list(ARCHS))
def test_preset_graph_in_the_runtimes(arch: str, tmp_path: Path) -> None:
    _check_runtimes(eval_model(arch, out_indices=ALL_OUT), tmp_path)


def test_exported_pose_graph_has_no_layout_nodes(pose_model: nn.Module, tmp_path: Path) -> None:
    import onnx

    from litehrnet_mmpose.utils import TensorForward
    path = str(tmp_path / 'pose.onnx')
    export_onnx(TensorForward(to_graph(pose_model), first_output=True), path, (1, 3, 256, 192))
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert ops <= GRAPH_OPS, ops - GRAPH_OPS


@pytest.mark.slow
def test_benchmark_runtimes_quick_mode_writes_every_row(tmp_path: Path) -> None:
    """The runtime benchmark's smoke run: every variant in every installed runtime, each
    checked against PyTorch before it is timed (no timing is asserted)."""
    import json

    from .helpers import load_tool
    runtimes = _runtimes()
    if not runtimes:
        pytest.skip('neither onnxruntime nor openvino is installed')
    out = tmp_path / 'bench.json'
    assert load_tool('benchmark_runtimes').main(['--quick', '--out-json', str(out)]) == 0
    result = json.loads(out.read_text())
    rows = next(iter(result['results'].values()))
    got = {(r['runtime'], r['batch'], r['variant']) for r in rows}
    assert got == {(rt, b, v) for rt in runtimes for b in (1, 2)
                   for v in ('rtmpose-t', 'mmpose', 'ours-deploy', 'ours-graph')}
    # the tool stops beyond 1e-4 x max(1, |output|); RTMPose-t's outputs reach about 10
    assert all(r['max_abs_diff'] <= 1e-3 and r['median'] > 0 for r in rows)
    assert result['meta']['quick'] is True


def test_dynamic_batch_export_names_every_batch_axis(tmp_path: Path) -> None:
    """With a dynamic batch every 4-d tensor's first axis carries the input's name, which
    ONNX Runtime needs to keep its blocked layout across the element-wise ops."""
    import onnx
    path = str(tmp_path / 'dynamic.onnx')
    export_onnx(_AllOutputs(to_graph(eval_model('LITE'))), path, (1, 3, H, W),
                dynamic_batch=True)
    graph = onnx.load(path).graph
    shapes = [v.type.tensor_type.shape for v in list(graph.value_info) + list(graph.output)]
    four_d = [s for s in shapes if len(s.dim) == 4]
    assert len(four_d) > 50
    assert all(s.dim[0].dim_param == 'batch' for s in four_d)
