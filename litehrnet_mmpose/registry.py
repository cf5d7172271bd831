"""The ``litehrnet_mmpose`` registry scope.

Our registries are children of MMPose's: configs name our classes with the scope prefix
(``litehrnet_mmpose.LiteHRNet``, after ``custom_imports=dict(imports=['litehrnet_mmpose'])``)
and everything else a config names still resolves through MMPose and its parents. Nothing
here overrides MMPose's own ``LiteHRNet``; both are buildable in one process.
"""
from mmengine.registry import Registry
from mmpose.registry import HOOKS as MMPOSE_HOOKS
from mmpose.registry import MODELS as MMPOSE_MODELS

SCOPE = 'litehrnet_mmpose'

MODELS = Registry(
    'model', parent=MMPOSE_MODELS, scope=SCOPE, locations=['litehrnet_mmpose.models'])
HOOKS = Registry('hook', parent=MMPOSE_HOOKS, scope=SCOPE, locations=['litehrnet_mmpose.engine'])
