"""Person detectors for top-down pose estimation, and the box helpers they share.

Every detector is a callable ``detector(image) -> (boxes, scores)``: ``image`` an
H x W x 3 uint8 BGR array, ``boxes`` (N, 4) float32 ``[x1, y1, x2, y2]`` in image pixels,
``scores`` (N,) float32 in [0, 1]. The pose model then estimates keypoints inside each box.

* :class:`HOGPersonDetector`: OpenCV's HOG + linear SVM people detector (built into OpenCV
  4.x, nothing to download). Dependency-free but weak: trained on upright, unoccluded
  pedestrians, it misses sitting, crouching, cut-off and large close-up people and fires on
  clutter. Measured on the bundled samples (defaults): 2 of the 14 COCO people found at
  IoU >= 0.5 (4 at 0.3) with 5 false positives, 1 of the 5 MPII people.
* :class:`WholeImageDetector`: one box, the whole image (a crop that shows one person).
* :class:`FixedBoxes`: the same user-given boxes for every image.
"""
from typing import Any, Optional, Sequence, Tuple

import cv2
import numpy as np

from .boxes import check_boxes, check_image

Detections = Tuple[np.ndarray, np.ndarray]

_HOG_WINDOW = (64, 128)  # width, height of the default people detector's window


def _empty() -> Detections:
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), xyxy: (N, M) float32."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return (inter / np.maximum(union, 1e-9)).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Indices of the boxes that greedy non-maximum suppression keeps, best score first."""
    order = np.argsort(-np.asarray(scores, np.float32), kind='stable')
    ious = iou_matrix(boxes, boxes)
    suppressed = np.zeros(len(order), bool)
    keep = []
    for i in order:
        if not suppressed[i]:
            keep.append(i)
            suppressed |= ious[i] > iou_thr
    return np.asarray(keep, np.int64)


def box_recall(pred_boxes: np.ndarray, gt_boxes: np.ndarray,
               iou_thr: float = 0.5) -> Tuple[int, int, int]:
    """(matched ground-truth boxes, ground-truth boxes, false positives) at IoU >= ``iou_thr``.

    Pairs are matched one-to-one, highest IoU first; unmatched predictions are the false
    positives (on images whose people are not all annotated, they are an upper bound).
    """
    if not 0.0 < iou_thr <= 1.0:
        raise ValueError(f'iou_thr: expected a value in (0, 1], got {iou_thr!r}')
    pred = check_boxes(pred_boxes, 'pred_boxes')
    gt = check_boxes(gt_boxes, 'gt_boxes')
    ious = iou_matrix(pred, gt)
    matched = 0
    while ious.size and ious.max() >= iou_thr:
        p, g = np.unravel_index(int(np.argmax(ious)), ious.shape)
        ious[p, :] = -1
        ious[:, g] = -1
        matched += 1
    return matched, len(gt), len(pred) - matched


