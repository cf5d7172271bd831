"""tools/inference.py end to end: every input kind, every backend, tracking on the bundled
clip, COCO results scored by xtcocotools, an interrupted video run, bad inputs, and our
config in MMPose's own MMPoseInferencer."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
import torch

from litehrnet_mmpose.apis.pose_inference import TorchBackend
from litehrnet_runtime import TopDownEstimator

from .helpers import QUICKSTART_CONFIG, ROOT

CLIP = ROOT / 'samples/video/pan_zoom_196141.mp4'
IMAGE = ROOT / 'samples/coco/images/000000196141.jpg'
DETS = ROOT / 'samples/coco/person_detection_sample.json'
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def keep_default_scope():
    """mmdet's init_detector and MMPoseInferencer switch mmengine's default scope (to
    'mmdet'); later tests in this process build MMPose models by bare type name."""
    from mmengine.registry import DefaultScope
    before = DefaultScope.get_current_instance()
    yield
    if before is not None:
        DefaultScope.get_instance(f'restored-{time.monotonic_ns()}',
                                  scope_name=before.scope_name)


def infer(*args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run tools/inference.py with ``args``; its completed process."""
    proc = subprocess.run([sys.executable, 'tools/inference.py', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def model_args(kind: str, pose_checkpoint: str, pose_onnx: str) -> List[str]:
    return {
        'pytorch': ['--pose2d', QUICKSTART_CONFIG, '--pose2d-weights', pose_checkpoint],
        'pytorch-deploy': ['--pose2d', QUICKSTART_CONFIG, '--pose2d-weights',
                           pose_checkpoint, '--deploy'],
        'onnxruntime': ['--pose2d', pose_onnx],
        'openvino': ['--pose2d', pose_onnx, '--backend', 'openvino'],
        'openvino-ir': ['--pose2d', str(Path(pose_onnx).with_suffix('.xml'))],
    }[kind]


@pytest.mark.parametrize('kind', ['pytorch', 'pytorch-deploy', 'onnxruntime', 'openvino',
                                  'openvino-ir'])
def test_image_with_boxes_file_on_every_backend(kind: str, pose_model: torch.nn.Module,
                                                pose_checkpoint: str, pose_onnx: str,
                                                tmp_path: Path) -> None:
    """One image, COCO detections file: drawn PNG, JSON, keypoints as the PyTorch path."""
    infer(str(IMAGE), *model_args(kind, pose_checkpoint, pose_onnx), '--bboxes', str(DETS),
          '--bbox-thr', '0.5', '--vis-out-dir', str(tmp_path / 'vis'), '--pred-out-dir',
          str(tmp_path / 'pred'), '--threads', '1', '--draw-bbox')
    people = json.loads((tmp_path / 'pred' / f'{IMAGE.stem}.json').read_text())
    drawn = cv2.imread(str(tmp_path / 'vis' / IMAGE.name))
    assert drawn.shape == cv2.imread(str(IMAGE)).shape
    boxes = np.array([p['bbox'] for p in people], np.float32)
    want, _ = TopDownEstimator(TorchBackend(pose_model)).estimate(cv2.imread(str(IMAGE)),
                                                                  boxes)
    got = np.array([p['keypoints'] for p in people], np.float32)
    assert got.shape == want.shape and len(people) >= 3
    assert np.abs(got - want).max() <= 0.5


def test_folder_writes_coco_results_that_xtcocotools_scores(pose_onnx: str,
                                                            tmp_path: Path) -> None:
    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval
    proc = infer(str(ROOT / 'samples/coco/images'), '--pose2d', pose_onnx, '--bboxes',
                 str(DETS), '--pred-out-dir', str(tmp_path))
    assert 'done: 4 folder frame(s)' in proc.stdout
    results = tmp_path / 'coco_keypoint_results.json'
    gt = COCO(str(ROOT / 'samples/coco/person_keypoints_sample.json'))
    evaluator = COCOeval(gt, gt.loadRes(str(results)), 'keypoints')
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert 0 <= evaluator.stats[0] <= 1  # random weights: a valid score, not a good one
    assert len(json.loads(results.read_text())) == sum(
        len(json.loads(p.read_text())) for p in tmp_path.glob('0*.json'))


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
def test_video_tracking_writes_annotated_video_and_json(pose_onnx: str, tmp_path: Path,
                                                        backend: str) -> None:
    proc = infer(str(CLIP), '--pose2d', pose_onnx, '--backend', backend, '--det-model',
                 'whole-image', '--vis-out-dir', str(tmp_path), '--pred-out-dir',
                 str(tmp_path), '--redetect-interval', '15', '--threads', '2')
    data = json.loads((tmp_path / f'{CLIP.stem}.json').read_text())
    assert data['complete'] is True and len(data['frames']) == 90
    assert 'fps' in proc.stdout and 'tracking: detector ran on' in proc.stdout
    ids = {p['track_id'] for f in data['frames'] for p in f['people']}
    assert None not in ids
    video, = [p for p in tmp_path.iterdir() if p.suffix in ('.mp4', '.avi')]
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 90
    ok, frame = cap.read()
    assert ok and frame.shape == (480, 640, 3)


def flushed_frames(path: Path) -> int:
    """Frames in the video JSON on disk now (it is valid at every moment)."""
    return len(json.loads(path.read_text())['frames']) if path.exists() else 0


def test_interrupted_video_leaves_valid_output(pose_checkpoint: str, tmp_path: Path) -> None:
    """SIGINT midway (PyTorch, flip test on: slow enough to interrupt)."""
    cmd = [sys.executable, 'tools/inference.py', str(CLIP), '--pose2d', QUICKSTART_CONFIG,
           '--pose2d-weights', pose_checkpoint, '--vis-out-dir', str(tmp_path),
           '--pred-out-dir', str(tmp_path), '--threads', '1', '--det-model', 'whole-image']
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    pred = tmp_path / f'{CLIP.stem}.json'
    deadline = time.time() + 300
    while time.time() < deadline and not flushed_frames(pred):  # a periodic flush (2 s)
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out + err
    data = json.loads(pred.read_text())
    assert data['complete'] is False and 0 < len(data['frames']) < 90
    assert 'interrupted after' in out
    video = next(p for p in tmp_path.iterdir() if p.suffix in ('.mp4', '.avi'))
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(data['frames'])


@pytest.mark.parametrize('args, words', [
    (['missing.jpg'], "input 'missing.jpg' does not exist"),
    (['tools'], 'no images'),
    (['README.md'], 'cannot'),
    (['97'], 'no webcam at index 97'),
    ([str(IMAGE), '--det-model', 'yolo'], "--det-model 'yolo'"),
    ([str(IMAGE), '--pose2d-weights', 'missing.pth'], 'no such file'),
])
def test_bad_input_is_named(pose_checkpoint: str, args: List[str], words: str) -> None:
    extra = [] if '--pose2d-weights' in args else ['--pose2d-weights', pose_checkpoint]
    proc = infer(*args, '--pose2d', QUICKSTART_CONFIG, *extra, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert words in proc.stderr, proc.stderr


def test_precision_is_for_openvino(pose_checkpoint: str) -> None:
    proc = infer(str(IMAGE), '--pose2d', QUICKSTART_CONFIG, '--pose2d-weights', pose_checkpoint,
                 '--precision', 'bf16', check=False)
    assert proc.returncode == 2 and '--precision bf16: runs an exported file' in proc.stderr


def test_checkpoint_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    mpii = ROOT / 'configs/top_down/lite_hrnet/mpii/litehrnet_18_mpii_256x256.py'
    from litehrnet_mmpose.apis.models import build_pose_model
    path = tmp_path / 'mpii.pth'
    torch.save({'state_dict': build_pose_model(str(mpii)).state_dict()}, path)
    proc = infer(str(IMAGE), '--pose2d', QUICKSTART_CONFIG, '--pose2d-weights', str(path),
                 check=False)
    assert proc.returncode != 0
    assert 'head.final_layer' in proc.stdout + proc.stderr


def test_mmpose_inferencer_runs_our_config(pose_model: torch.nn.Module, pose_checkpoint: str,
                                           tmp_path: Path) -> None:
    """MMPose's own MMPoseInferencer on our config + checkpoint (whole image as the box)
    gives the keypoints of our runtime on the same box."""
    from mmpose.apis import MMPoseInferencer
    inferencer = MMPoseInferencer(pose2d=QUICKSTART_CONFIG, pose2d_weights=pose_checkpoint,
                                  det_model='whole_image', device='cpu')
    result = next(inferencer(str(IMAGE), return_vis=False))
    person = result['predictions'][0][0]
    img = cv2.imread(str(IMAGE))
    h, w = img.shape[:2]
    want, _ = TopDownEstimator(TorchBackend(pose_model)).estimate(
        img, np.array([[0, 0, w, h]], np.float32))
    np.testing.assert_allclose(np.array(person['keypoints']), want[0], atol=1e-3)


@pytest.fixture(scope='module')
def rtmdet_tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """mmdet's RTMDet-tiny config as installed with mmdet, keeping every box (score_thr 0):
    its random weights here (no checkpoint can be downloaded) score all boxes about 0.01."""
    import mmdet
    path = Path(mmdet.__file__).parent / '.mim/configs/rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
    if not path.is_file():
        pytest.skip(f'mmdet ships no {path}')
    config = tmp_path_factory.mktemp('det') / 'rtmdet_tiny_all_boxes.py'
    config.write_text(f"_base_ = [{str(path)!r}]\nmodel = dict(test_cfg=dict(score_thr=0.0))\n")
    return str(config)


def test_mmdet_detector_keeps_the_asked_classes(rtmdet_tiny: str) -> None:
    """The boxes of --det-cat-ids only, NMS applied (random weights label few classes: the
    test keeps the most frequent one)."""
    from mmdet.apis import inference_detector

    from litehrnet_mmpose.apis.pose_inference import MMDetDetector
    img = cv2.imread(str(IMAGE))
    torch.manual_seed(0)
    det = MMDetDetector(rtmdet_tiny, None)
    inst = inference_detector(det.model, img).pred_instances
    label = int(torch.mode(inst.labels).values)
    det.cat_ids = np.array([label])
    boxes, scores = det(img)
    assert boxes.dtype == np.float32 and boxes.shape == (len(scores), 4)
    kept = inst.bboxes[inst.labels == label].numpy()
    assert 0 < len(boxes) <= len(kept) < len(inst.bboxes)
    assert all(np.abs(kept - b).sum(1).min() < 1e-3 for b in boxes)  # a subset of them
    with pytest.raises(ValueError, match='--det-cat-ids: 80'):
        MMDetDetector(rtmdet_tiny, None, cat_ids=[80])


def test_cli_with_an_mmdet_detector(rtmdet_tiny: str, pose_onnx: str, tmp_path: Path) -> None:
    """Random RTMDet weights give boxes of some classes (all kept here): --max-people keeps
    the 3 best."""
    infer(str(IMAGE), '--pose2d', pose_onnx, '--det-model', rtmdet_tiny, '--bbox-thr', '0',
          '--det-cat-ids', *map(str, range(80)), '--max-people', '3', '--pred-out-dir',
          str(tmp_path))
    people = json.loads((tmp_path / f'{IMAGE.stem}.json').read_text())
    assert len(people) <= 3  # random weights: how many boxes survive NMS varies by seed
    scores = [p['bbox_score'] for p in people]
    assert scores == sorted(scores, reverse=True)
    assert all(len(p['keypoints']) == 17 for p in people)


@pytest.mark.parametrize('display', [None, ':97'])
def test_show_without_a_screen_is_refused(pose_onnx: str, display: str) -> None:
    """No display: refused up front (OpenCV's Qt build would abort the process); a display
    set but a headless OpenCV (or no X server at :97): refused by OpenCV's own check."""
    import os
    env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
    if display:
        env['DISPLAY'] = display
    proc = subprocess.run([sys.executable, 'tools/inference.py', str(IMAGE), '--pose2d',
                           pose_onnx, '--show'], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 1, proc.stderr[-2000:]
    want = '--show: this OpenCV has no GUI' if display else '--show: no display'
    assert want in proc.stderr, proc.stderr[-2000:]
