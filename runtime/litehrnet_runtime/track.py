"""Top-down pose tracking for video: each frame's boxes come from the last frame's keypoints.

Two calls a frame, in this order::

    tracker = PoseTracker(detector)
    for image in frames:
        boxes, scores, ids = tracker.boxes(image)      # may run the detector
        keypoints, keypoint_scores = pose_model(image, boxes)   # (N, K, 2), (N, K)
        tracker.update(keypoints, keypoint_scores)     # same order as ``boxes``

The detector runs on the first frame, when ``redetect_interval`` frames have passed since it
last ran, on the frame after a track was lost, and whenever there is no track. Its boxes are
matched to the tracks by IoU (greedy, best pair first): a matched track keeps its id and
takes the detection's box (re-anchoring any drift), an unmatched detection starts a new id,
and an unmatched track keeps following its keypoints (weak detectors miss people the pose
model still sees). Between detections a track's box is the bounding box of its confident
keypoints, enlarged by ``box_margin`` and shifted by ``motion`` times the box centre's last
one-frame displacement (a damped constant-velocity guess, so fast pans at 30 fps keep the
person inside the crop). A track is lost (dropped; the next frame re-detects) when too few
of its keypoints are confident or their mean score is low (a new detection that fails so on
its first frame is dropped as a false positive, without re-detecting). A lost track is
remembered for ``lost_memory`` frames: a detection on its last box in that time brings it
back with its id (people at the frame's edge, or that the pose model misses for a few
frames, flicker in and out).
Two tracks that converge on the same person are merged into the older one. Otherwise ids
are never reused.
"""
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from .boxes import check_boxes, check_image
from .detect import iou_matrix

Detector = Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray]]
# Tracks whose confident keypoints lie this close (median, as a fraction of the box's longer
# side) are the same person: top-down models find one person in two overlapping crops.
_SAME_PERSON_DIST = 0.05


class _Track:
    def __init__(self, track_id: int, box: np.ndarray, score: float) -> None:
        self.id = track_id
        self.box = box
        self.score = score
        self.centre: Optional[np.ndarray] = None  # of the last keypoint box
        self.velocity = np.zeros(2, np.float32)
        self.keypoints: Optional[np.ndarray] = None  # confident ones, NaN elsewhere
        self.lost_at = -1  # the frame it was lost on (while remembered)


def _fraction(value: Any, name: str, low_open: bool = False, high: float = 1.0) -> float:
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not ok or not ((0 < value) if low_open else (0 <= value)) or not value <= high:
        raise ValueError(f'{name}: expected a number in {"(" if low_open else "["}0, {high}], '
                         f'got {value!r}')
    return float(value)


def _count(value: Any, name: str, allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f'{name}: expected an int >= 1{" or None" if allow_none else ""}, '
                         f'got {value!r}')
    return int(value)


