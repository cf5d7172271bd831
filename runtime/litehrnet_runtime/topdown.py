"""Top-down heatmap pose estimation around any backend, in numpy and OpenCV.

Written out here (not imported from MMPose) because this runtime must run without torch
and OpenMMLab; each step follows MMPose 1.3's own so that the keypoints agree with
``mmpose.apis.inference_topdown`` (tests/test_runtime_parity.py):

- box -> centre and scale padded by 1.25 (``GetBBoxCenterScale``), the scale widened to
  the input's aspect ratio (``TopdownAffine._fix_aspect_ratio``), the affine warp of
  ``get_warp_matrix`` (rotation 0, no UDP) with bilinear ``cv2.warpAffine``;
- BGR -> RGB as the model's data preprocessor says, ``(x - mean) / std``;
- flip test: the crops flipped horizontally, their heatmaps flipped back, keypoint
  channels swapped by ``flip_indices`` and shifted one pixel right (``flip_heatmaps``),
  averaged with the unflipped heatmaps;
- ``MSRAHeatmap.decode``: the arg-max, then the quarter-pixel shift towards the higher
  neighbour (``refine_keypoints``) or DARK refinement (``unbiased``), scaled to the input;
- input -> image: ``kpt / input_size * scale + centre - scale / 2``.
"""
from typing import Any, Dict, List, Optional, Tuple

import cv2
import numpy as np

from .types import Person

BBOX_PADDING = 1.25  # MMPose's GetBBoxCenterScale default, used by every top-down config


def box_center_scale(boxes: np.ndarray, aspect_ratio: float,
                     padding: float = BBOX_PADDING) -> Tuple[np.ndarray, np.ndarray]:
    """Centres (N, 2) and scales (N, 2) of xyxy boxes, padded and widened to w / h =
    ``aspect_ratio``."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    center = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    scale = (boxes[:, 2:] - boxes[:, :2]) * padding
    w, h = scale[:, :1], scale[:, 1:]
    scale = np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]),
                     np.hstack([h * aspect_ratio, h]))
    return center, scale


def warp_matrix(center: np.ndarray, scale: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """The 2 x 3 affine matrix that maps the box (``center``, ``scale``) onto an image of
    ``size`` (w, h): MMPose's ``get_warp_matrix`` at rotation 0, in float32 as there."""
    dst_w, dst_h = size
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + np.array([scale[0] * -0.5, 0.])
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([dst_w * -0.5, 0.])
    for pts in (src, dst):  # the third point: (a - b) turned 90 degrees about b
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.r_[-d[1], d[0]]
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def crop_and_normalize(image: np.ndarray, centers: np.ndarray, scales: np.ndarray,
                       meta: Dict[str, Any]) -> np.ndarray:
    """The network's input batch (N, 3, H, W) float32 for the boxes in ``image`` (BGR)."""
    w, h = meta['input']['size']
    inp = meta['input']
    mean = np.asarray(inp['mean'], np.float32)
    std = np.asarray(inp['std'], np.float32)
    batch = np.empty((len(centers), 3, h, w), np.float32)
    for i, (c, s) in enumerate(zip(centers, scales)):
        crop = cv2.warpAffine(image, warp_matrix(c, s, (w, h)), (w, h), flags=cv2.INTER_LINEAR)
        if inp['channel_order'] == 'rgb':
            crop = crop[..., ::-1]
        batch[i] = ((crop.astype(np.float32) - mean) / std).transpose(2, 0, 1)
    return batch


def flip_back(heatmaps: np.ndarray, flip_indices: List[int], shift: bool) -> np.ndarray:
    """Heatmaps of horizontally flipped crops, flipped back onto the unflipped crops."""
    out = heatmaps[:, flip_indices, :, ::-1].copy()
    if shift:  # MMPose's shift_heatmap: the flipped maps land one pixel left of true
        out[..., 1:] = out[..., :-1].copy()
    return out


