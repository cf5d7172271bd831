"""DDP on the CPU for mmengine's Runner."""
from typing import Any

import torch.nn as nn
from mmengine.model import MMDistributedDataParallel

from ..registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also wraps a model on the CPU.

    mmengine's Runner always passes ``device_ids=[LOCAL_RANK]``, which PyTorch's DDP rejects
    for CPU modules; CPU DDP (gloo) needs ``device_ids=None``.
    """

    def __init__(self, module: nn.Module, **kwargs: Any) -> None:
        if all(p.device.type == 'cpu' for p in module.parameters()):
            kwargs['device_ids'] = None
        super().__init__(module=module, **kwargs)
