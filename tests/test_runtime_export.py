"""Exported files with inference metadata: written for every config, read by ONNX Runtime
and OpenVINO (.onnx and IR), refused when missing, malformed or of another network."""
import copy
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from litehrnet_mmpose.apis.models import build_pose_model
from litehrnet_mmpose.apis.pose_inference import TorchBackend
from litehrnet_mmpose.deploy import export_onnx
from litehrnet_mmpose.deploy.metadata import pose_metadata
from litehrnet_mmpose.utils import TensorForward
from litehrnet_runtime import open_backend
from litehrnet_runtime.meta import check_meta

from .helpers import QUICKSTART_CONFIG, ROOT

POSE_CONFIGS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'configs/top_down').rglob(
    '*.py')) + [str(Path(QUICKSTART_CONFIG).relative_to(ROOT))]
BACKENDS = ['onnxruntime', 'openvino']


@pytest.mark.parametrize('config', POSE_CONFIGS)
def test_metadata_of_every_config(config: str) -> None:
    model = build_pose_model(str(ROOT / config))
    meta = pose_metadata(model)
    cfg = model.cfg
    k = cfg.model.head.out_channels
    assert meta['input']['size'] == list(cfg.codec.input_size)
    assert meta['codec']['heatmap_size'] == list(cfg.codec.heatmap_size)
    assert meta['input']['mean'] == list(cfg.model.data_preprocessor.mean)
    assert meta['input']['channel_order'] == 'rgb'
    assert len(meta['dataset']['keypoint_names']) == k == model.dataset_meta['num_keypoints']
    assert meta['dataset']['flip_indices'] == list(model.dataset_meta['flip_indices'])
    assert meta['test_cfg'] == dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True)
    assert json.loads(json.dumps(meta)) == meta  # plain JSON, no numpy left


def _valid_meta(pose_model: torch.nn.Module) -> dict:
    return pose_metadata(pose_model)


@pytest.mark.parametrize('path, value, words', [
    (('format', ), 'other/1', 'format'),
    (('input', 'size'), [192], 'input.size'),
    (('input', 'std'), [1.0, 0.0, 1.0], 'zero'),
    (('input', 'channel_order'), 'rgba', 'channel_order'),
    (('codec', 'type'), 'SimCCLabel', 'not supported'),
    (('codec', 'unbiased'), True, None),  # valid: DARK with the default kernel 11
    (('codec', 'blur_kernel_size'), 4, None),  # unused while unbiased is False
    (('test_cfg', 'flip_mode'), 'udp_combined', 'flip_mode'),
    (('dataset', 'flip_indices'), list(range(16)), 'flip_indices'),
    (('dataset', 'flip_indices'), [0] * 17, 'permutation'),
    (('dataset', 'skeleton'), [[0, 17]], r'skeleton\[0\] = \[0, 17\]'),
])
def test_metadata_checks_name_the_field(pose_model: torch.nn.Module, path: tuple,
                                        value: object, words: str) -> None:
    meta = copy.deepcopy(_valid_meta(pose_model))
    node = meta
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    if words is None:
        assert check_meta(meta, 'x.onnx') is meta
    else:
        with pytest.raises(ValueError, match=words):
            check_meta(meta, 'x.onnx')


def test_missing_metadata_field_is_named(pose_model: torch.nn.Module) -> None:
    meta = copy.deepcopy(_valid_meta(pose_model))
    del meta['dataset']['keypoint_names']
    with pytest.raises(ValueError, match=r"'dataset.keypoint_names' is missing.*re-export"):
        check_meta(meta, 'x.onnx')


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('suffix', ['.onnx', '.xml'])
def test_exported_file_carries_metadata_and_matches_pytorch(
        pose_model: torch.nn.Module, pose_onnx: str, backend: str, suffix: str) -> None:
    """ORT and OpenVINO run the deployed export (any batch size: it has a dynamic batch);
    rounding allowed: BN folding and the runtimes' kernels, measured <= 1e-6 here (heatmap
    values up to 0.86); 1e-4 is the issue's bound for FP32 exports."""
    if suffix == '.xml' and backend == 'onnxruntime':
        pytest.skip('an IR is OpenVINO only (tested in test_ir_needs_openvino)')
    runner = open_backend(str(Path(pose_onnx).with_suffix(suffix)), backend, threads=1)
    assert runner.meta == pose_metadata(pose_model)
    assert runner.batch is None
    x = torch.randn(3, 3, 256, 192, generator=torch.Generator().manual_seed(0)).numpy()
    want = TorchBackend(pose_model).run(x)
    got = runner.run(x)
    assert got.shape == want.shape == (3, 17, 64, 48)
    assert np.abs(got - want).max() <= 1e-4


