"""Person boxes: checked arrays, and boxes files (mmdet-style lists or COCO detections).

Shared by the torch-free runtime and litehrnet_mmpose's tools (``tools/demo.py``,
``tools/inference.py --bboxes``); numpy and the standard library only.
"""
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

import numpy as np


def check_image(img: object, name: str = 'image') -> np.ndarray:
    """An H x W x 3 uint8 BGR array (what OpenCV / ``mmcv.imread`` return), or a
    TypeError / ValueError saying what was passed instead."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{name}: expected a file path or an H x W x 3 uint8 numpy array, got '
                        f'{type(img).__name__}')
    if img.dtype != np.uint8:
        raise TypeError(f'{name}: expected dtype uint8 (0-255, as cv2.imread returns), got '
                        f'{img.dtype}; for a float image in [0, 1] pass '
                        '(img * 255).round().astype(np.uint8)')
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{name}: expected H x W x 3 (BGR), got shape {img.shape}; convert '
                         'grey or BGRA images with cv2.cvtColor first')
    if min(img.shape[:2]) < 1:
        raise ValueError(f'{name}: empty image, shape {img.shape}')
    return img


def check_boxes(boxes: Any, name: str = 'boxes') -> np.ndarray:
    """``boxes`` as (N, 4) float32 xyxy, finite with x1 < x2 and y1 < y2, else ValueError."""
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.ndim == 1 and arr.size == 4:
        arr = arr[None]
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f'{name}: expected shape (N, 4) as [x1, y1, x2, y2], got {arr.shape}')
    bad = ~np.isfinite(arr).all(1) | (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f'{name}[{i}]: expected finite [x1, y1, x2, y2] with x1 < x2 and '
                         f'y1 < y2, got {arr[i].tolist()}')
    return arr


def check_bboxes(bboxes: np.ndarray, shape: Tuple[int, ...], name: str = 'bboxes') -> None:
    """Person boxes: (N, 4) finite x1 < x2, y1 < y2 (:func:`check_boxes`), each overlapping
    the image."""
    if bboxes.ndim != 2 or bboxes.shape[1] != 4:
        raise ValueError(f'{name}: expected shape (N, 4) as [x1, y1, x2, y2], got '
                         f'{bboxes.shape}')
    check_boxes(bboxes, name)
    h, w = shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(bboxes.tolist()):
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise ValueError(f'{name}[{i}]: {[x1, y1, x2, y2]} lies outside the {w}x{h} '
                             'image')


def _xyxy_scores(records: List[dict]) -> Tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) xyxy and scores (N, ) of COCO detection records (score 1 if none)."""
    boxes = np.array([d['bbox'] for d in records], dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes, np.array([d.get('score', 1.0) for d in records], dtype=np.float32)


class BoxesFile:
    """A person boxes JSON file, read and checked once, then asked per image.

    Accepts a list of ``[x1, y1, x2, y2]`` or ``[x1, y1, x2, y2, score]`` boxes (as mmdet
    writes them; the same boxes for every image), or COCO detection records (``{"image_id",
    "bbox": [x, y, w, h], "score"}``, as in the official
    ``COCO_val2017_detections_AP_H_56_person.json``), indexed by image id and picked for
    the image whose COCO id is the image file's numeric name.
    """

    def __init__(self, path: str) -> None:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, list) or not data:
            raise ValueError(f'--bboxes {path}: expected a non-empty JSON list of boxes, got '
                             f'{data!r:.80}; without --bboxes the whole image is one person')
        self.path = path
        self.by_id: Optional[Dict[Any, List[dict]]] = None
        if isinstance(data[0], dict):
            self.by_id = {}
            for i, d in enumerate(data):
                if not isinstance(d, dict) or len(d.get('bbox') or ()) != 4:
                    raise ValueError(f'--bboxes {path}: record {i} is not a COCO detection '
                                     f'{{"image_id", "bbox": [x, y, w, h], "score"}}: '
                                     f'{d!r:.120}')
                self.by_id.setdefault(d.get('image_id'), []).append(d)
            return
        try:
            rows = np.array(data, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(f'--bboxes {path}: expected [[x1, y1, x2, y2(, score)], ...] '
                             f'of numbers: {e}') from e
        if rows.ndim != 2 or rows.shape[1] not in (4, 5):
            raise ValueError(f'--bboxes {path}: expected [[x1, y1, x2, y2], ...] or '
                             f'[[x1, y1, x2, y2, score], ...], got shape {rows.shape}')
        self.rows = rows

    def _records(self, image: str) -> List[dict]:
        """The COCO records of ``image`` (by its numeric file name, or the file's only
        image); records without an image_id belong to every image."""
        assert self.by_id is not None
        path, stem = self.path, osp.splitext(osp.basename(image))[0]
        anywhere = self.by_id.get(None, [])
        ids = sorted(k for k in self.by_id if k is not None)
        if stem.isdigit():
            records = self.by_id.get(int(stem), []) + anywhere
            if not records:
                raise ValueError(f'--bboxes {path}: no detection has image_id {int(stem)} '
                                 f'(the image file name {osp.basename(image)!r}); the file '
                                 f'has {len(ids)} image id(s), e.g. {ids[:5]}')
            return records
        if len(ids) > 1:
            raise ValueError(f'--bboxes {path}: detections of {len(ids)} images (ids '
                             f'{ids[:5]}{"..." if len(ids) > 5 else ""}), and the image file '
                             f'name {osp.basename(image)!r} is not a COCO id to pick them by; '
                             'name the image after its id (e.g. 000000000785.jpg) or pass '
                             "that image's boxes as [[x1, y1, x2, y2], ...]")
        return [d for records in self.by_id.values() for d in records]

    def boxes(self, image: str, score_thr: float = 0.3) -> np.ndarray:
        """The boxes (N, 4) xyxy of ``image`` (a file name or path) with ``score >=
        score_thr``; a ValueError when none is left (rather than silently no person)."""
        if self.by_id is not None:
            boxes, scores = _xyxy_scores(self._records(image))
        else:
            boxes = self.rows[:, :4]
            scores = self.rows[:, 4] if self.rows.shape[1] == 5 else np.ones(
                len(self.rows), np.float32)
        keep = scores >= score_thr
        if not keep.any():
            raise ValueError(f'--bboxes {self.path}: none of the {len(boxes)} box(es) for '
                             f'this image has a score >= --bbox-thr {score_thr:g} (the '
                             f'highest is {scores.max():.3f}); lower --bbox-thr')
        return boxes[keep]


class FrameBoxes:
    """A detector that gives, for video frame ``position`` (set it before each call), the
    COCO detections of a :class:`BoxesFile` whose ``image_id`` is that frame's index: known
    per-frame boxes (another detector's, or a clip's ground truth) in place of a detector,
    with tracking still on. A frame without records has no people."""

    def __init__(self, boxes_file: BoxesFile, score_thr: float = 0.3) -> None:
        if boxes_file.by_id is None:
            raise ValueError(f'--bboxes {boxes_file.path}: a video takes COCO detections '
                             '({"image_id": frame index, "bbox": [x, y, w, h], "score"}); a '
                             'plain list of boxes is the same for every frame')
        self.file, self.score_thr, self.position = boxes_file, score_thr, 0

    def __call__(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Boxes (N, 4) xyxy and scores (N, ) of frame ``self.position``."""
        check_image(image)
        boxes, scores = _xyxy_scores(self.file.by_id.get(self.position, []) +
                                     self.file.by_id.get(None, []))
        keep = scores >= self.score_thr
        return boxes[keep], scores[keep]


def load_bboxes(path: str, image: str, score_thr: float = 0.3) -> np.ndarray:
    """Person boxes (N, 4) xyxy of ``image`` from the JSON file ``path`` with ``score >=
    score_thr`` (:class:`BoxesFile`; a ValueError when none is left)."""
    return BoxesFile(path).boxes(image, score_thr)
