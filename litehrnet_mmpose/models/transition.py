"""The transition between stages: from the previous stage's branches to this stage's."""
from typing import List, Optional, Sequence

import torch.nn as nn
from torch import Tensor

from .shuffle import RELU, depthwise_pointwise

Tensors = List[Tensor]


class Transition(nn.ModuleList):
    """``self[i]`` makes branch ``i`` of this stage: the previous branch ``i`` as it is
    (identity) or through a stride-1 dw/pw pair where the width changes; a new branch from
    the previous lowest-resolution one through a chain of stride-2 pairs.

    A ``ModuleList``, so the state-dict keys are the reference's ``transition{k}.i.*``.

    Args:
        pre_channels: Channels of the previous stage's branches.
        channels: Channels of this stage's branches.
        conv_cfg / norm_cfg: Layer configs.
    """

    def __init__(self,
                 pre_channels: Sequence[int],
                 channels: Sequence[int],
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN')) -> None:
        pre = list(pre_channels)
        layers: List[nn.Module] = []
        for i, c in enumerate(channels):
            if i < len(pre):
                layers.append(nn.Identity() if c == pre[i] else depthwise_pointwise(
                    pre[i], c, 1, RELU, conv_cfg, norm_cfg, flat=True))
            else:
                steps = i + 1 - len(pre)
                layers.append(nn.Sequential(*[
                    depthwise_pointwise(pre[-1], c if k == steps - 1 else pre[-1], 2, RELU,
                                        conv_cfg, norm_cfg, flat=True) for k in range(steps)
                ]))
        super().__init__(layers)

    def forward(self, x: Tensors) -> Tensors:
        return [layer(x[min(i, len(x) - 1)]) for i, layer in enumerate(self)]
