"""The records that every stage of the runtime passes on: one person, one frame."""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np


@dataclass
class Person:
    """One person in one image: a box and its keypoints, in image pixels.

    ``bbox`` is (4,) float32 ``[x1, y1, x2, y2]``; ``keypoints`` (K, 2) float32 ``x, y``;
    ``keypoint_scores`` (K,) float32 (the heatmap maxima); ``track_id`` is set by the
    video tracker (None for still images).
    """
    bbox: np.ndarray
    bbox_score: float
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    track_id: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready, with MMPose inferencer's field names (plus ``track_id``)."""
        return dict(bbox=[round(float(v), 2) for v in self.bbox],
                    bbox_score=round(float(self.bbox_score), 5),
                    keypoints=[[round(float(x), 2), round(float(y), 2)]
                               for x, y in self.keypoints],
                    keypoint_scores=[round(float(s), 5) for s in self.keypoint_scores],
                    track_id=self.track_id)


@dataclass
class Frame:
    """One image of an input: ``index`` counts from 0 over the images / decoded frames,
    ``name`` is the file name (images) or ``frame_000123`` (video, webcam), ``image`` an
    H x W x 3 uint8 BGR array, ``time_s`` the frame's timestamp (video) or None."""
    index: int
    name: str
    image: np.ndarray
    time_s: Optional[float] = None
    people: List[Person] = field(default_factory=list)
