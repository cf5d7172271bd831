"""Top-down inference on one image with MMPose's API, and drawing with its visualizer."""
import json
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
import torch.nn as nn


def load_bboxes(path: str, image: str, score_thr: float = 0.3) -> np.ndarray:
    """Person boxes (N, 4) in xyxy from a JSON file.

    Accepts a list of ``[x1, y1, x2, y2]`` boxes, or COCO detection records
    (``{"image_id", "bbox": [x, y, w, h], "score"}``, as in the official
    ``COCO_val2017_detections_AP_H_56_person.json``); records are kept for the image whose COCO
    id is the image file's numeric name, with ``score >= score_thr``.
    """
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise ValueError(f'--bboxes {path}: expected a JSON list, got {type(data).__name__}')
    if data and isinstance(data[0], dict):
        stem = osp.splitext(osp.basename(image))[0]
        image_id = int(stem) if stem.isdigit() else None
        boxes = [d['bbox'] for d in data
                 if d.get('score', 1.0) >= score_thr
                 and (image_id is None or d.get('image_id', image_id) == image_id)]
        out = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        out[:, 2:] += out[:, :2]
        return out
    out = np.array(data, dtype=np.float32)
    if out.ndim != 2 or out.shape[1] != 4:
        raise ValueError(f'--bboxes {path}: expected [[x1, y1, x2, y2], ...], got shape '
                         f'{out.shape}')
    return out


def predict_and_draw(model: nn.Module,
                     image: str,
                     bboxes: Optional[np.ndarray],
                     out_file: Optional[str],
                     kpt_thr: float = 0.3) -> Tuple[np.ndarray, np.ndarray]:
    """Run the top-down model on ``image`` (whole image when ``bboxes`` is None), draw
    skeletons to ``out_file``, and return keypoints (N, K, 2) and scores (N, K)."""
    import mmcv
    from mmpose.apis import inference_topdown
    from mmpose.registry import VISUALIZERS
    from mmpose.structures import merge_data_samples

    if not osp.isfile(image):
        raise FileNotFoundError(f'image: no such file {image!r}')
    results = merge_data_samples(inference_topdown(model, image, bboxes))
    if out_file is not None:
        visualizer = VISUALIZERS.build(model.cfg.visualizer)
        visualizer.set_dataset_meta(model.dataset_meta)
        img = mmcv.imread(image, channel_order='rgb')
        visualizer.add_datasample('result', img, data_sample=results, draw_gt=False,
                                  draw_bbox=True, kpt_thr=kpt_thr, out_file=out_file)
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
