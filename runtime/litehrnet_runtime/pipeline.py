"""Image or frame in, people with keypoints out: a detector (or a tracker) and a pose
backend behind one call.

    from litehrnet_runtime import PoseEstimator
    pose = PoseEstimator('litehrnet_18_coco.onnx')          # OpenCV's HOG finds people
    for person in pose(cv2.imread('photo.jpg')):
        print(person.bbox, person.keypoints, person.keypoint_scores)

For video, ``PoseEstimator(..., track=True)`` keeps people between frames (their boxes
come from the last keypoints; the detector runs every ``redetect_interval`` frames or
when a track is lost) and sets ``Person.track_id``.
"""
import time
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np

from .backends import open_backend
from .boxes import check_image
from .detect import build_detector
from .topdown import TopDownEstimator
from .track import PoseTracker
from .types import Person

Detector = Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray]]


class PoseEstimator:
    """Top-down pose estimation on whole images.

    Args:
        model: An exported file (``.onnx``, or OpenVINO ``.xml``) or a backend object with
            ``run`` and ``meta`` (litehrnet_mmpose's ``TorchBackend``).
        detector: ``'hog'`` (OpenCV's people detector, offline), ``'whole-image'``, or a
            callable image -> (boxes (N, 4) xyxy, scores (N,)).
        backend / threads: for a file: ``auto``, ``onnxruntime`` or ``openvino``.
        flip_test: None follows the exported test config.
        bbox_thr: detections below this score are dropped.
        max_people: keep at most this many boxes, highest scores first (None: all).
        track / redetect_interval: video mode (see the module docstring).
        precision: OpenVINO's inference precision, ``f32`` or ``bf16`` (see
            :data:`~.backends.PRECISIONS`).
    """

    def __init__(self, model: Union[str, Any], detector: Union[str, Detector] = 'hog',
                 backend: str = 'auto', threads: Optional[int] = None,
                 flip_test: Optional[bool] = None, bbox_thr: float = 0.3,
                 max_people: Optional[int] = None, track: bool = False,
                 redetect_interval: int = 10, kpt_thr: float = 0.3,
                 precision: str = 'f32') -> None:
        self.backend = open_backend(model, backend, threads, precision) if isinstance(
            model, str) else model
        if not (hasattr(self.backend, 'run') and hasattr(self.backend, 'meta')):
            raise TypeError(f'model: expected an exported file path or a backend with run() '
                            f'and meta, got {type(model).__name__}')
        self.detector = build_detector(detector) if isinstance(detector, str) else detector
        if not callable(self.detector):
            raise TypeError(f'detector: expected a name or a callable, got {detector!r}')
        if not 0 <= bbox_thr <= 1:
            raise ValueError(f'bbox_thr: expected a score in [0, 1], got {bbox_thr!r}')
        if max_people is not None and (not isinstance(max_people, int) or max_people < 1):
            raise ValueError(f'max_people: expected a positive int or None, got '
                             f'{max_people!r}')
        self.estimator = TopDownEstimator(self.backend, flip_test)
        self.meta = self.backend.meta
        self.bbox_thr = bbox_thr
        self.max_people = max_people
        self.timings = {'detect': 0., 'pose': 0.}  # seconds spent, summed over calls
        self._track_args = dict(redetect_interval=redetect_interval, kpt_thr=kpt_thr)
        self.tracker = PoseTracker(self._detect, **self._track_args) if track else None

    def _detect(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        start = time.perf_counter()
        boxes, scores = self.detector(image)
        self.timings['detect'] += time.perf_counter() - start
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        keep = np.flatnonzero(scores >= self.bbox_thr)
        keep = keep[np.argsort(-scores[keep], kind='stable')][:self.max_people]
        return boxes[keep], scores[keep]

    def __call__(self, image: np.ndarray,
                 boxes: Optional[np.ndarray] = None) -> List[Person]:
        """The people in ``image`` (H x W x 3 uint8 BGR): in ``boxes`` (N, 4) xyxy if given,
        else found by the tracker (video mode) or the detector."""
        image = check_image(image)
        ids = None
        if boxes is not None:
            scores = None
        elif self.tracker is None:
            boxes, scores = self._detect(image)
        else:
            boxes, scores, ids = self.tracker.boxes(image)
        start = time.perf_counter()
        people = self.estimator.people(image, boxes, scores, ids)
        self.timings['pose'] += time.perf_counter() - start
        if ids is None:
            return people
        self.tracker.update(np.stack([p.keypoints for p in people]) if people else
                            np.zeros((0, self.estimator.num_keypoints, 2), np.float32),
                            np.stack([p.keypoint_scores for p in people]) if people else
                            np.zeros((0, self.estimator.num_keypoints), np.float32))
        return people

    def reset(self) -> None:
        """Forget the tracks (a new video)."""
        if self.tracker is not None:
            self.tracker = PoseTracker(self._detect, **self._track_args)