def heatmap_maximum(heatmaps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Arg-max locations (N, K, 2) as x, y and values (N, K); -1 where the max is <= 0."""
    n, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(n * k, -1)
    idx = np.argmax(flat, axis=1)
    locs = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    vals = np.amax(flat, axis=1)
    locs[vals <= 0.] = -1
    return locs.reshape(n, k, 2), vals.reshape(n, k)


def refine_quarter(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """A quarter pixel towards the higher neighbour, per axis (MMPose's
    ``refine_keypoints``, its bounds included: ``1 < x < W - 1`` but ``0 < y < H``)."""
    n, k = keypoints.shape[:2]
    h, w = heatmaps.shape[2:]
    for i in range(n):
        for j in range(k):
            x, y = keypoints[i, j].astype(int)
            hm = heatmaps[i, j]
            dx = hm[y, x + 1] - hm[y, x - 1] if 1 < x < w - 1 and 0 < y < h else 0.
            dy = hm[y + 1, x] - hm[y - 1, x] if 1 < y < h - 1 and 0 < x < w else 0.
            keypoints[i, j] += np.sign([dx, dy], dtype=np.float32) * 0.25
    return keypoints


def refine_dark(keypoints: np.ndarray, heatmaps: np.ndarray, kernel: int) -> np.ndarray:
    """DARK (Zhang et al., CVPR 2020): Taylor expansion of the blurred log-heatmap at the
    maximum (MMPose's ``gaussian_blur`` + ``refine_keypoints_dark``)."""
    n, k, h, w = heatmaps.shape
    hm = heatmaps.copy()
    border = (kernel - 1) // 2
    for i in range(n):
        for j in range(k):
            origin_max = np.max(hm[i, j])
            dr = np.zeros((h + 2 * border, w + 2 * border), np.float32)
            dr[border:-border, border:-border] = hm[i, j].copy()
            dr = cv2.GaussianBlur(dr, (kernel, kernel), 0)
            hm[i, j] = dr[border:-border, border:-border].copy()
            hm[i, j] *= origin_max / np.max(hm[i, j])
    np.maximum(hm, 1e-10, hm)
    np.log(hm, hm)
    for i in range(n):
        for j in range(k):
            x, y = keypoints[i, j, :2].astype(int)
            if 1 < x < w - 2 and 1 < y < h - 2:
                m = hm[i, j]
                dx = 0.5 * (m[y, x + 1] - m[y, x - 1])
                dy = 0.5 * (m[y + 1, x] - m[y - 1, x])
                dxx = 0.25 * (m[y, x + 2] - 2 * m[y, x] + m[y, x - 2])
                dxy = 0.25 * (m[y + 1, x + 1] - m[y - 1, x + 1] - m[y + 1, x - 1]
                              + m[y - 1, x - 1])
                dyy = 0.25 * (m[y + 2, x] - 2 * m[y, x] + m[y - 2, x])
                derivative = np.array([[dx], [dy]])
                hessian = np.array([[dxx, dxy], [dxy, dyy]])
                if dxx * dyy - dxy ** 2 != 0:
                    offset = -np.linalg.inv(hessian) @ derivative
                    keypoints[i, j, :2] += offset.squeeze()
    return keypoints


def decode(heatmaps: np.ndarray, centers: np.ndarray, scales: np.ndarray,
           meta: Dict[str, Any]) -> Tuple[np.ndarray, np.ndarray]:
    """Keypoints (N, K, 2) in image pixels and scores (N, K) from the heatmaps."""
    codec = meta['codec']
    keypoints, scores = heatmap_maximum(heatmaps)
    if codec.get('unbiased'):
        keypoints = refine_dark(keypoints, heatmaps, codec['blur_kernel_size'])
    else:
        keypoints = refine_quarter(keypoints, heatmaps)
    in_w, in_h = codec['input_size']
    hm_w, hm_h = codec['heatmap_size']
    keypoints = keypoints * np.array([in_w / hm_w, in_h / hm_h], np.float32)
    size = np.array(meta['input']['size'], np.float32)
    keypoints = (keypoints / size * scales[:, None] + centers[:, None]
                 - 0.5 * scales[:, None])
    return keypoints.astype(np.float32), scores.astype(np.float32)


class TopDownEstimator:
    """Keypoints of the people in given boxes, by any backend (``run`` + ``meta``).

    ``flip_test`` None follows the exported test config. ``estimate(image, boxes)`` ->
    keypoints (N, K, 2), scores (N, K)."""

    def __init__(self, backend: Any, flip_test: Optional[bool] = None) -> None:
        self.backend = backend
        self.meta = backend.meta
        cfg = self.meta['test_cfg']
        self.flip_test = bool(cfg.get('flip_test', False)) if flip_test is None else flip_test
        self.num_keypoints = len(self.meta['dataset']['keypoint_names'])

    def estimate(self, image: np.ndarray, boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Keypoints and scores of the person in each xyxy box of ``image`` (BGR uint8)."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not len(boxes):
            k = self.num_keypoints
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        w, h = self.meta['input']['size']
        centers, scales = box_center_scale(boxes, w / h)
        batch = crop_and_normalize(image, centers, scales, self.meta)
        if self.flip_test:
            both = self.backend.run(np.concatenate([batch, batch[..., ::-1]]))
            n = len(batch)
            flipped = flip_back(both[n:], self.meta['dataset']['flip_indices'],
                                bool(self.meta['test_cfg'].get('shift_heatmap', False)))
            heatmaps = (both[:n] + flipped) * 0.5
        else:
            heatmaps = self.backend.run(batch)
        return decode(heatmaps, centers, scales, self.meta)

    def people(self, image: np.ndarray, boxes: np.ndarray,
               box_scores: Optional[np.ndarray] = None,
               track_ids: Optional[np.ndarray] = None) -> List[Person]:
        """:meth:`estimate` as :class:`Person` records."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        kpts, scores = self.estimate(image, boxes)
        box_scores = np.ones(len(boxes)) if box_scores is None else box_scores
        return [Person(boxes[i], float(box_scores[i]), kpts[i], scores[i],
                       None if track_ids is None else int(track_ids[i]))
                for i in range(len(boxes))]
