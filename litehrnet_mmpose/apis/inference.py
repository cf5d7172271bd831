"""Top-down inference on one image with MMPose's API, and drawing with its visualizer."""
from typing import List, Optional, Tuple, Union

import numpy as np
import torch.nn as nn

from litehrnet_runtime.boxes import check_bboxes, check_image, load_bboxes

from ..datasets.transforms import read_image

__all__ = ['check_bboxes', 'check_image', 'format_keypoints', 'load_bboxes',
           'predict_and_draw']


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
