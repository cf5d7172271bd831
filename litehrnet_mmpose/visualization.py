"""MMPose's pose visualizer, made to work under numpy 2."""
from typing import Any, Union

import numpy as np
from mmpose.visualization import PoseLocalVisualizer as _MMPosePoseLocalVisualizer

from .registry import VISUALIZERS


@VISUALIZERS.register_module()
class PoseLocalVisualizer(_MMPosePoseLocalVisualizer):
    """``mmpose.visualization.PoseLocalVisualizer`` with one fix: MMPose 1.3.2 passes each
    keypoint's radius as a 1-element array and its OpenCV backend calls ``int()`` on it,
    which numpy 2 refuses ("only 0-dimensional arrays can be converted to Python scalars").
    Keypoints would not be drawn at all; here the radius is unwrapped first."""

    def draw_circles(self, center: np.ndarray, radius: Union[np.ndarray, float],
                     face_colors: Any = 'none', alpha: float = 1.0, **kwargs: Any) -> Any:
        if self.backend == 'opencv' and np.ndim(radius) > 0 and np.size(radius) == 1:
            radius = float(np.asarray(radius).reshape(-1)[0])
        return super().draw_circles(center, radius=radius, face_colors=face_colors,
                                    alpha=alpha, **kwargs)
