"""The ``litehrnet_mmpose`` registry scope.

Our registries are children of MMPose's: configs name our classes with the scope prefix
(``litehrnet_mmpose.LiteHRNet``, after ``custom_imports=dict(imports=['litehrnet_mmpose'])``)
and everything else a config names still resolves through MMPose and its parents. Nothing
here overrides MMPose's own ``LiteHRNet``; both are buildable in one process.
"""
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import Registry
from mmpose.registry import DATASETS as MMPOSE_DATASETS
from mmpose.registry import HOOKS as MMPOSE_HOOKS
from mmpose.registry import MODELS as MMPOSE_MODELS
from mmpose.registry import TRANSFORMS as MMPOSE_TRANSFORMS
from mmpose.registry import VISUALIZERS as MMPOSE_VISUALIZERS

SCOPE = 'litehrnet_mmpose'

MODELS = Registry(
    'model', parent=MMPOSE_MODELS, scope=SCOPE, locations=['litehrnet_mmpose.models'])
HOOKS = Registry('hook', parent=MMPOSE_HOOKS, scope=SCOPE, locations=['litehrnet_mmpose.engine'])
DATASETS = Registry('dataset', parent=MMPOSE_DATASETS, scope=SCOPE,
                    locations=['litehrnet_mmpose.datasets'])
TRANSFORMS = Registry('transform', parent=MMPOSE_TRANSFORMS, scope=SCOPE,
                      locations=['litehrnet_mmpose.datasets'])
VISUALIZERS = Registry('visualizer', parent=MMPOSE_VISUALIZERS, scope=SCOPE,
                       locations=['litehrnet_mmpose.visualization'])
# The Runner looks model wrappers up in mmengine's root registry without switching scope,
# and a root only resolves a scope prefix among its direct children: hence this parent.
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope=SCOPE,
                          locations=['litehrnet_mmpose.engine'])
