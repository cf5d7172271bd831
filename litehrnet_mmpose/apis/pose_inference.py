"""The full stack behind ``litehrnet_runtime``'s pipeline: a PyTorch backend (a config and
checkpoint, eval or deployed) and mmdet person detectors, for ``tools/inference.py`` and
for Python::

    from litehrnet_mmpose.apis.pose_inference import pose_estimator
    pose = pose_estimator(CONFIG, CHECKPOINT, deploy=True)   # a litehrnet_runtime.PoseEstimator
    people = pose(cv2.imread('photo.jpg'))

Pre- and post-processing are the runtime's (numpy / OpenCV, checked against
``mmpose.apis.inference_topdown`` in tests/test_runtime_parity.py), so every backend
crops, decodes and maps keypoints back the same way.
"""
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from litehrnet_runtime import PoseEstimator

from ..deploy import switch_to_deploy
from ..deploy.metadata import pose_metadata
from ..utils import TensorForward
from .models import build_pose_model


class TorchBackend:
    """A pose model in PyTorch as a runtime backend: ``run`` (crops -> heatmaps, numpy)
    and ``meta`` (:func:`~litehrnet_mmpose.deploy.metadata.pose_metadata`).

    Args:
        model: An MMPose top-down model from ``build_pose_model`` (its cfg and
            dataset_meta give the metadata).
        deploy: Run it deployed (:func:`~litehrnet_mmpose.deploy.switch_to_deploy`; in
            place: the model cannot train afterwards).
        device: Where it runs (the model is moved there).
    """
    name = 'pytorch'

    def __init__(self, model: nn.Module, deploy: bool = False,
                 device: Union[str, torch.device] = 'cpu') -> None:
        self.meta: Dict[str, Any] = pose_metadata(model)
        self.device = torch.device(device)
        model = model.to(self.device).eval()
        if deploy:
            switch_to_deploy(model)
            self.name = 'pytorch-deploy'
        self.forward = TensorForward(model, first_output=True).eval()

    def run(self, x: np.ndarray) -> np.ndarray:
        """Heatmaps (N, K, h, w) float32 of the normalised crops ``x`` (N, 3, H, W)."""
        with torch.inference_mode():
            out = self.forward(torch.from_numpy(np.ascontiguousarray(x)).to(self.device))
        return out.float().cpu().numpy()


class MMDetDetector:
    """An mmdet detector (config + checkpoint) as the runtime's person detector:
    image -> (boxes (N, 4) xyxy, scores (N,)) of the classes ``cat_ids``, after NMS at
    ``nms_thr`` (as MMPose's demos filter them)."""

    def __init__(self, config: str, checkpoint: Optional[str], cat_ids: Sequence[int] = (0, ),
                 device: str = 'cpu', nms_thr: float = 0.3) -> None:
        import os.path as osp

        from mmdet.apis import init_detector
        if not osp.isfile(config):
            raise FileNotFoundError(f'--det-model {config}: no such file')
        if checkpoint is not None and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'--det-weights {checkpoint}: no such file')
        self.model = init_detector(config, checkpoint, device=device)
        classes = self.model.dataset_meta.get('classes') or ()
        for c in cat_ids:
            if classes and not 0 <= c < len(classes):
                raise ValueError(f'--det-cat-ids: {c} is not a class of {config} (0..'
                                 f'{len(classes) - 1})')
        self.cat_ids = np.asarray(list(cat_ids))
        self.nms_thr = nms_thr

    def __call__(self, image: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        from mmdet.apis import inference_detector
        from mmpose.evaluation.functional import nms
        inst = inference_detector(self.model, image).pred_instances.cpu().numpy()
        keep = np.isin(inst.labels, self.cat_ids)
        dets = np.concatenate([inst.bboxes[keep], inst.scores[keep, None]], axis=1)
        if len(dets):
            dets = dets[nms(dets, self.nms_thr)]
        return dets[:, :4].astype(np.float32), dets[:, 4].astype(np.float32)


def pose_estimator(config: str, checkpoint: Optional[str] = None, deploy: bool = False,
                   device: str = 'cpu', **kwargs: Any) -> PoseEstimator:
    """A :class:`litehrnet_runtime.PoseEstimator` running a config + checkpoint in PyTorch
    (``kwargs``: its detector, flip_test, bbox_thr, max_people, track, ...)."""
    return PoseEstimator(TorchBackend(build_pose_model(config, checkpoint), deploy, device),
                         **kwargs)
