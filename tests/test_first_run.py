"""What a new user hits on the bundled samples (issue 17): the arch from the command line,
person boxes for the demo, ONNX export arguments, MPII without head boxes, the
before/after summary, file-missing hints, segmentation configs given to pose tools,
top-level ``data_root``, ``--amp`` on a CPU, the benchmark's smoke mode and torchrun's
interpreter. (Resuming the shipped configs: tests/test_resume.py.)"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import List, Optional

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope
from mmpose.registry import DATASETS

from litehrnet_mmpose import ARCH_SETTINGS, MODELS, LiteHRNet
from litehrnet_mmpose.apis.cli import add_common_args, load_config
from litehrnet_mmpose.apis.config_check import check_config
from litehrnet_mmpose.apis.inference import load_bboxes
from litehrnet_mmpose.apis.models import build_pose_model, reference_backbone_cfg
from litehrnet_mmpose.engine.hooks import ValidateBeforeTrainHook

from .helpers import (COCO, MPII, ROOT, data_options, free_port, load_tool,
                      segmentation_sample_options, write_tiny_cityscapes)

COCO18 = 'configs/top_down/lite_hrnet/coco/litehrnet_18_coco_256x192.py'
MPII18 = 'configs/top_down/lite_hrnet/mpii/litehrnet_18_mpii_256x256.py'
SEG18 = 'configs/segmentation/cityscapes/litehrnet_18_cityscapes_512x1024.py'
COCO_SAMPLE = ROOT / 'samples/coco'
DETECTIONS = COCO_SAMPLE / 'person_detection_sample.json'


def tool(*args: str, env: Optional[dict] = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, **(env or {})})


def tool_args(config: str, *options: str) -> argparse.Namespace:
    """tools/train.py's arguments for ``config`` with ``--cfg-options OPTIONS``."""
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    return parser.parse_args([str(ROOT / config), '--cfg-options', *options])


def last_line(proc: subprocess.CompletedProcess) -> str:
    return proc.stderr.strip().splitlines()[-1]


# --------------------------------------------------------------- 2. arch from the CLI


def test_arch_given_as_an_int_builds_that_preset() -> None:
    """``--cfg-options model.backbone.arch=30`` reaches the config as the int 30."""
    cfg = Config.fromfile(ROOT / COCO18)
    cfg.merge_from_dict({'model.backbone.arch': 30})
    check_config(cfg)
    assert MODELS.build(cfg.model.backbone.to_dict()).arch == '30'
    assert reference_backbone_cfg(dict(arch=30))['extra'] == ARCH_SETTINGS['30']
    with pytest.raises(ValueError) as info:
        LiteHRNet(arch=42)
    assert 'unknown arch 42 (int)' in str(info.value), str(info.value)


@pytest.mark.slow
def test_summary_network_help_example_with_arch_30() -> None:
    proc = tool('tools/summary_network.py', COCO18, '--cfg-options', 'model.backbone.arch=30')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '1,763,717' in proc.stdout  # Lite-HRNet-30 COCO's #Params


# --------------------------------------------------------------- 3. demo boxes


def write_json(path: Path, data: object) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def test_coco_detections_for_an_image_not_named_by_its_id(tmp_path: Path) -> None:
    """Records of 4 images cannot be matched to 'photo.jpg': refused, not all drawn."""
    with pytest.raises(ValueError) as info:
        load_bboxes(str(DETECTIONS), str(tmp_path / 'photo.jpg'))
    for word in ['detections of 4 images', "'photo.jpg' is not a COCO id"]:
        assert word in str(info.value), str(info.value)
    # Named by its id, only that image's boxes above the threshold are kept.
    records = json.loads(DETECTIONS.read_text())
    want = sum(1 for d in records if d['image_id'] == 196141 and d['score'] >= 0.5)
    assert len(load_bboxes(str(DETECTIONS), 'x/000000196141.jpg', 0.5)) == want > 0
    # Records of a single image need no id in the name.
    one = write_json(tmp_path / 'one.json', [d for d in records if d['image_id'] == 785])
    assert len(load_bboxes(one, str(tmp_path / 'photo.jpg'), 0.0)) == sum(
        1 for d in records if d['image_id'] == 785)


