"""The inference metadata of a top-down pose model, for exported files and the runtime.

What ``litehrnet_runtime`` needs to turn an image into keypoints without the config:
input size, normalisation, channel order, decoder, flip test, keypoint names, skeleton,
flip pairs and colours. Read from the model's config and ``dataset_meta`` (as
``mmpose.apis.init_model`` sets it); the format is checked by
``litehrnet_runtime.meta.check_meta``, which the tests run on every config.
"""
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch.nn as nn

from litehrnet_runtime.meta import FORMAT, check_meta


def _listed(value: Any) -> Any:
    """Arrays and tuples as (nested) lists of plain Python numbers, for JSON."""
    return np.asarray(value).tolist() if value is not None else None


def pose_metadata(model: nn.Module, input_hw: Optional[Tuple[int, int]] = None,
                  heatmap_hw: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    """The metadata dict of ``model`` (an MMPose top-down heatmap model built by
    ``init_model``); ``input_hw`` / ``heatmap_hw``: the exported input and output sizes
    (default: the codec's). Raises ValueError for models the runtime cannot decode."""
    cfg = getattr(model, 'cfg', None)
    meta = getattr(model, 'dataset_meta', None)
    if cfg is None or not meta:
        raise ValueError(f'{type(model).__name__}: no cfg / dataset_meta; build it with '
                         'litehrnet_mmpose.apis.models.build_pose_model (mmpose init_model)')
    if cfg.model.get('type') != 'TopdownPoseEstimator':
        raise ValueError(f'model.type {cfg.model.get("type")!r}: inference metadata is '
                         'written for top-down heatmap models (TopdownPoseEstimator)')
    codec = dict(cfg.model.head.get('decoder') or {})
    if codec.get('type') != 'MSRAHeatmap' or codec.get('use_udp', False):
        raise ValueError(f'model.head.decoder {codec!r}: the runtime decodes MSRAHeatmap '
                         'heatmaps (the codec of every Lite-HRNet config)')
    pre = cfg.model.data_preprocessor
    test_cfg = dict(cfg.model.get('test_cfg') or {})
    in_w, in_h = codec['input_size']
    hm_w, hm_h = codec['heatmap_size']
    if input_hw is not None:
        in_h, in_w = input_hw
    if heatmap_hw is not None:
        hm_h, hm_w = heatmap_hw
    k = int(meta['num_keypoints'])
    id2name = meta['keypoint_id2name']
    colors = meta.get('keypoint_colors')
    return check_meta(dict(
        format=FORMAT,
        model=dict(config=str(cfg.filename or ''), backbone=cfg.model.backbone.get('type'),
                   arch=cfg.model.backbone.get('arch')),
        input=dict(size=[int(in_w), int(in_h)],
                   mean=[float(v) for v in pre.get('mean', (0., 0., 0.))],
                   std=[float(v) for v in pre.get('std', (1., 1., 1.))],
                   channel_order='rgb' if pre.get('bgr_to_rgb', False) else 'bgr',
                   layout='NCHW'),
        codec=dict(type='MSRAHeatmap', input_size=[int(in_w), int(in_h)],
                   heatmap_size=[int(hm_w), int(hm_h)], sigma=float(codec.get('sigma', 2)),
                   unbiased=bool(codec.get('unbiased', False)),
                   blur_kernel_size=int(codec.get('blur_kernel_size', 11))),
        test_cfg=dict(flip_test=bool(test_cfg.get('flip_test', False)),
                      flip_mode=str(test_cfg.get('flip_mode', 'heatmap')),
                      shift_heatmap=bool(test_cfg.get('shift_heatmap', True))),
        dataset=dict(
            name=str(meta.get('dataset_name', '')),
            keypoint_names=[str(id2name[i]) for i in range(k)],
            flip_indices=[int(i) for i in meta['flip_indices']],
            skeleton=[[int(a), int(b)] for a, b in meta.get('skeleton_links', [])],
            keypoint_colors_rgb=_listed(colors),
            skeleton_colors_rgb=_listed(meta.get('skeleton_link_colors')),
            sigmas=_listed(meta.get('sigmas'))),
    ), f'{type(model).__name__} of {cfg.filename}')
