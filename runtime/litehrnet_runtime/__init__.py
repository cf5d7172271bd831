"""Lite-HRNet pose inference from an exported file, without torch or OpenMMLab.

Needs numpy, OpenCV and ONNX Runtime (or OpenVINO) only::

    import cv2
    from litehrnet_runtime import PoseEstimator
    pose = PoseEstimator('litehrnet_18_coco_256x192.onnx')
    people = pose(cv2.imread('photo.jpg'))   # [Person(bbox, keypoints, ...), ...]

The file comes from ``python tools/export_onnx.py CONFIG CHECKPOINT`` (litehrnet_mmpose),
which stores what inference needs (input size, normalisation, decoder, keypoint names,
skeleton, flip pairs) in its metadata.
"""
from .backends import OnnxRuntimeBackend, OpenVINOBackend, open_backend
from .pipeline import PoseEstimator
from .topdown import TopDownEstimator
from .types import Frame, Person

__version__ = '0.1.0'
__all__ = ['Frame', 'OnnxRuntimeBackend', 'OpenVINOBackend', 'Person', 'PoseEstimator',
           'TopDownEstimator', 'open_backend']
