"""One test per bad input a user can hand us (configs, data, checkpoints, numbers, images):
each raises a specific error type whose message names the file / field / value at fault.
(Bad backbone arguments themselves are in test_errors.py.)"""
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, List

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmpose.registry import DATASETS

from litehrnet_mmpose import ARCH_SETTINGS
from litehrnet_mmpose.apis import apply_resume
from litehrnet_mmpose.apis.checkpoint import CheckpointError, read_checkpoint
from litehrnet_mmpose.apis.config_check import check_config
from litehrnet_mmpose.apis.inference import predict_and_draw
from litehrnet_mmpose.apis.models import build_pose_model
from litehrnet_mmpose.datasets import BadImageError, LoadImage
from litehrnet_mmpose.registry import HOOKS

ROOT = Path(__file__).resolve().parents[1]
COCO_DIR = 'configs/top_down/lite_hrnet/coco/'
NAIVE_DIR = 'configs/top_down/naive_litehrnet/coco/'
CONFIG = ROOT / COCO_DIR / 'litehrnet_18_coco_256x192.py'
QUICKSTART = ROOT / 'configs/quickstart/litehrnet_18_sample_coco_256x192.py'
COCO_SAMPLE = ROOT / 'samples/coco'
IMAGE = COCO_SAMPLE / 'images/000000000785.jpg'


def raises(error: type, words: List[str], fn: Callable, *args: object) -> str:
    """Assert ``fn(*args)`` raises ``error`` whose message contains every word."""
    with pytest.raises(error) as info:
        fn(*args)
    for word in words:
        assert word in str(info.value), (word, str(info.value))
    return str(info.value)


# --------------------------------------------------------------------------- configs


def config(**changes: object) -> Config:
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict(changes)
    return cfg


def extra(**stages_spec: object) -> dict:
    out = copy.deepcopy(ARCH_SETTINGS['18'])
    out['stages_spec'].update(stages_spec)
    return out


CONFIG_CASES = [
    ('unknown arch', {'model.backbone.arch': '42'}, ValueError, ['arch', "'42'"]),
    ('unknown module type',
     {'model.backbone.extra': extra(module_type=('LITE', 'FAST', 'LITE'))}, ValueError,
     ['module_type[1]', 'FAST']),
    ('per-stage lists of unequal length', {'model.backbone.extra': extra(num_modules=(2, 4))},
     ValueError, ['num_modules', '(2, 4)']),
    ('channels do not match the branch count',
     {'model.backbone.extra': extra(num_channels=((40, 80), (40, 80), (40, 80, 160, 320)))},
     ValueError, ['num_channels[1]', 'num_branches[1]=3']),
    ('head in_channels do not match the backbone', {'model.head.in_channels': 30},
     ValueError, ['model.head.in_channels=30', 'outputs [40]', 'set it to 40']),
    ('input size not divisible by 32', {'model.head.decoder.input_size': (190, 256)},
     ValueError, ['model.head.decoder.input_size=(190, 256)', 'multiples of 32']),
    ('missing custom_imports', {'custom_imports': dict(imports=[])}, ValueError,
     ['custom_imports', "'litehrnet_mmpose.LiteHRNet'", "imports=['litehrnet_mmpose']"]),
]