def test_ir_needs_openvino(pose_onnx: str) -> None:
    with pytest.raises(ValueError, match='--backend openvino'):
        open_backend(str(Path(pose_onnx).with_suffix('.xml')), 'onnxruntime')


@pytest.fixture(scope='module')
def small_export(tmp_path_factory: pytest.TempPathFactory, pose_model: torch.nn.Module) -> dict:
    """The pose model exported at batch 2 (static), with and without metadata."""
    root = tmp_path_factory.mktemp('small')
    module = TensorForward(pose_model, first_output=True)
    paths = dict(plain=str(root / 'plain.onnx'), static=str(root / 'static.onnx'))
    export_onnx(module, paths['plain'], (1, 3, 256, 192))
    export_onnx(module, paths['static'], (2, 3, 256, 192), metadata=pose_metadata(pose_model))
    return paths


@pytest.mark.parametrize('backend', BACKENDS)
def test_file_without_metadata_is_refused(small_export: dict, backend: str) -> None:
    with pytest.raises(ValueError, match=r"has no 'litehrnet_mmpose' metadata.*"
                       r"tools/export_onnx.py CONFIG CHECKPOINT"):
        open_backend(small_export['plain'], backend)


@pytest.mark.parametrize('backend', BACKENDS)
def test_file_of_another_model_is_refused(small_export: dict, tmp_path: Path,
                                          backend: str) -> None:
    """The COCO network with the metadata of an MPII model (16 keypoints, 256x256)."""
    mpii = build_pose_model(str(ROOT / 'configs/top_down/lite_hrnet/mpii/'
                                'litehrnet_18_mpii_256x256.py'))
    graph = onnx.load(small_export['static'])
    graph.metadata_props[0].value = json.dumps(pose_metadata(mpii))
    path = tmp_path / 'mixed.onnx'
    onnx.save(graph, path)
    with pytest.raises(ValueError, match=r"graph's input has shape \[2, 3, 256, 192\].*"
                       r'disagree'):
        open_backend(str(path), backend)


@pytest.mark.parametrize('backend', BACKENDS)
def test_not_a_model_file_is_refused(tmp_path: Path, backend: str) -> None:
    path = tmp_path / 'photo.onnx'
    path.write_bytes((ROOT / 'samples/coco/images/000000000785.jpg').read_bytes())
    with pytest.raises(ValueError, match='cannot (load|read) it'):
        open_backend(str(path), backend)
    with pytest.raises(FileNotFoundError, match='no such file'):
        open_backend(str(tmp_path / 'missing.onnx'), backend)


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('n', [1, 3, 4])
def test_static_batch_runs_any_number_of_crops(pose_model: torch.nn.Module, small_export: dict,
                                               backend: str, n: int) -> None:
    """A batch-2 graph runs n crops in padded chunks (same rounding as above)."""
    runner = open_backend(small_export['static'], backend, threads=1)
    assert runner.batch == 2
    x = torch.randn(n, 3, 256, 192, generator=torch.Generator().manual_seed(n)).numpy()
    got = runner.run(x)
    assert got.shape == (n, 17, 64, 48)
    assert np.abs(got - TorchBackend(pose_model).run(x)).max() <= 1e-4


def test_openvino_bf16_precision(pose_model: torch.nn.Module, small_export: dict) -> None:
    """``precision='bf16'`` runs in OpenVINO (bf16 on CPUs with bf16 units, f32 elsewhere)
    and stays near f32; other precisions and other runtimes are refused by name."""
    pytest.importorskip('openvino')
    x = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(0)).numpy()
    f32 = open_backend(small_export['static'], 'openvino', 1).run(x)
    bf16 = open_backend(small_export['static'], 'openvino', 1, precision='bf16').run(x)
    # bf16 keeps 8 mantissa bits: measured max |bf16 - f32| 0.020 on these random-BN
    # heatmaps (max 1.25), Xeon with AMX; 0 on a CPU without bf16 units
    assert bf16.shape == f32.shape and np.isfinite(bf16).all()
    assert np.abs(bf16 - f32).max() <= 0.25 * max(1.0, float(np.abs(f32).max()))
    with pytest.raises(ValueError, match='--precision'):
        open_backend(small_export['static'], 'openvino', precision='fp16')
    with pytest.raises(ValueError, match='--precision bf16: runs in OpenVINO only'):
        open_backend(small_export['static'], 'onnxruntime', precision='bf16')