def _int_pair(value: Any, name: str, low: int) -> Tuple[int, int]:
    try:
        pair = tuple(int(v) for v in value)
        ok = len(pair) == 2 and all(p == v and p >= low for p, v in zip(pair, value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f'{name}: expected two ints >= {low}, got {value!r}')
    return pair


class HOGPersonDetector:
    """OpenCV's HOG + linear SVM people detector (``HOGDescriptor_getDefaultPeopleDetector``).

    ``win_stride``, ``padding``, ``scale`` (pyramid step) and ``hit_threshold`` (minimum SVM
    margin) go to ``detectMultiScale``, which returns every window above the threshold (no
    OpenCV grouping: on the samples its grouping dropped more people than it saved false
    positives); overlapping windows are merged by NMS at ``nms_iou``. The image is resized by
    ``upscale`` first: the window is 64 x 128 px, so people shorter than ~96 / ``upscale`` px
    are missed (1.5 on the COCO samples: 3 people instead of 2 at IoU 0.5, for 2.6x the
    false positives and 2.3x the time).

    The detection windows hold the person with the INRIA training margin (16 px of the
    64 x 128 window on each side); ``shrink`` (fractions of width, height per side) cuts it.
    The default cuts half (8 px a side), as COCO-style person boxes include outstretched
    arms, legs and bats (cutting more matched no more people; the pose model pads the box
    anyway). On the bundled photos and every 10th frame of the bundled clip, people found
    at IoU >= 0.5: 9 of 42 with the default, 5 without cutting.
    Score = logistic(SVM margin): 0.5 at ``hit_threshold`` 0, so every detection of the
    default settings scores >= 0.5, and a bbox threshold of 0.6 keeps the confident windows
    only (on the COCO samples: 2 people found at IoU >= 0.3 and no false positive, against
    4 and 3 at threshold 0.5).
    """

    def __init__(self, win_stride: Tuple[int, int] = (8, 8), padding: Tuple[int, int] = (16, 16),
                 scale: float = 1.05, hit_threshold: float = 0.0, upscale: float = 1.0,
                 nms_iou: float = 0.3, shrink: Tuple[float, float] = (0.125, 0.0625)) -> None:
        self.win_stride = _int_pair(win_stride, 'win_stride', 1)
        self.padding = _int_pair(padding, 'padding', 0)
        if not 1.0 < scale <= 2.0:
            raise ValueError(f'scale: expected a pyramid step in (1, 2], got {scale!r}')
        if not np.isfinite(hit_threshold):
            raise ValueError(f'hit_threshold: expected a finite SVM margin, got '
                             f'{hit_threshold!r}')
        if not 0.25 <= upscale <= 4.0:
            raise ValueError(f'upscale: expected a factor in [0.25, 4], got {upscale!r}')
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f'nms_iou: expected an IoU in (0, 1], got {nms_iou!r}')
        if len(tuple(shrink)) != 2 or not all(0.0 <= s < 0.5 for s in shrink):
            raise ValueError(f'shrink: expected two fractions in [0, 0.5), got {shrink!r}')
        if not hasattr(cv2, 'HOGDescriptor'):
            raise RuntimeError(
                f"detector 'hog': OpenCV {cv2.__version__} has no HOGDescriptor (OpenCV 5 "
                "moved HOG out of its main modules); install 'opencv-python-headless<5', or "
                "give person boxes, or use detector 'whole-image'")
        self.scale = float(scale)
        self.hit_threshold = float(hit_threshold)
        self.upscale = float(upscale)
        self.nms_iou = float(nms_iou)
        self.shrink = (float(shrink[0]), float(shrink[1]))
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def __call__(self, image: np.ndarray) -> Detections:
        """People in ``image``: (boxes (N, 4) float32 xyxy, scores (N,) float32), best first."""
        h, w = check_image(image).shape[:2]
        work = image
        if self.upscale != 1.0:
            work = cv2.resize(image, (round(w * self.upscale), round(h * self.upscale)),
                              interpolation=cv2.INTER_LINEAR)
        if work.shape[0] < _HOG_WINDOW[1] or work.shape[1] < _HOG_WINDOW[0]:
            return _empty()
        rects, weights = self._hog.detectMultiScale(
            work, hitThreshold=self.hit_threshold, winStride=self.win_stride,
            padding=self.padding, scale=self.scale, groupThreshold=0)
        if len(rects) == 0:
            return _empty()
        rects = np.asarray(rects, np.float32).reshape(-1, 4) / self.upscale
        cut = np.array(self.shrink, np.float32) * rects[:, 2:]
        boxes = np.concatenate([rects[:, :2] + cut, rects[:, :2] + rects[:, 2:] - cut], 1)
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        margins = np.asarray(weights, np.float64).reshape(-1)
        scores = (1.0 / (1.0 + np.exp(-margins))).astype(np.float32)
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores = boxes[valid], scores[valid]
        keep = nms(boxes, scores, self.nms_iou)
        return boxes[keep], scores[keep]


class WholeImageDetector:
    """One box covering the whole image, score 1: for crops that show a single person."""

    def __call__(self, image: np.ndarray) -> Detections:
        """``[[0, 0, W, H]]`` and ``[1.0]``."""
        h, w = check_image(image).shape[:2]
        return np.array([[0, 0, w, h]], np.float32), np.ones((1,), np.float32)


class FixedBoxes:
    """The same user-given ``boxes`` (N, 4) xyxy for every image, with ``scores`` (default 1)."""

    def __init__(self, boxes: Any, scores: Optional[Sequence[float]] = None) -> None:
        self.boxes = check_boxes(boxes)
        if scores is None:
            self.scores = np.ones((len(self.boxes),), np.float32)
        else:
            self.scores = np.asarray(scores, np.float32).reshape(-1)
            if (len(self.scores) != len(self.boxes) or not np.isfinite(self.scores).all()
                    or ((self.scores < 0) | (self.scores > 1)).any()):
                raise ValueError(f'scores: expected {len(self.boxes)} scores in [0, 1], got '
                                 f'{np.asarray(scores).tolist()}')

    def __call__(self, image: np.ndarray) -> Detections:
        """Copies of the fixed boxes and scores (``image`` is only checked)."""
        check_image(image)
        return self.boxes.copy(), self.scores.copy()


DETECTORS = {'hog': HOGPersonDetector, 'whole-image': WholeImageDetector}


def build_detector(name: str, **kwargs: Any) -> Any:
    """A detector by name: ``'hog'`` (keyword arguments go to :class:`HOGPersonDetector`) or
    ``'whole-image'`` (takes none)."""
    if name not in DETECTORS:
        raise ValueError(f'detector: expected one of {sorted(DETECTORS)}, got {name!r}')
    return DETECTORS[name](**kwargs)
