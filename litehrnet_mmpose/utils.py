"""Small pieces shared by deploy/, analysis/ and the tools (imports nothing of the package)."""
import torch.nn as nn
from torch import Tensor


class TensorForward(nn.Module):
    """A model's plain tensor path on one image batch, as a module of one tensor input:
    what tracing, ONNX export, FLOP counting and timing need.

    OpenMMLab models with ``_forward`` (MMPose's TopdownPoseEstimator, MMSeg's
    EncoderDecoder, ...) are called as ``model(x, None, mode='tensor')`` (backbone, neck and
    head; no data preprocessor, so inputs are already normalised); any other module as
    ``model(x)``. With ``first_output``, a list or tuple result gives its first element
    (export wants one output tensor).
    """

    def __init__(self, model: nn.Module, first_output: bool = False) -> None:
        super().__init__()
        self.model = model
        self.first_output = first_output

    def forward(self, x: Tensor) -> object:
        """The model's output tensor(s) for image batch ``x``."""
        out = self.model(x, None, mode='tensor') if hasattr(self.model, '_forward') else \
            self.model(x)
        if self.first_output and isinstance(out, (list, tuple)):
            out = out[0]
        return out
