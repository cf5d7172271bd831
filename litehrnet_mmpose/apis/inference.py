"""Top-down inference on one image with MMPose's API, and drawing with its visualizer."""
import json
import os.path as osp
from typing import List, Optional, Tuple, Union

import numpy as np
import torch.nn as nn

from ..datasets.transforms import read_image


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


def check_bboxes(bboxes: np.ndarray, shape: Tuple[int, ...], name: str = 'bboxes') -> None:
    """Person boxes: (N, 4) finite x1 < x2, y1 < y2, each overlapping the image."""
    if bboxes.ndim != 2 or bboxes.shape[1] != 4:
        raise ValueError(f'{name}: expected shape (N, 4) as [x1, y1, x2, y2], got '
                         f'{bboxes.shape}')
    h, w = shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(bboxes.tolist()):
        if not np.all(np.isfinite([x1, y1, x2, y2])) or x2 <= x1 or y2 <= y1:
            raise ValueError(f'{name}[{i}]: expected finite [x1, y1, x2, y2] with x1 < x2 and '
                             f'y1 < y2, got {[x1, y1, x2, y2]}')
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise ValueError(f'{name}[{i}]: {[x1, y1, x2, y2]} lies outside the {w}x{h} '
                             'image')


def _coco_records(data: list, path: str, image: str) -> Tuple[np.ndarray, np.ndarray]:
    """Boxes (xyxy) and scores of the COCO detection records that belong to ``image``."""
    for i, d in enumerate(data):
        if not isinstance(d, dict) or len(d.get('bbox') or ()) != 4:
            raise ValueError(f'--bboxes {path}: record {i} is not a COCO detection '
                             f'{{"image_id", "bbox": [x, y, w, h], "score"}}: {d!r:.120}')
    stem = osp.splitext(osp.basename(image))[0]
    ids = sorted({d['image_id'] for d in data if 'image_id' in d})
    if stem.isdigit():
        records = [d for d in data if d.get('image_id', int(stem)) == int(stem)]
        if not records:
            raise ValueError(f'--bboxes {path}: no detection has image_id {int(stem)} (the '
                             f'image file name {osp.basename(image)!r}); the file has '
                             f'{len(ids)} image id(s), e.g. {ids[:5]}')
    elif len(ids) > 1:
        raise ValueError(f'--bboxes {path}: detections of {len(ids)} images (ids {ids[:5]}'
                         f'{"..." if len(ids) > 5 else ""}), and the image file name '
                         f'{osp.basename(image)!r} is not a COCO id to pick them by; name '
                         'the image after its id (e.g. 000000000785.jpg) or pass that '
                         "image's boxes as [[x1, y1, x2, y2], ...]")
    else:
        records = data
    boxes = np.array([d['bbox'] for d in records], dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    scores = np.array([d.get('score', 1.0) for d in records], dtype=np.float32)
    return boxes, scores


def load_bboxes(path: str, image: str, score_thr: float = 0.3) -> np.ndarray:
    """Person boxes (N, 4) in xyxy from a JSON file, those with ``score >= score_thr``.

    Accepts a list of ``[x1, y1, x2, y2]`` or ``[x1, y1, x2, y2, score]`` boxes (as mmdet
    writes them), or COCO detection records (``{"image_id", "bbox": [x, y, w, h],
    "score"}``, as in the official ``COCO_val2017_detections_AP_H_56_person.json``), kept
    for the image whose COCO id is the image file's numeric name. A file whose records
    cover several images cannot be used for an image not named by its id, and a file
    leaving no box raises ValueError (the demo would otherwise fall back to the whole
    image without saying so).
    """
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, list) or not data:
        raise ValueError(f'--bboxes {path}: expected a non-empty JSON list of boxes, got '
                         f'{data!r:.80}; without --bboxes the whole image is one person')
    if isinstance(data[0], dict):
        boxes, scores = _coco_records(data, path, image)
    else:
        try:
            rows = np.array(data, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(f'--bboxes {path}: expected [[x1, y1, x2, y2(, score)], ...] '
                             f'of numbers: {e}') from e
        if rows.ndim != 2 or rows.shape[1] not in (4, 5):
            raise ValueError(f'--bboxes {path}: expected [[x1, y1, x2, y2], ...] or '
                             f'[[x1, y1, x2, y2, score], ...], got shape {rows.shape}')
        boxes = rows[:, :4]
        scores = rows[:, 4] if rows.shape[1] == 5 else np.ones(len(rows), np.float32)
    keep = scores >= score_thr
    if not keep.any():
        raise ValueError(f'--bboxes {path}: none of the {len(boxes)} box(es) for this image '
                         f'has a score >= --bbox-thr {score_thr:g} (the highest is '
                         f'{scores.max():.3f}); lower --bbox-thr')
    return boxes[keep]


def predict_and_draw(model: nn.Module,
                     image: Union[str, np.ndarray],
                     bboxes: Optional[np.ndarray],
                     out_file: Optional[str],
                     kpt_thr: float = 0.3) -> Tuple[np.ndarray, np.ndarray]:
    """Run the top-down model on ``image`` (a path, or an H x W x 3 uint8 BGR array; the
    whole image is one person when ``bboxes`` is None), draw skeletons to ``out_file``,
    and return keypoints (N, K, 2) and scores (N, K). Bad images and boxes raise errors
    naming them (:func:`check_image`, :func:`check_bboxes`)."""
    import mmcv
    from mmpose.apis import inference_topdown
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    img = read_image(image) if isinstance(image, str) else check_image(image)
    if bboxes is not None:
        check_bboxes(np.asarray(bboxes, dtype=np.float32), img.shape)
    results = merge_data_samples(inference_topdown(model, img, bboxes))
    if out_file is not None:
        visualizer = VISUALIZERS.build(model.cfg.visualizer)
        visualizer.set_dataset_meta(model.dataset_meta)
        visualizer.add_datasample('result', mmcv.bgr2rgb(img), data_sample=results,
                                  draw_gt=False, draw_bbox=True, kpt_thr=kpt_thr,
                                  out_file=out_file)
    inst = results.pred_instances
    return np.asarray(inst.keypoints), np.asarray(inst.keypoint_scores)


def format_keypoints(keypoints: np.ndarray, scores: np.ndarray,
                     names: Optional[List[str]] = None) -> str:
    """A readable table: one block per person, one line per keypoint."""
    lines = [f'{len(keypoints)} person(s), keypoints array {tuple(keypoints.shape)}']
    for p, (kpts, sc) in enumerate(zip(keypoints, scores)):
        lines.append(f'person {p}:')
        for k, ((x, y), s) in enumerate(zip(kpts, sc)):
            name = names[k] if names else str(k)
            lines.append(f'  {name:<16} x={x:8.1f} y={y:8.1f} score={s:.3f}')
    return '\n'.join(lines)
