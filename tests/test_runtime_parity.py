"""The runtime's numpy / OpenCV pre- and post-processing against MMPose's own
(``mmpose.apis.inference_topdown``), and every backend's keypoints against PyTorch's, on
every bundled person, flip test on and off."""
import copy
import json
from typing import Dict, Iterator, List, Tuple

import cv2
import numpy as np
import pytest
import torch

from litehrnet_mmpose.apis.pose_inference import TorchBackend
from litehrnet_runtime import TopDownEstimator, open_backend
from litehrnet_runtime.topdown import flip_back, heatmap_maximum, refine_dark

from .helpers import ROOT

COCO = ROOT / 'samples/coco'
MPII = ROOT / 'samples/mpii'


def bundled_people() -> Dict[str, np.ndarray]:
    """Ground-truth person boxes (xyxy) of every bundled image, by image path."""
    out: Dict[str, List[List[float]]] = {}
    ann = json.loads((COCO / 'person_keypoints_sample.json').read_text())
    names = {im['id']: im['file_name'] for im in ann['images']}
    for a in ann['annotations']:
        x, y, w, h = a['bbox']
        out.setdefault(str(COCO / 'images' / names[a['image_id']]), []).append(
            [x, y, x + w, y + h])
    for rec in json.loads((MPII / 'mpii_sample.json').read_text()):
        (cx, cy), half = rec['center'], rec['scale'] * 100  # MPII scale: box side / 200
        out.setdefault(str(MPII / 'images' / rec['image']), []).append(
            [cx - half, cy - half, cx + half, cy + half])
    return {k: np.array(v, np.float32) for k, v in out.items()}


PEOPLE = bundled_people()


@pytest.fixture
def flip_model(pose_model: torch.nn.Module, request: pytest.FixtureRequest) -> Iterator:
    """The session model with test_cfg.flip_test set to the test's ``flip`` parameter."""
    flip = request.node.callspec.params['flip']
    old = copy.deepcopy(pose_model.test_cfg)
    pose_model.test_cfg['flip_test'] = flip
    yield pose_model
    pose_model.test_cfg.clear()
    pose_model.test_cfg.update(old)


@pytest.mark.parametrize('flip', [True, False])
def test_runtime_matches_mmpose_inference_topdown(flip_model: torch.nn.Module,
                                                  flip: bool) -> None:
    """Same network (PyTorch), MMPose's pipeline vs the runtime's. The crops are the same
    cv2.warpAffine of the same float32 matrix and the normalisation the same float32
    ops; the mapping back to the image rounds differently (measured 1.2e-4 px on all 19
    bundled people, scores 1.5e-7; flip test on and off)."""
    from mmpose.apis import inference_topdown
    runtime = TopDownEstimator(TorchBackend(flip_model), flip_test=flip)
    assert runtime.flip_test is flip
    worst = 0.
    for path, boxes in PEOPLE.items():
        img = cv2.imread(path)
        ref = inference_topdown(flip_model, img, boxes)
        want = np.stack([r.pred_instances.keypoints[0] for r in ref])
        want_scores = np.stack([r.pred_instances.keypoint_scores[0] for r in ref])
        got, scores = runtime.estimate(img, boxes)
        worst = max(worst, np.abs(got - want).max())
        np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-6)
    assert worst <= 1e-3


def _all_keypoints(runtime: TopDownEstimator) -> Tuple[np.ndarray, np.ndarray]:
    kpts, scores = zip(*(runtime.estimate(cv2.imread(p), b) for p, b in PEOPLE.items()))
    return np.concatenate(kpts), np.concatenate(scores)


@pytest.mark.parametrize('backend', ['onnxruntime', 'openvino'])
@pytest.mark.parametrize('flip', [True, False])
def test_exported_keypoints_match_pytorch(pose_model: torch.nn.Module, pose_onnx: str,
                                          backend: str, flip: bool) -> None:
    """The deployed export in ORT / OpenVINO against the eval model in PyTorch: the issue's
    bound, 0.5 px, on every bundled person. The heatmaps differ by float rounding (BN
    folding, the runtimes' kernels: measured <= 1e-6 at a heatmap scale of 0.86), which can
    move an arg-max or a quarter-pixel step only at a near tie; measured 0 px here, scores
    <= 6.1e-7."""
    want, want_scores = _all_keypoints(TopDownEstimator(TorchBackend(pose_model), flip))
    got, scores = _all_keypoints(TopDownEstimator(open_backend(pose_onnx, backend, 1), flip))
    assert got.shape == (19, 17, 2)  # 14 COCO + 5 MPII people
    assert np.abs(got - want).max() <= 0.5
    assert np.abs(scores - want_scores).max() <= 1e-4