class PoseTracker:
    """Boxes for each video frame from the last keypoints, with stable track ids.

    Args:
        detector: ``detector(image) -> (boxes (N, 4) xyxy, scores (N,))``.
        redetect_interval: run the detector at least every this many frames.
        kpt_thr: keypoints scoring at least this are confident (they make the next box).
        min_keypoints: a track with fewer confident keypoints is lost.
        lost_score: a track whose mean keypoint score (over all K) is below this is lost.
        box_margin: added on every side of the confident keypoints' box, as a fraction of
            its longer side. 0.1 makes it about a person box: on the bundled COCO people the
            annotated box extends 0.08 (sides) to 0.13 (top: head above the eyes) of the
            keypoint box's height beyond it. The pose model then pads it by 1.25 as usual.
        match_iou: a detection matches a track at IoU >= this.
        max_people: at most this many tracks (highest-scoring detections first).
        bbox_thr: detections scoring below this are ignored.
        motion: fraction of the last one-frame displacement added to the next box (0..1).
        lost_memory: frames a lost track is remembered, to come back with its id when a
            detection matches its last box.
    """

    def __init__(self, detector: Detector, redetect_interval: int = 10, kpt_thr: float = 0.3,
                 min_keypoints: int = 3, lost_score: float = 0.2, box_margin: float = 0.1,
                 match_iou: float = 0.3, max_people: Optional[int] = None,
                 bbox_thr: float = 0.0, motion: float = 0.5, lost_memory: int = 30) -> None:
        if not callable(detector):
            raise TypeError(f'detector: expected a callable, got {detector!r}')
        self.detector = detector
        self.redetect_interval = _count(redetect_interval, 'redetect_interval')
        self.kpt_thr = _fraction(kpt_thr, 'kpt_thr')
        self.min_keypoints = _count(min_keypoints, 'min_keypoints')
        self.lost_score = _fraction(lost_score, 'lost_score')
        self.box_margin = _fraction(box_margin, 'box_margin', high=2.0)
        self.match_iou = _fraction(match_iou, 'match_iou', low_open=True)
        self.max_people = _count(max_people, 'max_people', allow_none=True)
        self.bbox_thr = _fraction(bbox_thr, 'bbox_thr')
        self.motion = _fraction(motion, 'motion')
        self.lost_memory = _count(lost_memory, 'lost_memory')
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (a new video); ids start again from 0."""
        self._tracks: List[_Track] = []
        self._lost_tracks: List[_Track] = []  # remembered for lost_memory frames
        self._next_id = 0
        self._frame = -1
        self._last_detect: Optional[int] = None
        self._lost = False
        self._shape: Optional[Tuple[int, int]] = None
        self._pending: Optional[List[_Track]] = None
        self._detector_calls = 0

    @property
    def detector_calls(self) -> int:
        """How many times the detector has run."""
        return self._detector_calls

    @property
    def track_ids(self) -> List[int]:
        """Ids of the live tracks (after the last ``update()``), ascending."""
        return [t.id for t in self._tracks]

    @property
    def frame_index(self) -> int:
        """Index of the frame of the last ``boxes()`` call (-1 before the first)."""
        return self._frame

    def _due(self) -> bool:
        return (self._last_detect is None or not self._tracks or self._lost
                or self._frame - self._last_detect >= self.redetect_interval)

    def _detect(self, image: np.ndarray) -> None:
        self._detector_calls += 1
        self._last_detect = self._frame
        boxes, scores = self.detector(image)
        boxes = check_boxes(boxes, 'detector boxes')
        scores = np.asarray(scores, np.float32).reshape(-1)
        if len(scores) != len(boxes):
            raise ValueError(f'detector: returned {len(boxes)} boxes but {len(scores)} scores')
        h, w = self._shape
        boxes = np.clip(boxes, 0, [w, h, w, h])
        inside = (boxes[:, 2:] - boxes[:, :2] >= 1).all(1)
        keep = np.flatnonzero((scores >= self.bbox_thr) & inside)
        keep = keep[np.argsort(-scores[keep], kind='stable')]
        boxes, scores = boxes[keep], scores[keep]
        taken = np.zeros(len(boxes), bool)
        self._match(self._tracks, boxes, scores, taken)
        # A track lost in the last lost_memory frames that the detector sees again keeps
        # its id (the most recently lost first).
        self._lost_tracks = sorted((t for t in self._lost_tracks
                                    if self._frame - t.lost_at <= self.lost_memory),
                                   key=lambda t: -t.lost_at)
        revived = self._match(self._lost_tracks, boxes, scores, taken)
        if self.max_people is not None:
            revived = revived[:max(self.max_people - len(self._tracks), 0)]
        self._tracks = sorted(self._tracks + revived, key=lambda t: t.id)
        self._lost_tracks = [t for t in self._lost_tracks if not any(t is r for r in revived)]
        for d in np.flatnonzero(~taken):
            if self.max_people is not None and len(self._tracks) >= self.max_people:
                break
            self._tracks.append(_Track(self._next_id, boxes[d], float(scores[d])))
            self._next_id += 1

    def _match(self, tracks: List[_Track], boxes: np.ndarray, scores: np.ndarray,
               taken: np.ndarray) -> List[_Track]:
        """Give each track its best free detection at IoU >= match_iou (greedy, best pair
        first), marking it ``taken``; return the matched tracks."""
        ious = iou_matrix(np.array([t.box for t in tracks]).reshape(-1, 4), boxes)
        ious[:, taken] = -1
        matched = []
        while ious.size and ious.max() >= self.match_iou:
            t, d = np.unravel_index(int(np.argmax(ious)), ious.shape)
            tracks[t].box, tracks[t].score = boxes[d], float(scores[d])
            taken[d] = True
            ious[t, :], ious[:, d] = -1, -1
            matched.append(tracks[t])
        return matched

    def boxes(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes to estimate poses in for this frame: (boxes (N, 4) float32 xyxy, box scores
        (N,) float32, track ids (N,) int64), ordered by id. Runs the detector when due.

        A box score is that of the detection that last matched the track."""
        self._shape = check_image(image).shape[:2]
        self._frame += 1
        if self._due():
            self._detect(image)
        self._lost = False
        self._pending = list(self._tracks)
        return (np.array([t.box for t in self._tracks], np.float32).reshape(-1, 4),
                np.array([t.score for t in self._tracks], np.float32),
                np.array([t.id for t in self._tracks], np.int64))

    def _keypoint_box(self, track: _Track, pts: np.ndarray) -> Optional[np.ndarray]:
        lo, hi = pts.min(0), pts.max(0)
        centre = (lo + hi) / 2
        if track.centre is not None:
            track.velocity = (centre - track.centre).astype(np.float32)
        track.centre = centre
        half = (hi - lo) / 2 + self.box_margin * float((hi - lo).max())
        centre = centre + self.motion * track.velocity
        h, w = self._shape
        box = np.clip(np.concatenate([centre - half, centre + half]), 0, [w, h, w, h])
        return box.astype(np.float32) if (box[2:] - box[:2] >= 1).all() else None

    def update(self, keypoints: np.ndarray, keypoint_scores: np.ndarray) -> None:
        """Keypoints (N, K, 2) and their scores (N, K) found in this frame's boxes, in the
        order ``boxes()`` returned them: they make each track's box for the next frame."""
        if self._pending is None:
            raise RuntimeError('update: call boxes(image) for the frame first')
        n = len(self._pending)
        kpts = np.asarray(keypoints, np.float32)
        scores = np.asarray(keypoint_scores, np.float32)
        if kpts.ndim != 3 or kpts.shape[0] != n or kpts.shape[2] != 2:
            raise ValueError(f'keypoints: expected shape ({n}, K, 2) for the {n} boxes of this '
                             f'frame, got {kpts.shape}')
        if scores.shape != kpts.shape[:2]:
            raise ValueError(f'keypoint_scores: expected shape {kpts.shape[:2]}, got '
                             f'{scores.shape}')
        kept: List[_Track] = []
        for track, pts, sc in zip(self._pending, kpts, scores):
            sc = np.where(np.isfinite(sc), sc, 0)
            conf = (sc >= self.kpt_thr) & np.isfinite(pts).all(1)
            box = None
            if conf.sum() >= self.min_keypoints and sc.mean() >= self.lost_score:
                box = self._keypoint_box(track, pts[conf])
            if box is None and track.keypoints is None:
                # a fresh (or revived) detection the pose model rejects (clutter): not a
                # loss, or a detector that keeps firing on it would run on every frame; a
                # revived track stays remembered from when it was first lost
                if track.lost_at >= 0:
                    self._lost_tracks.append(track)
                continue
            if box is None:
                self._lost = True
                track.centre, track.keypoints = None, None
                track.velocity[:] = 0
                track.lost_at = self._frame
                self._lost_tracks.append(track)
                continue
            track.box, track.lost_at = box, -1
            track.keypoints = np.where(conf[:, None], pts, np.nan)
            if not any(_same_person(track, other) for other in kept):
                kept.append(track)
        self._tracks = kept
        self._pending = None


def _same_person(a: _Track, b: _Track) -> bool:
    """Whether two tracks follow one person: their jointly confident keypoints coincide."""
    both = np.isfinite(a.keypoints).all(1) & np.isfinite(b.keypoints).all(1)
    if both.sum() < 2:
        return False
    dist = np.linalg.norm(a.keypoints[both] - b.keypoints[both], axis=1)
    size = float(max((a.box[2:] - a.box[:2]).max(), (b.box[2:] - b.box[:2]).max()))
    return float(np.median(dist)) < _SAME_PERSON_DIST * size