def test_no_box_above_the_threshold_is_an_error_not_the_whole_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        load_bboxes(str(DETECTIONS), '000000196141.jpg', 1.01)
    assert 'none of the' in str(info.value) and '--bbox-thr 1.01' in str(info.value)
    path = write_json(tmp_path / 'b.json', [[10, 10, 50, 90, 0.1]])
    with pytest.raises(ValueError, match='highest is 0.100'):
        load_bboxes(path, 'a.jpg', 0.3)


def test_boxes_with_a_score_column(tmp_path: Path) -> None:
    """mmdet writes [x1, y1, x2, y2, score]."""
    path = write_json(tmp_path / 'b.json', [[10, 10, 50, 90, 0.9], [5, 5, 20, 30, 0.2]])
    np.testing.assert_array_equal(load_bboxes(path, 'a.jpg', 0.3), [[10, 10, 50, 90]])
    with pytest.raises(ValueError, match=r'got shape \(1, 3\)'):
        load_bboxes(write_json(tmp_path / 'c.json', [[1, 2, 3]]), 'a.jpg')


# --------------------------------------------------------------- 4. export arguments


@pytest.mark.parametrize('argv,words', [
    (['--shape', '250', '192'], ['--shape: 250 192', 'divisible by 32']),
    (['--opset', '11'], ['--opset: expected >= 17', 'got 11']),
], ids=['shape', 'opset'])
def test_export_onnx_argument_errors(argv: List[str], words: List[str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    export = load_tool('export_onnx')
    with pytest.raises(SystemExit) as info:
        export.main([COCO18, '--out', str(tmp_path / 'm.onnx'), '--repeats', '0', *argv])
    assert info.value.code == 2  # argparse's usage error, before anything is exported
    err = capsys.readouterr().err
    assert 'usage:' in err and all(w in err for w in words), err
    assert not (tmp_path / 'm.onnx').exists()


# --------------------------------------------------------------- 5. MPII head boxes


@pytest.mark.slow
def test_mpii_without_head_boxes_stops_before_training(tmp_path: Path) -> None:
    options = data_options('samples/mpii/', 'mpii_sample.json', 3) + [
        'val_dataloader.dataset.headbox_file=None']
    proc = tool('tools/train.py', MPII18, '--work-dir', str(tmp_path), '--cfg-options',
                *options)
    assert proc.returncode != 0 and 'Epoch(train)' not in proc.stdout + proc.stderr
    last = last_line(proc)
    for word in ["ValueError: ", "val_evaluator.type='MpiiPCKAccuracy'",
                 'val_dataloader.dataset.headbox_file=None',
                 'val_evaluator.type=PCKAccuracy val_evaluator.norm_item=bbox']:
        assert word in last, last


def test_mpii_box_normalised_pck_passes_the_check() -> None:
    """The sample recipe (tests/test_train_tools.py's MPII options) is accepted."""
    _, options, _ = MPII
    assert 'val_dataloader.dataset.headbox_file=None' in options
    load_config(tool_args(MPII18, *options))


# --------------------------------------------------------------- 6. --show-dir


@pytest.mark.slow
def test_show_dir_is_under_the_work_dir_for_pose_and_segmentation(tmp_path: Path) -> None:
    import torch
    name = f'show_{tmp_path.name}'  # relative: must not land in the current directory
    pose_ckpt = tmp_path / 'pose.pth'
    torch.save({'state_dict': build_pose_model(str(ROOT / COCO18)).state_dict()}, pose_ckpt)
    proc = tool('tools/test.py', COCO18, str(pose_ckpt), '--work-dir', str(tmp_path / 'pose'),
                '--show-dir', name, '--cfg-options', *COCO[1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((tmp_path / 'pose' / name).glob('000000000785_*.jpg'))

    from mmseg.registry import MODELS as SEG_MODELS

    import litehrnet_mmpose.seg  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmseg'):
        seg_model = SEG_MODELS.build(Config.fromfile(ROOT / SEG18).model)
    seg_ckpt = tmp_path / 'seg.pth'
    torch.save({'state_dict': seg_model.state_dict()}, seg_ckpt)
    write_tiny_cityscapes(tmp_path / 'cityscapes')
    proc = tool('tools/test.py', SEG18, str(seg_ckpt), '--work-dir', str(tmp_path / 'seg'),
                '--show-dir', name, '--cfg-options',
                *segmentation_sample_options(tmp_path / 'cityscapes'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((tmp_path / 'seg' / name / 'vis_data' / 'vis_image').glob('*.png'))) == 2
    assert not (ROOT / name).exists()
    # Training draws nothing there: train.py does not offer --show-dir.
    proc = tool('tools/train.py', COCO18, '--show-dir', name)
    assert proc.returncode == 2 and 'unrecognized arguments: --show-dir' in proc.stderr


# --------------------------------------------------------------- 7. before/after summary


class Logger:
    def __init__(self) -> None:
        self.lines: List[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)


def fake_runner(iteration: int, hook: ValidateBeforeTrainHook) -> SimpleNamespace:
    """A runner whose val loop reports AP 0.1 through the hook."""
    runner = SimpleNamespace(iter=iteration, logger=Logger())
    runner.val_loop = SimpleNamespace(
        run=lambda: hook.after_val_epoch(runner, {'coco/AP': 0.1}))
    return runner


@pytest.mark.parametrize('iteration, after, expected', [
    (30, 0.9742, 'validation after training: coco/AP: 0.9742 (no validation before training '
     'in this run: resumed)'),
    (0, None, 'validation before training: coco/AP: 0.1000 (no validation ran after training '
     'started)'),
    (0, 0.9, 'validation before -> after training: coco/AP: 0.1000 -> 0.9000'),
], ids=['resumed', 'no-validation-after', 'both'])
def test_summary_never_compares_a_result_with_itself(iteration: int, after: Optional[float],
                                                     expected: str) -> None:
    hook = ValidateBeforeTrainHook(keys=['coco/AP'])
    runner = fake_runner(iteration, hook)
    hook.before_train(runner)
    if after is not None:
        hook.after_val_epoch(runner, {'coco/AP': after})
    hook.after_train(runner)
    assert runner.logger.lines == [expected]


# --------------------------------------------------------------- 8. file-missing hints


def dataset_error(**cfg: object) -> str:
    init_default_scope('mmpose')
    with pytest.raises(FileNotFoundError) as info:
        DATASETS.build(dict(pipeline=[], data_prefix=dict(img='images/'), **cfg))
    return str(info.value)


def test_missing_file_hints_name_the_right_loader_and_field() -> None:
    coco = dict(type='litehrnet_mmpose.CocoDataset', data_mode='topdown',
                ann_file='person_keypoints_sample.json')
    msg = dataset_error(data_root='/nonexistent/', test_mode=True, **coco)
    assert 'val_dataloader.dataset.data_root=DIR/' in msg and 'train_dataloader' not in msg
    assert 'test_dataloader.dataset.data_root=DIR/' in msg
    msg = dataset_error(data_root='/nonexistent/', **coco)
    assert 'train_dataloader.dataset.data_root=DIR/' in msg and 'val_dataloader' not in msg
    msg = dataset_error(data_root=str(COCO_SAMPLE), test_mode=True,
                        bbox_file='/nonexistent/dets.json', **coco)
    assert msg.startswith("CocoDataset.bbox_file: '/nonexistent/dets.json' does not exist")
    assert 'val_dataloader.dataset.bbox_file=FILE' in msg and 'data_root=DIR' not in msg
    msg = dataset_error(type='litehrnet_mmpose.MpiiDataset', data_root=str(ROOT / 'samples/mpii'),
                        ann_file='mpii_sample.json', test_mode=True,
                        headbox_file='/nonexistent/mpii_gt_val.mat')
    assert msg.startswith('MpiiDataset.headbox_file:'), msg
    assert 'val_dataloader.dataset.headbox_file=FILE' in msg and 'norm_item=bbox' in msg


# --------------------------------------------------------------- 9. segmentation configs


def test_segmentation_config_to_a_pose_tool_is_named() -> None:
    with pytest.raises(ValueError) as info:
        build_pose_model(str(ROOT / SEG18))
    assert "default_scope='mmseg'" in str(info.value) and 'not an MMPose' in str(info.value)


def test_segmentation_missing_data_is_named() -> None:
    from mmseg.registry import DATASETS as SEG_DATASETS

    import litehrnet_mmpose.seg  # noqa: F401
    cfg = Config.fromfile(ROOT / SEG18)
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = '/nonexistent/cityscapes/'
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.raises(FileNotFoundError) as info:
            SEG_DATASETS.build(dataset)
    msg = str(info.value)
    assert msg.startswith("CityscapesDataset.data_prefix.img_path: "
                          "'/nonexistent/cityscapes/leftImg8bit/train' does not exist"), msg
    assert 'val_dataloader.dataset.data_root=DIR/' in msg


# --------------------------------------------------------------- 10. top-level data_root


def test_top_level_data_root_override_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        load_config(tool_args(COCO18, 'data_root=samples/coco/'))
    assert "--cfg-options data_root='samples/coco/'" in str(info.value)
    assert 'train_dataloader.dataset.data_root=DIR/' in str(info.value)
    # and no longer recommended
    parser = argparse.ArgumentParser()
    add_common_args(parser)
    assert ' data_root=' not in ' '.join(parser.format_help().split())
    assert 'options data_root' not in (ROOT / 'configs/_base_/datasets/coco_topdown.py'
                                       ).read_text()


# --------------------------------------------------------------- 13. --amp on a CPU


@pytest.mark.slow
def test_amp_is_refused_up_front_without_a_gpu(tmp_path: Path) -> None:
    proc = tool('tools/train.py', COCO18, '--amp', '--work-dir', str(tmp_path),
                env={'CUDA_VISIBLE_DEVICES': ''})
    assert proc.returncode != 0
    assert last_line(proc).startswith('ValueError: --amp: automatic mixed precision needs a '
                                      'GPU'), proc.stderr[-2000:]


# --------------------------------------------------------------- 15. benchmark --quick


def test_benchmark_quick_ratios_are_labelled_a_smoke_run() -> None:
    bench = load_tool('benchmark')
    args = bench.parse_args(['--quick'])
    note = bench.smoke_note(args)
    assert note and note.startswith('SMOKE RUN (--quick: 2 repeat(s)')
    assert 'not a measurement' in note
    assert bench.smoke_note(bench.parse_args([])) is None
    assert 'repeats 3' in bench.smoke_note(bench.parse_args(['--repeats', '3']))
    row = dict(metric='cpu_latency_b1', variant='ours', unit='s', median=0.1, iqr=0.01, n=2,
               ratio=0.85)
    table = bench.format_table({COCO18: dict(rows=[row])}, smoke=True)
    assert table.startswith('| config |') and 'ratio vs mmpose (smoke run, not a measurement)' \
        in table.splitlines()[0]


# --------------------------------------------------------------- 16. torchrun's Python


@pytest.mark.slow
def test_torchrun_uses_the_python_on_path(tmp_path: Path) -> None:
    """From another directory, the activated environment's ``python`` runs the processes
    (here a wrapper on PATH that marks them), not the repository's .venv."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    wrapper = bin_dir / 'python'
    wrapper.write_text(f'#!/bin/sh\nLITEHRNET_WRAPPED=1 exec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    script = tmp_path / 'where.py'
    script.write_text('import os\nprint("WRAPPED", os.environ.get("LITEHRNET_WRAPPED"))\n')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHON'}
    env['PATH'] = f'{bin_dir}:/usr/bin:/bin'
    env['PORT'] = str(free_port())
    proc = subprocess.run(['bash', str(ROOT / 'tools/torchrun.sh'), '1', str(script)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'WRAPPED 1' in proc.stdout, proc.stdout + proc.stderr[-2000:]
