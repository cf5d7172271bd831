"""Our models (and hooks) in MMSegmentation 1.x, in the ``litehrnet_mmpose`` scope.

Import this module from a segmentation config with
``custom_imports=dict(imports=['litehrnet_mmpose.seg'])`` and name our classes with the scope
prefix, e.g. ``backbone=dict(type='litehrnet_mmpose.LiteHRNet', out_indices=(0, 1, 2, 3))``.
It is not imported by ``litehrnet_mmpose`` itself, so pose use never needs mmseg.

Design: for each of MMSegmentation's ``MODELS`` and ``HOOKS`` we add a child registry with
scope ``litehrnet_mmpose`` holding the same classes as our MMPose-side registries
(:mod:`litehrnet_mmpose.registry`; copied when this module is imported). Nothing is
registered in mmseg's own registries, so mmseg's entries (and MMPose's ``LiteHRNet``) stay
untouched, and a config names our backbone the same way for pose and segmentation. A third
child, of mmseg's ``DATASETS``, holds :class:`CityscapesDataset` (mmseg's, with missing
data reported by name).

Why it resolves whichever package was imported first: under ``default_scope='mmseg'``,
mmengine builds from mmseg's registry, and ``Registry.get('litehrnet_mmpose.X')`` first
looks for a *direct child* of that registry with scope ``litehrnet_mmpose``; only when there
is none does it go to the root (where ``litehrnet_mmpose`` is not a direct child either).
So each parent finds its own child: mmseg's gets the registry below, MMPose's gets ours in
:mod:`litehrnet_mmpose.registry`, independent of import order. The two same-named scopes
are only ambiguous to a depth-first search from the root (``Registry._search_child``), which
mmengine uses to switch to ``default_scope`` / ``_scope_``: it finds the child of whichever
of MMPose / mmseg created its registries first. Both hold the very same classes, but their
unprefixed fallbacks differ (MMPose's vs mmseg's), hence never set ``default_scope`` or
``_scope_`` to ``litehrnet_mmpose``; our configs use ``mmseg`` / ``mmpose`` and the prefix.
(A distinct scope such as ``litehrnet_mmseg`` would avoid even that, at the cost of a
different type name per task.)
"""
from mmengine.fileio import exists, isdir
from mmengine.registry import Registry
from mmseg.datasets import CityscapesDataset as MMSegCityscapesDataset
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import MODELS as MMSEG_MODELS

from . import registry as pose_registry


def _mirror(source: Registry, parent: Registry) -> Registry:
    """A ``SCOPE`` child of ``parent`` holding every class registered in ``source``."""
    source.import_from_location()
    child = Registry(source.name, parent=parent, scope=pose_registry.SCOPE)
    for name, cls in source.module_dict.items():
        child.register_module(name=name, module=cls)
    return child


MODELS = _mirror(pose_registry.MODELS, MMSEG_MODELS)
HOOKS = _mirror(pose_registry.HOOKS, MMSEG_HOOKS)

DATASETS = Registry('dataset', parent=MMSEG_DATASETS, scope=pose_registry.SCOPE)


@DATASETS.register_module()
class CityscapesDataset(MMSegCityscapesDataset):
    """mmseg's ``CityscapesDataset``, stopping with a FileNotFoundError that names the field,
    the path and the override when its image or label folder (or ``ann_file``) is missing
    (mmseg's own fails in a directory listing, naming neither)."""

    def _join_prefix(self) -> None:
        super()._join_prefix()
        checks = [(f'data_prefix.{k}', v, isdir) for k, v in self.data_prefix.items()]
        for field, path, found in checks + [('ann_file', self.ann_file, exists)]:
            if path and not found(path):
                opts = ' '.join(f'{k}_dataloader.dataset.data_root=DIR/'
                                for k in ('train', 'val', 'test'))
                raise FileNotFoundError(
                    f'{type(self).__name__}.{field}: {path!r} does not exist (data_root='
                    f'{self.data_root!r}); point the dataloaders at your data, e.g. '
                    f'--cfg-options {opts} (data_prefix is relative to it)')