@pytest.mark.parametrize('name,changes,error,words', CONFIG_CASES,
                         ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_named_with_its_file(name: str, changes: dict, error: type,
                                           words: list) -> None:
    raises(error, [str(CONFIG), *words], check_config, config(**changes))


def test_official_naive_config_head_bug_is_caught() -> None:
    """The official naive configs give the head 40 input channels; the backbone has 30."""
    cfg = Config.fromfile(ROOT / NAIVE_DIR / 'naive_litehrnet_18_coco_256x192.py')
    check_config(cfg)  # ours are fixed
    cfg.model.head.in_channels = 40
    raises(ValueError, ['model.head.in_channels=40', 'outputs [30]'], check_config, cfg)


def test_segmentation_head_channels_are_checked() -> None:
    cfg = Config.fromfile(ROOT / 'configs/segmentation/cityscapes/'
                          'litehrnet_18_cityscapes_512x1024.py')
    check_config(cfg)
    cfg.model.decode_head.in_channels = [40, 80, 160, 320]
    raises(ValueError, ['model.decode_head.in_channels=[40, 80, 160, 320]',
                        'set it to [40, 40, 80, 160]'], check_config, cfg)


@pytest.mark.slow
def test_missing_data_root_stops_train_tool_before_training(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', str(CONFIG), '--work-dir', str(tmp_path),
         '--cfg-options', 'train_dataloader.dataset.data_root=/nonexistent/coco/'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('FileNotFoundError: CocoDataset.ann_file'), last
    assert "'/nonexistent/coco/annotations/person_keypoints_train2017.json'" in last
    assert 'Epoch(train)' not in proc.stdout


# --------------------------------------------------------------------------- data


@pytest.fixture
def coco_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled COCO sample."""
    shutil.copytree(COCO_SAMPLE, tmp_path / 'coco')
    return tmp_path / 'coco'


def coco_dataset_cfg(root: Path, pipeline: list = (), **kwargs: object) -> dict:
    init_default_scope('mmpose')
    return dict(type='litehrnet_mmpose.CocoDataset', data_root=str(root),
                ann_file='person_keypoints_sample.json', data_prefix=dict(img='images/'),
                data_mode='topdown', pipeline=list(pipeline), **kwargs)


def test_missing_annotation_file(coco_copy: Path) -> None:
    (coco_copy / 'person_keypoints_sample.json').unlink()
    raises(FileNotFoundError, ['CocoDataset.ann_file', 'person_keypoints_sample.json',
                               'does not exist'], DATASETS.build, coco_dataset_cfg(coco_copy))


def test_missing_image_directory(coco_copy: Path) -> None:
    shutil.rmtree(coco_copy / 'images')
    raises(FileNotFoundError, ['CocoDataset.data_prefix.img', 'images'], DATASETS.build,
           coco_dataset_cfg(coco_copy))


def test_keypoints_of_the_wrong_length(coco_copy: Path) -> None:
    ann_file = coco_copy / 'person_keypoints_sample.json'
    data = json.loads(ann_file.read_text())
    data['annotations'][3]['keypoints'] = data['annotations'][3]['keypoints'][:-1]
    ann_file.write_text(json.dumps(data))
    bad_id = data['annotations'][3]['id']
    raises(ValueError, [str(ann_file), f'annotation id {bad_id}', "'keypoints' has 50 values",
                        'expected 51'], DATASETS.build, coco_dataset_cfg(coco_copy))


def test_mpii_joints_of_the_wrong_count(tmp_path: Path) -> None:
    shutil.copytree(ROOT / 'samples/mpii', tmp_path / 'mpii')
    ann_file = tmp_path / 'mpii/mpii_sample.json'
    data = json.loads(ann_file.read_text())
    data[2]['joints'] = data[2]['joints'][:15]
    ann_file.write_text(json.dumps(data))
    init_default_scope('mmpose')
    raises(ValueError, [str(ann_file), 'annotation 2', repr(data[2]['image']),
                        "'joints' has 30 values", 'expected 32'], DATASETS.build,
           dict(type='litehrnet_mmpose.MpiiDataset', data_root=str(tmp_path / 'mpii'),
                ann_file='mpii_sample.json', data_prefix=dict(img='images/'), pipeline=[]))


def test_empty_dataset_after_filtering(coco_copy: Path) -> None:
    raises(ValueError, ['CocoDataset', 'no samples left', 'bbox_score_thr', '1.5'],
           DATASETS.build,
           coco_dataset_cfg(coco_copy, bbox_file=str(coco_copy / 'person_detection_sample.json'),
                            filter_cfg=dict(bbox_score_thr=1.5), test_mode=True))


@pytest.mark.parametrize('damage,reason', [
    (lambda b: b[:len(b) // 2], 'truncated JPEG'),
    (lambda b: b'\xff\xd8' + bytes(range(256)) * 8 + b'\xff\xd9', 'cannot be decoded'),
    (lambda b: b'', 'empty file'),
], ids=['truncated', 'garbage', 'empty'])
def test_corrupt_image_is_named(coco_copy: Path, damage: Callable, reason: str) -> None:
    path = coco_copy / 'images/000000000785.jpg'
    path.write_bytes(damage(path.read_bytes()))
    dataset = DATASETS.build(
        coco_dataset_cfg(coco_copy, [dict(type='litehrnet_mmpose.LoadImage')]))
    bad = next(i for i in range(len(dataset))
               if dataset.get_data_info(i)['img_path'] == str(path))
    raises(BadImageError, [str(path), reason], dataset.__getitem__, bad)


def test_corrupt_image_skipped_with_a_counted_warning(coco_copy: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = coco_copy / 'images/000000000785.jpg'
    path.write_bytes(path.read_bytes()[:5000])
    logged: List[str] = []
    monkeypatch.setattr('litehrnet_mmpose.datasets.transforms.print_log',
                        lambda msg, **kw: logged.append(msg))
    dataset = DATASETS.build(coco_dataset_cfg(
        coco_copy, [dict(type='litehrnet_mmpose.LoadImage', skip_bad=True),
                    dict(type='PackPoseInputs')]))
    paths = [dataset[i]['data_samples'].img_path for i in range(len(dataset))]
    assert str(path) not in paths and len(paths) == len(dataset)  # others drawn instead
    loader = dataset.pipeline.transforms[0]
    assert isinstance(loader, LoadImage) and loader.skipped == len(logged) >= 1
    assert str(path) in logged[-1] and f'{loader.skipped} skipped' in logged[-1]


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope='module')
def saved_18(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp('ckpt') / 'litehrnet_18.pth'
    torch.save({'meta': {'seed': 5}, 'state_dict': build_pose_model(str(CONFIG)).state_dict()},
               path)
    return path


def test_checkpoint_of_another_architecture_lists_keys(saved_18: Path) -> None:
    raises(CheckpointError, [str(saved_18), 'does not fit', 'missing key(s)',
                             'backbone.stage0.2.'], build_pose_model,
           str(ROOT / COCO_DIR / 'litehrnet_30_coco_256x192.py'), str(saved_18))


def test_checkpoint_with_other_shapes_lists_them(tmp_path: Path) -> None:
    path = tmp_path / 'naive.pth'
    torch.save({'state_dict': build_pose_model(
        str(ROOT / NAIVE_DIR / 'naive_litehrnet_18_coco_256x192.py')).state_dict()}, path)
    raises(CheckpointError, ['shape mismatch key(s)', ': checkpoint (', ') vs model ('],
           build_pose_model, str(ROOT / NAIVE_DIR / 'wider_naive_litehrnet_18_coco_256x192.py'),
           str(path))


def test_truncated_checkpoint_given_to_resume(saved_18: Path, tmp_path: Path) -> None:
    path = tmp_path / 'epoch_3.pth'
    path.write_bytes(saved_18.read_bytes()[:100_000])
    raises(CheckpointError, [str(path), 'truncated'], apply_resume, config(), str(path))


def test_non_checkpoint_file(tmp_path: Path) -> None:
    path = tmp_path / 'model.pth'
    shutil.copy(IMAGE, path)
    raises(CheckpointError, [str(path), 'not a PyTorch checkpoint'], read_checkpoint,
           str(path))


def test_missing_load_from_file() -> None:
    raises(FileNotFoundError, ['/nonexistent/model.pth'], apply_resume,
           config(load_from='/nonexistent/model.pth'), None)


def test_official_layout_points_to_the_converter(saved_18: Path, tmp_path: Path) -> None:
    sd = read_checkpoint(str(saved_18))['state_dict']
    path = tmp_path / 'official.pth'
    torch.save({'state_dict': {k.replace('head.', 'keypoint_head.', 1)
                               if k.startswith('head.') else k: v for k, v in sd.items()}},
               path)
    raises(CheckpointError, ['official / MMPose 0.x', 'tools/convert_checkpoint.py'],
           build_pose_model, str(CONFIG), str(path))


def test_numpy1_metadata_loads_weights_only(tmp_path: Path) -> None:
    """Older checkpoints pickled numpy scalars under numpy 1's module name."""
    import zipfile
    path, old = tmp_path / 'new.pth', tmp_path / 'old.pth'
    torch.save({'meta': {'best_score': np.float64(0.65)}, 'state_dict': {}}, path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, 'w') as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith('data.pkl'):
                assert b'numpy._core.multiarray' in data
                data = data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
            dst.writestr(item, data)
    assert read_checkpoint(str(old))['meta']['best_score'] == 0.65


# --------------------------------------------------------------------------- numbers


@HOOKS.register_module()
class PoisonWeightsHook(Hook):
    """Test only: a divergence in epoch 2 (one weight becomes NaN)."""

    def before_train_epoch(self, runner: Runner) -> None:
        if runner.epoch == 1:
            with torch.no_grad():
                next(runner.model.parameters()).view(-1)[0] = float('nan')


@pytest.mark.slow
def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    cfg = Config.fromfile(QUICKSTART)
    cfg.merge_from_dict({'train_cfg.max_epochs': 3, 'default_hooks.checkpoint.interval': 1,
                         'default_hooks.checkpoint.max_keep_ckpts': -1})
    cfg.custom_hooks = [h for h in cfg.custom_hooks if 'ValidateBefore' not in h['type']]
    cfg.custom_hooks.append(dict(type='litehrnet_mmpose.PoisonWeightsHook'))
    cfg.work_dir, cfg.experiment_name = str(tmp_path), 'nan_loss'
    message = raises(FloatingPointError, ['non-finite loss at iteration 2', 'epoch 2',
                                          str(tmp_path / 'epoch_1.pth')],
                     Runner.from_cfg(cfg).train)
    assert 'loss' in message and 'nan' in message
    assert not (tmp_path / 'epoch_2.pth').exists()
    weights = read_checkpoint(str(tmp_path / 'epoch_1.pth'))['state_dict'].values()
    assert all(torch.isfinite(w).all() for w in weights if w.is_floating_point())


# --------------------------------------------------------------------------- images


@pytest.fixture(scope='module')
def pose_model() -> torch.nn.Module:
    return build_pose_model(str(CONFIG))


IMG = np.zeros((64, 48, 3), np.uint8)
IMAGE_CASES = [
    ('float image', IMG.astype(np.float32), None, TypeError, ['dtype uint8', 'float32']),
    ('grey image', IMG[..., 0], None, ValueError, ['H x W x 3', '(64, 48)']),
    ('BGRA image', np.zeros((64, 48, 4), np.uint8), None, ValueError, ['(64, 48, 4)']),
    ('empty image', np.zeros((0, 48, 3), np.uint8), None, ValueError, ['empty image']),
    ('a list, not an array', IMG.tolist(), None, TypeError, ['numpy array', 'list']),
    ('missing file', '/nonexistent.jpg', None, BadImageError, ['/nonexistent.jpg', 'no such']),
    ('box outside the image', IMG, np.array([[100., 100, 120, 140]]), ValueError,
     ['bboxes[0]', 'outside the 48x64 image']),
    ('inverted box', IMG, np.array([[10., 10, 5, 30]]), ValueError,
     ['bboxes[0]', 'x1 < x2']),
    ('boxes of the wrong shape', IMG, np.array([1., 2, 3, 4]), ValueError, ['(N, 4)', '(4,)']),
]


@pytest.mark.parametrize('name,image,bboxes,error,words', IMAGE_CASES,
                         ids=[c[0] for c in IMAGE_CASES])
def test_bad_image_or_boxes_to_the_inference_api(pose_model: torch.nn.Module, name: str,
                                                  image: object, bboxes: object, error: type,
                                                  words: list) -> None:
    raises(error, words, predict_and_draw, pose_model, image, bboxes, None)


@pytest.mark.slow
def test_corrupt_image_to_the_demo(tmp_path: Path) -> None:
    path = tmp_path / 'broken.jpg'
    path.write_bytes(IMAGE.read_bytes()[:3000])
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': build_pose_model(str(CONFIG)).state_dict()}, ckpt)
    proc = subprocess.run([sys.executable, 'tools/demo.py', str(CONFIG), str(ckpt), str(path),
                           '--out', str(tmp_path / 'out.png')], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert 'BadImageError' in last and str(path) in last and 'truncated JPEG' in last, last