def test_flip_back_swaps_pairs_and_shifts() -> None:
    hm = np.zeros((1, 3, 2, 4), np.float32)
    hm[0, 0, 0, 0] = 1  # keypoint 0 at x=0 -> flipped x=3 -> shifted beyond the edge
    hm[0, 1, 1, 1] = 2  # keypoint 1 at x=1 -> lands on keypoint 2's channel at x=2, +1
    out = flip_back(hm, [0, 2, 1], shift=True)
    assert out[0, 2, 1, 3] == 2 and out[0, 2].sum() == 2
    assert out[0, 0].sum() == 0  # shifted out (the last column duplicates its left one)
    unshifted = flip_back(hm, [0, 2, 1], shift=False)
    assert unshifted[0, 0, 0, 3] == 1 and unshifted[0, 2, 1, 2] == 2


def test_heatmap_maximum_marks_non_positive_maps() -> None:
    hm = -np.ones((1, 2, 3, 3), np.float32)
    hm[0, 0, 2, 1] = 0.7
    locs, vals = heatmap_maximum(hm)
    np.testing.assert_array_equal(locs[0], [[1, 2], [-1, -1]])
    np.testing.assert_allclose(vals[0], [0.7, -1])


def test_dark_refinement_matches_mmpose() -> None:
    """DARK (unbiased) decoding, which no shipped config uses, against MMPose's."""
    from mmpose.codecs.utils import get_heatmap_maximum, refine_keypoints_dark
    g = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:48]
    hm = np.stack([np.exp(-((xx - g.uniform(5, 43)) ** 2 + (yy - g.uniform(5, 59)) ** 2) / 8)
                   for _ in range(5)]).astype(np.float32)
    want = refine_keypoints_dark(get_heatmap_maximum(hm)[0][None], hm.copy(), 11)
    got = refine_dark(heatmap_maximum(hm[None])[0], hm[None], 11)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_pose_estimator_api(pose_model: torch.nn.Module, pose_onnx: str) -> None:
    """The few-line API: image in, people out; given boxes, a detector, or tracking."""
    from litehrnet_runtime import Person, PoseEstimator
    img = cv2.imread(str(COCO / 'images/000000196141.jpg'))
    boxes = PEOPLE[str(COCO / 'images/000000196141.jpg')]
    pose = PoseEstimator(pose_onnx, detector='whole-image', threads=1)
    people = pose(img, boxes)
    assert [type(p) for p in people] == [Person] * len(boxes)
    want, _ = TopDownEstimator(TorchBackend(pose_model)).estimate(img, boxes)
    np.testing.assert_allclose(np.stack([p.keypoints for p in people]), want, atol=0.5)
    whole, = pose(img)
    np.testing.assert_array_equal(whole.bbox, [0, 0, img.shape[1], img.shape[0]])
    video = PoseEstimator(TorchBackend(pose_model), detector=lambda im: (boxes, np.ones(
        len(boxes))), track=True, redetect_interval=3)
    # (random weights: keypoints do not follow anyone; tracking proper is
    # tests/test_runtime_track.py's, on the bundled clip's ground truth)
    ids = [[p.track_id for p in video(img)] for _ in range(4)]
    assert ids[0] == list(range(len(boxes))) and video.tracker.detector_calls >= 1
    assert all(isinstance(i, int) for frame in ids for i in frame)
    video.reset()
    assert [p.track_id for p in video(img)] == list(range(len(boxes)))
    assert video.timings['pose'] > 0 and video.timings['detect'] > 0
    with pytest.raises(TypeError, match='detector'):
        PoseEstimator(pose_onnx, detector=3)
    with pytest.raises(ValueError, match='bbox_thr'):
        PoseEstimator(pose_onnx, bbox_thr=2)
