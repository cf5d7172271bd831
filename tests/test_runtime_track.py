"""The torch-free runtime's person detectors (litehrnet_runtime.detect), video tracker
(track) and the bundled clip of tools/make_clip.py, checked against its ground truth.
Needs numpy and OpenCV only: ``PYTHONPATH=runtime python -m pytest --noconftest ...``."""
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np
import pytest

from litehrnet_runtime.detect import (FixedBoxes, HOGPersonDetector, WholeImageDetector, box_recall,
                                      build_detector, iou_matrix, nms)
from litehrnet_runtime.track import PoseTracker

ROOT = Path(__file__).resolve().parents[1]
COCO_ANN = ROOT / 'samples/coco/person_keypoints_sample.json'
PHOTO = ROOT / 'samples/coco/images/000000196141.jpg'
CLIP = ROOT / 'samples/video/pan_zoom_196141.mp4'
IMAGE = np.zeros((400, 600, 3), np.uint8)
needs_hog = pytest.mark.skipif(not hasattr(cv2, 'HOGDescriptor'),
                               reason=f'OpenCV {cv2.__version__} has no HOG (OpenCV 5)')


def load_make_clip() -> ModuleType:
    spec = importlib.util.spec_from_file_location('make_clip', ROOT / 'tools/make_clip.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decode(path: Path) -> List[np.ndarray]:
    cap, frames = cv2.VideoCapture(str(path)), []
    while cap.grab():
        frames.append(cap.retrieve()[1])
    return frames


def body(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """17 keypoints on a diagonal of the box, so their bounding box is the box."""
    t = np.linspace(0, 1, 17)
    return np.stack([x1 + (x2 - x1) * t, y1 + (y2 - y1) * t[::-1]], 1).astype(np.float32)


# ------------------------------------------------------------------ detectors, box helpers


@needs_hog
def test_hog_finds_people_on_a_bundled_photo() -> None:
    image = cv2.imread(str(ROOT / 'samples/coco/images/000000197388.jpg'))
    boxes, scores = HOGPersonDetector()(image)
    assert boxes.dtype == scores.dtype == np.float32 and boxes.shape == (len(scores), 4)
    assert (scores >= 0.5).all() and (scores < 1).all() and (np.diff(scores) <= 0).all()
    assert (boxes >= 0).all() and (boxes[:, 2:] <= [640, 392]).all()
    coco = json.loads(COCO_ANN.read_text())
    gt = [[x, y, x + w, y + h] for x, y, w, h in
          (a['bbox'] for a in coco['annotations'] if a['image_id'] == 197388)]
    # Measured (OpenCV 4.14, defaults): 4 boxes; 2 of the 5 skiers at IoU >= 0.5 (IoU 0.63,
    # 0.51), a third at 0.41, so 3 found at IoU >= 0.3 with 1 false positive.
    assert box_recall(boxes, gt, 0.5)[:2] >= (2, 5)
    matched, total, false_pos = box_recall(boxes, gt, 0.3)
    assert total == 5 and matched >= 3 and false_pos <= 2
    small = np.full((100, 60, 3), 128, np.uint8)  # below the 64 x 128 window: nothing
    for boxes, scores in (HOGPersonDetector()(small), build_detector('hog', upscale=2)(small)):
        assert boxes.shape == (0, 4) and scores.shape == (0,) and scores.dtype == np.float32


def test_hog_without_opencv_hog_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(cv2, 'HOGDescriptor', raising=False)
    with pytest.raises(RuntimeError, match='opencv-python-headless<5'):
        HOGPersonDetector()


def test_whole_image_fixed_boxes_and_build_detector() -> None:
    boxes, scores = build_detector('whole-image')(np.zeros((48, 64, 3), np.uint8))
    np.testing.assert_array_equal(boxes, [[0, 0, 64, 48]])
    assert scores.tolist() == [1] and boxes.dtype == scores.dtype == np.float32
    det = FixedBoxes([[1, 2, 30, 40], [5, 5, 9, 9]], scores=[0.9, 0.4])
    boxes, scores = det(IMAGE)
    np.testing.assert_array_equal(boxes, [[1, 2, 30, 40], [5, 5, 9, 9]])
    np.testing.assert_allclose(scores, [0.9, 0.4])
    boxes[:] = 0  # the caller's copy
    np.testing.assert_array_equal(det(IMAGE)[0][0], [1, 2, 30, 40])
    assert FixedBoxes([1, 2, 3, 4])(IMAGE)[1].tolist() == [1]


HOG_BAD = [dict(win_stride=(0, 8)), dict(win_stride=(8, 8.5)), dict(padding=(8,)),
           dict(scale=1.0), dict(hit_threshold=np.nan), dict(upscale=0.1), dict(nms_iou=0),
           dict(shrink=(0.5, 0))]
TRACKER_BAD = [dict(redetect_interval=0), dict(redetect_interval=2.5), dict(kpt_thr=1.5),
               dict(redetect_interval=True), dict(kpt_thr='0.3'), dict(min_keypoints=0),
               dict(lost_score=2), dict(box_margin=-0.1), dict(match_iou=0), dict(motion=1.5),
               dict(max_people=0), dict(bbox_thr=1.1)]


@pytest.mark.parametrize('make, error, match', [
    *[(lambda kw=kw: HOGPersonDetector(**kw), ValueError, [*kw][0]) for kw in HOG_BAD],
    *[(lambda kw=kw: PoseTracker(FixedBoxes([]), **kw), ValueError, [*kw][0])
      for kw in TRACKER_BAD],
    (lambda: PoseTracker('hog'), TypeError, 'detector'),
    (lambda: FixedBoxes([[0, 0, np.inf, 10]]), ValueError, r'boxes\[0\]'),
    (lambda: FixedBoxes([[0, 0, 10, 10], [5, 0, 5, 10]]), ValueError, r'boxes\[1\].*x1 < x2'),
    (lambda: FixedBoxes([[0, 9, 10, 3]]), ValueError, 'y1 < y2'),
    (lambda: FixedBoxes([[0, 0, 10]]), ValueError, r'shape \(N, 4\)'),
    (lambda: FixedBoxes([[0, 0, 10, 10]], [0.5, 0.5]), ValueError, 'scores'),
    (lambda: FixedBoxes([[0, 0, 10, 10]], [1.5]), ValueError, 'scores'),
    (lambda: build_detector('yolo'), ValueError, "'yolo'"),
    (lambda: WholeImageDetector()(np.zeros((4, 4), np.uint8)), ValueError, 'H x W x 3'),
    (lambda: WholeImageDetector()(np.zeros((4, 4, 3))), TypeError, 'uint8'),
    (lambda: box_recall([[0, 0, 1, 1]], [[0, 0, 1, 1]], 0), ValueError, 'iou_thr')])
def test_bad_arguments(make: Callable, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_iou_recall_and_nms_hand_computed() -> None:
    a = [[0, 0, 10, 10], [0, 0, 20, 20]]
    b = [[5, 0, 15, 10], [0, 0, 10, 10], [30, 30, 40, 40]]
    np.testing.assert_allclose(iou_matrix(a, b), [[1 / 3, 1, 0], [1 / 4, 1 / 4, 0]], rtol=1e-6)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)
    # Two predictions on the first person (one counts), one at IoU 1/3 with the second.
    gt, pred = [[0, 0, 10, 10], [100, 0, 110, 10]], [[0, 0, 10, 10], [0, 0, 10, 11],
                                                     [105, 0, 115, 10]]
    assert box_recall(pred, gt, 0.5) == (1, 2, 2) and box_recall(pred, gt, 0.3) == (2, 2, 1)
    assert box_recall(np.zeros((0, 4)), gt) == (0, 2, 0)
    boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [0, 0, 10, 20]]
    # 1 suppresses 0 (IoU 0.82); 3 overlaps 1 by 0.43 < 0.45 and stays.
    assert nms(boxes, np.array([0.6, 0.9, 0.5, 0.7]), 0.45).tolist() == [1, 3, 2]


# ------------------------------------------------------------------ the clip


@pytest.fixture(scope='module')
def clip_gt() -> dict:
    return json.loads(CLIP.with_suffix('.gt.json').read_text())


def test_clip_decodes_and_matches_its_ground_truth(clip_gt: dict) -> None:
    assert (clip_gt['frames'], clip_gt['width'], clip_gt['height']) == (90, 640, 480)
    assert CLIP.stat().st_size < 2 * 2**20
    assert cv2.VideoCapture(str(CLIP)).get(cv2.CAP_PROP_FPS) == pytest.approx(30)
    frames, photo = decode(CLIP), cv2.imread(str(PHOTO))
    assert len(frames) == len(clip_gt['per_frame']) == 90 and frames[0].shape == (480, 640, 3)

    def error(frame: int, matrix_of: int) -> float:
        m = np.array(clip_gt['per_frame'][matrix_of]['matrix'])
        return np.abs(cv2.warpAffine(photo, m, (640, 480), borderValue=(114, 114, 114))
                      - frames[frame].astype(np.float32)).mean()
    # Each frame is the photo through its recorded matrix, up to mp4v's loss (measured mean
    # absolute error <= 5.2); frame 0's matrix on frame 30 is far off (measured ~30).
    assert all(error(i, i) < 8 for i in range(0, 90, 6)) and error(30, 0) > 15
    coco = json.loads(COCO_ANN.read_text())
    anns = {a['id']: a for a in coco['annotations'] if a['image_id'] == 196141}
    assert clip_gt['person_ids'] == sorted(anns) and len(anns) == 5
    assert clip_gt['license']['name'] == 'Attribution-NonCommercial-ShareAlike License'
    for frame in clip_gt['per_frame'][::10]:
        m = np.array(frame['matrix'])
        for person in frame['people']:
            kpts = np.array(anns[person['id']]['keypoints'], np.float64).reshape(-1, 3)
            moved = kpts[:, :2] @ m[:, :2].T + m[:, 2]
            inside = ((moved >= 0) & (moved < [640, 480])).all(1) & (kpts[:, 2] > 0)
            got = np.array(person['keypoints'], np.float64)
            np.testing.assert_array_equal(got[:, 2] > 0, inside)
            np.testing.assert_allclose(got[inside, :2], moved[inside], atol=0.01)
            assert person['num_keypoints'] == inside.sum()
            if person['in_view']:
                x1, y1, x2, y2 = person['bbox']
                assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
            else:
                assert person['bbox'] is None and not inside.any()


def test_make_clip_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tool = load_make_clip()
    gts = [tool.make_clip(str(PHOTO), str(COCO_ANN), str(tmp_path / f'{name}.avi'), frames=5,
                          fps=10, size=(160, 120)) for name in 'ab']
    assert [gt.pop('video') for gt in gts] == ['a.avi', 'b.avi'] and gts[0] == gts[1]
    assert json.loads((tmp_path / 'a.gt.json').read_text())['per_frame'] == gts[0]['per_frame']
    frames = decode(tmp_path / 'a.avi')
    assert len(frames) == 5 and frames[0].shape == (120, 160, 3)
    assert gts[0]['per_frame'][0]['matrix'] == gts[0]['per_frame'][-1]['matrix']  # round trip
    boxes = json.loads((tmp_path / 'a.boxes.json').read_text())
    assert boxes == tool.gt_detections(gts[0]) and {b['image_id'] for b in boxes} <= set(range(5))
    argv = ['--image', str(PHOTO), '--ann', str(COCO_ANN), '--size', '96', '64', '--out',
            str(tmp_path / 'c.mp4')]
    tool.main(argv + ['--frames', '3'])
    assert '3 frames, 96x64' in capsys.readouterr().out
    for bad, name in (['--frames', '1'], 'frames'), (['--fps', '0'], 'fps'), (
            ['--out', 'c.mkv'], 'out_path'), (['--image', str(CLIP)], 'image_path'), (
            ['--image', str(ROOT / 'samples/mpii/images/004645041.jpg')], 'ann_path'):
        with pytest.raises(SystemExit):
            tool.main(argv + bad)
        assert name in capsys.readouterr().err


# ------------------------------------------------------------------ tracking the clip


class ClipWorld:
    """The clip's ground truth as a perfect detector and a perfect top-down pose model.

    The detector returns the people in view with >= 3 visible keypoints. The pose model sees
    only its crop (the box padded by 1.25 at 3:4, as the runtime crops): it finds the person
    with the most visible keypoints there and returns those at score 1, the rest at 0, so a
    box that drifts off its person loses them.
    """

    def __init__(self, gt: dict) -> None:
        self.frames, self.index = gt['per_frame'], 0
        self.detector_frames: List[int] = []
        self.followed: List[Dict[int, int]] = []  # per frame: track id -> person id

    def detector(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        self.detector_frames.append(self.index)
        people = [p['bbox'] for p in self.frames[self.index]['people']
                  if p['in_view'] and p['num_keypoints'] >= 3]
        return np.array(people, np.float32).reshape(-1, 4), np.ones(len(people), np.float32)

    def pose(self, boxes: np.ndarray, ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        kpts, scores, followed = np.zeros((len(boxes), 17, 2)), np.zeros((len(boxes), 17)), {}
        for i, (box, track_id) in enumerate(zip(boxes, ids)):
            centre, (w, h) = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
            half, best = np.array([max(w, h * 0.75), max(h, w / 0.75)]) * 1.25 / 2, 0
            for person in self.frames[self.index]['people']:
                k = np.array(person['keypoints'], np.float64)
                seen = (k[:, 2] > 0) & (np.abs(k[:, :2] - centre) <= half).all(1)
                if seen.sum() > best:
                    best, kpts[i], scores[i] = seen.sum(), k[:, :2], seen
                    followed[int(track_id)] = person['id']
        self.followed.append(followed)
        return kpts, scores


@pytest.fixture(scope='module')
def tracked(clip_gt: dict) -> dict:
    world = ClipWorld(clip_gt)
    tracker = PoseTracker(world.detector, redetect_interval=10)
    returned, live = [], []
    for frame in range(90):
        world.index = frame
        boxes, scores, ids = tracker.boxes(np.zeros((480, 640, 3), np.uint8))
        assert boxes.dtype == np.float32 and ids.dtype == np.int64 and len(scores) == len(ids)
        tracker.update(*world.pose(boxes, ids))
        returned.append(dict(zip(ids.tolist(), boxes)))
        live.append(tracker.track_ids)
    return dict(world=world, tracker=tracker, boxes=returned, live=live)


def test_tracks_keep_one_id_per_person_and_visit(clip_gt: dict, tracked: dict) -> None:
    world, people_of = tracked['world'], {}
    for followed in world.followed:
        for track_id, person in followed.items():
            people_of.setdefault(track_id, set()).add(person)
    assert all(len(people) == 1 for people in people_of.values()), people_of  # no id switch
    for pid in clip_gt['person_ids']:
        # Trackable: >= 4 of 17 keypoints at score 1 keep the mean >= lost_score 0.2.
        ok = [next(p for p in f['people'] if p['id'] == pid)['num_keypoints'] >= 4
              for f in world.frames]
        starts = [f for f in range(90) if ok[f] and (f == 0 or not ok[f - 1])]
        visit_ids = []
        for first in starts:
            last = next((f - 1 for f in range(first, 90) if not ok[f]), 89)
            runs = [f for f in world.detector_frames if first <= f <= last]
            if not runs:  # the tracker can only pick people up when the detector runs
                continue
            ids = {t for f in world.followed[first:last + 1] for t, p in f.items() if p == pid}
            assert len(ids) == 1, (pid, first, last, ids)
            assert all(pid in world.followed[f].values() for f in range(runs[0], last + 1))
            visit_ids.append(ids.pop())
        # Leaving the view ends the track; coming back elsewhere (the camera has moved on:
        # no IoU with the remembered box) is a new id. 508900 has no keypoints.
        # Measured: 2 tracked visits for 3 people, 1 for 460541 and 1724673 (whose return
        # at the edge fails its first pose: dropped as a false positive, picked up later).
        assert len(set(visit_ids)) == len(visit_ids) >= (pid != 508900), pid
        assert visit_ids == sorted(visit_ids)
    assert sum(len(v) for v in people_of.values()) == len(people_of)


def test_detector_runs_every_interval_and_after_losses(tracked: dict) -> None:
    world, live, expected, last = tracked['world'], tracked['live'], [], -99
    for f in range(90):
        # a loss: a track with a pose on the frame before dropped (not a fresh or revived
        # detection rejected on its first frame back)
        before = set(live[f - 2]) if f > 1 else set()
        lost = f > 0 and bool((set(tracked['boxes'][f - 1]) - set(live[f - 1])) & before)
        if f - last >= 10 or lost or f == 0 or not live[f - 1]:
            expected.append(f)
            last = f
    assert world.detector_frames == expected and tracked['tracker'].detector_calls == 10
    # Measured 10 runs in 90 frames: 0, 23, 33, 52, 62, 72, 82 by the interval, 8, 13 and 42
    # after people left at the frame's edge (a track lost there is re-detected at once; a
    # remembered one that comes back and fails its first pose is not a new loss).
    assert {0, 23, 33, 52, 62, 72, 82} <= set(expected)


def test_tracked_boxes_overlap_the_person(clip_gt: dict, tracked: dict) -> None:
    ious = []
    for f, followed in enumerate(tracked['world'].followed):
        people = {p['id']: p for p in clip_gt['per_frame'][f]['people']}
        for track_id, pid in followed.items():
            p = people[pid]
            if p['visible_fraction'] >= 0.9 and p['num_keypoints'] >= 10:
                ious.append(iou_matrix(tracked['boxes'][f][track_id], p['bbox'])[0, 0])
    # Measured: 184 boxes, IoU min 0.62, median 0.91 (box_margin 0.1, motion 0.5).
    assert len(ious) >= 150 and min(ious) >= 0.55 and np.median(ious) >= 0.85


# ------------------------------------------------------------------ tracker rules


@pytest.mark.parametrize('interval, frames, calls', [(1, 12, 12), (3, 12, 4), (10, 30, 3)])
def test_redetect_interval(interval: int, frames: int, calls: int) -> None:
    tracker = PoseTracker(FixedBoxes([100, 100, 200, 300]), redetect_interval=interval)
    for _ in range(frames):
        assert tracker.boxes(IMAGE)[2].tolist() == [0]
        tracker.update(body(100, 100, 200, 300)[None], np.ones((1, 17)))
    assert tracker.detector_calls == calls


def test_next_box_from_keypoints_margin_motion_and_clipping() -> None:
    tracker = PoseTracker(FixedBoxes([90, 90, 210, 310], [0.9]), box_margin=0.1, motion=0.5)
    boxes, scores, _ = tracker.boxes(IMAGE)
    assert boxes.tolist() == [[90, 90, 210, 310]] and scores.tolist() == pytest.approx([0.9])
    tracker.update(body(100, 100, 200, 300)[None], np.ones((1, 17)))
    # Longer side 200: 20 px more on every side; no motion known yet.
    np.testing.assert_allclose(tracker.boxes(IMAGE)[0], [[80, 80, 220, 320]])
    tracker.update(body(110, 100, 210, 300)[None], np.ones((1, 17)))
    # Moved 10 px right: the next box goes 10 + 0.5 * 10.
    np.testing.assert_allclose(tracker.boxes(IMAGE)[0], [[95, 80, 235, 320]])
    scores = np.ones((1, 17))
    scores[0, 8:] = 0.1  # the first 8 keypoints, a 43.75 x 87.5 box, are confident
    tracker.update(body(110, 100, 210, 300)[None], scores)
    x1, y1, x2, y2 = tracker.boxes(IMAGE)[0][0]
    assert (x2 - x1, y2 - y1) == pytest.approx((43.75 + 17.5, 87.5 + 17.5))
    tracker = PoseTracker(FixedBoxes([500, 300, 600, 400]))
    tracker.boxes(IMAGE)
    tracker.update(body(500, 300, 640, 420)[None], np.ones((1, 17)))
    np.testing.assert_allclose(tracker.boxes(IMAGE)[0], [[486, 286, 600, 400]])  # clipped


@pytest.mark.parametrize('comes_back_at, same_id', [([300, 100, 400, 300], True),
                                                    ([450, 100, 550, 300], False)])
def test_lost_track_redetects_next_frame(comes_back_at: List[float], same_id: bool) -> None:
    people = [[100, 100, 200, 300], [300, 100, 400, 300]]
    det = FixedBoxes(people)
    tracker = PoseTracker(det, redetect_interval=50, kpt_thr=0.3, min_keypoints=3)
    for frame in range(6):
        boxes, _, ids = tracker.boxes(IMAGE)
        scores = np.ones((len(ids), 17))
        if frame == 2:
            scores[1, 2:] = 0.2  # person 1 fades: 2 confident keypoints < min_keypoints
            people = [people[0], comes_back_at]
            det.boxes = np.array(people, np.float32)
        seen = iou_matrix(boxes, people).argmax(1)  # the person in each box
        tracker.update(np.stack([body(*people[i]) for i in seen]), scores)
        assert tracker.track_ids == ([0, 1] if frame < 2 else [0] if frame == 2 else ids.tolist())
        if frame == 3:  # re-detected at once: revived if on its last box, else a new id
            assert ids.tolist() == ([0, 1] if same_id else [0, 2])
    assert tracker.detector_calls == 2  # on frames 0 and 3
    tracker = PoseTracker(FixedBoxes([100, 100, 200, 300]), lost_score=0.5)
    tracker.boxes(IMAGE)
    scores = np.full((1, 17), 0.1)
    scores[0, :6] = 0.9  # 6 confident keypoints but a mean of 0.39
    tracker.update(body(100, 100, 200, 300)[None], scores)
    assert tracker.track_ids == []


@pytest.mark.parametrize('memory, same_id', [(30, True), (2, False)])
def test_lost_track_is_remembered_for_lost_memory_frames(memory: int, same_id: bool) -> None:
    """A person the detector misses for a while after the track was lost comes back with
    the old id when found on the last box within ``lost_memory`` frames."""
    person = [300, 100, 400, 300]
    det = FixedBoxes([person])
    tracker = PoseTracker(det, redetect_interval=1, lost_memory=memory)
    for frame in range(8):
        det.boxes = np.array([person] if frame in (0, 6) else [], np.float32).reshape(-1, 4)
        det.scores = np.ones(len(det.boxes), np.float32)
        boxes, _, ids = tracker.boxes(IMAGE)
        scores = np.ones((len(ids), 17)) if frame != 1 else np.zeros((len(ids), 17))
        tracker.update(np.array([body(*person)] * len(ids)).reshape(-1, 17, 2), scores)
        if frame == 6:  # lost on frame 1, found again on frame 6
            assert ids.tolist() == ([0] if same_id else [1])


def test_bbox_thr_max_people_and_merging() -> None:
    det = FixedBoxes([[0, 0, 50, 100], [100, 0, 150, 100], [200, 0, 250, 100]], [0.6, 0.2, 0.9])
    boxes, scores, ids = PoseTracker(det, bbox_thr=0.5, max_people=1).boxes(IMAGE)
    assert boxes.tolist() == [[200, 0, 250, 100]] and ids.tolist() == [0]
    boxes, scores, ids = PoseTracker(det, bbox_thr=0.5).boxes(IMAGE)
    assert scores.tolist() == pytest.approx([0.9, 0.6]) and ids.tolist() == [0, 1]
    # A body box and a head box (IoU < match_iou) whose crops find the same person: merged.
    tracker = PoseTracker(FixedBoxes([[100, 100, 200, 300], [120, 100, 180, 160]]))
    assert tracker.boxes(IMAGE)[2].tolist() == [0, 1]
    tracker.update(np.stack([body(100, 100, 200, 300)] * 2), np.ones((2, 17)))
    assert tracker.track_ids == [0]
    tracker.boxes(IMAGE)
    assert tracker.detector_calls == 1  # a merge is not a loss


def test_tracker_bad_calls() -> None:
    tracker = PoseTracker(FixedBoxes([100, 100, 200, 300]))
    with pytest.raises(RuntimeError, match='boxes'):
        tracker.update(np.zeros((1, 17, 2)), np.zeros((1, 17)))
    tracker.boxes(IMAGE)
    with pytest.raises(ValueError, match='keypoints'):
        tracker.update(np.zeros((2, 17, 2)), np.zeros((2, 17)))
    with pytest.raises(ValueError, match='keypoint_scores'):
        tracker.update(np.zeros((1, 17, 2)), np.zeros((1, 16)))
    with pytest.raises(ValueError, match='2 boxes but 3 scores'):
        PoseTracker(lambda image: (np.array([[0, 0, 1, 1]] * 2), np.ones(3))).boxes(IMAGE)


def test_bundled_boxes_are_the_clips_ground_truth(clip_gt: dict) -> None:
    """samples/video/pan_zoom_196141.boxes.json: the clip's people at least half in view,
    as COCO detections per frame (what make_clip writes beside a new clip)."""
    boxes = json.loads(CLIP.with_name('pan_zoom_196141.boxes.json').read_text())
    assert boxes == load_make_clip().gt_detections(clip_gt)
    per_frame = [sum(p['bbox'] is not None and p['visible_fraction'] >= 0.5
                     for p in f['people']) for f in clip_gt['per_frame']]
    assert len(boxes) == sum(per_frame) and max(per_frame) >= 4


def test_video_with_per_frame_boxes_tracks(pose_onnx: str, tmp_path: Path) -> None:
    """A video's --bboxes with COCO detections (image_id = frame index) stands in for the
    detector: every frame's people, ids from the tracker."""
    from litehrnet_runtime import cli
    from litehrnet_runtime.boxes import BoxesFile, FrameBoxes
    boxes = CLIP.with_name('pan_zoom_196141.boxes.json')
    argv = [str(CLIP), '--pose2d', pose_onnx, '--bboxes', str(boxes), '--pred-out-dir',
            str(tmp_path), '--threads', '1', '--quiet', '--no-flip-test', '--kpt-thr', '0']
    assert cli.main(argv) == 0
    result = json.loads((tmp_path / 'pan_zoom_196141.json').read_text())
    frames = result['frames']
    assert result['complete'] and result['meta']['detector'] == f'--bboxes {boxes}'
    assert len(frames) == 90 and sum(len(f['people']) for f in frames) > 0
    assert all(p['track_id'] is not None for f in frames for p in f['people'])
    plain = tmp_path / 'plain.json'
    plain.write_text('[[0, 0, 10, 10]]')
    with pytest.raises(ValueError, match='COCO detections'):
        FrameBoxes(BoxesFile(str(plain)))
