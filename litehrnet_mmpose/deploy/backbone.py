"""The deployed backbone: channels_last inside, NCHW outside, inference only."""
import functools
from typing import Tuple, Type

import torch
import torch.nn as nn
from torch import Tensor

from ..models import LiteHRNet
from ..models.tensor_ops import is_tracing


class DeployedBackbone:
    """Mixed in front of a Lite-HRNet class by :func:`deployed_class`.

    With ``deploy_channels_last`` the backbone runs in channels_last memory (the deployed
    stem converts the image; depthwise convs run 1.5-3x faster in that layout on CPU, and
    1x1 convs become plain matrix products) and returns NCHW-contiguous outputs, as heads
    and users expect.
    Traced / exported graphs (jit, ONNX, torch.fx) stay NCHW either way.
    """

    #: Always true: lets callers (and MMPose-style code) tell a deployed backbone apart.
    deploy = True
    stem: nn.Module

    @property
    def deploy_channels_last(self) -> bool:
        """Whether the forward runs in channels_last memory (the stem converts the image)."""
        return self.stem.channels_last

    @deploy_channels_last.setter
    def deploy_channels_last(self, value: bool) -> None:
        self.stem.channels_last = value

    @torch.no_grad()  # inference only: the deployed kernels write into their outputs
    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        y = super().forward(x)
        if self.deploy_channels_last and not is_tracing():
            return tuple(t.contiguous() for t in y)
        return y

    def train(self, mode: bool = True) -> nn.Module:
        if mode:
            raise RuntimeError(f'{type(self).__name__}: a model switched to deploy mode '
                               '(BN folded) is inference-only and cannot be trained')
        return super().train(False)


@functools.lru_cache(maxsize=None)
def deployed_class(cls: Type[LiteHRNet]) -> type:
    """``cls`` with :class:`DeployedBackbone` in front (one class per backbone class; a
    module attribute, so that a pickled deployed model finds its class)."""
    name = f'Deployed{cls.__name__}'
    new = type(name, (DeployedBackbone, cls), {'__module__': __name__, '__qualname__': name})
    globals().setdefault(name, new)
    return new
