"""MMPose's COCO and MPII datasets, failing early and by name on bad paths and annotations.

MMPose's own classes stop with an ``AssertionError`` on a missing annotation file (and only
once it is opened), with numpy's "cannot reshape array of size 50" on a keypoint list of
the wrong length (no file, no annotation named), accept a list with the wrong number of
whole keypoints (the run breaks later, deep in a transform), and train on an empty dataset
without complaint. These subclasses check each of those when the dataset is built, which
the Runner does before the first iteration.
"""
import os.path as osp
from typing import List, Optional, Tuple

from mmengine.fileio import exists, isdir
from mmpose.datasets import CocoDataset as MMPoseCocoDataset
from mmpose.datasets import MpiiDataset as MMPoseMpiiDataset

from ..registry import DATASETS


def data_hint(field: str, test_mode: bool) -> str:
    """How to point the right dataloader's ``field`` at the data, as ``--cfg-options``.

    A dataset does not know which dataloader holds it; ``test_mode`` tells training data
    from the val / test loaders' (the configs set ``test_dataloader = val_dataloader``, so
    both need the override for ``tools/test.py``)."""
    loaders = ('val_dataloader', 'test_dataloader') if test_mode else ('train_dataloader', )
    if field == 'bbox_file':
        opts = ' '.join(f'{k}.dataset.bbox_file=FILE' for k in loaders)
        return (f'point it at your person detections, e.g. --cfg-options {opts} (not '
                'relative to data_root), or set them to None to use the ground-truth boxes')
    if field == 'headbox_file':
        opts = ' '.join(f'{k}.dataset.headbox_file=FILE' for k in loaders)
        evals = ' '.join(f'{k.replace("dataloader", "evaluator")}.{key}={value}'
                         for k in loaders for key, value in (('type', 'PCKAccuracy'),
                                                             ('norm_item', 'bbox')))
        return (f"point it at MPII's head boxes (mpii_gt_val.mat), e.g. --cfg-options {opts}; "
                'without them set it to None and normalise PCK by the person box instead: '
                f'{evals}')
    opts = ' '.join(f'{k}.dataset.data_root=DIR/' for k in loaders)
    return (f'point the dataloader at your data, e.g. --cfg-options {opts} (ann_file and '
            'data_prefix are relative to it)')


class CheckedDatasetMixin:
    """Path, keypoint-count and emptiness checks shared by the datasets below."""

    ann_file: str
    data_root: Optional[str]
    data_prefix: dict
    metainfo: dict

    def _join_prefix(self) -> None:
        super()._join_prefix()  # type: ignore[misc]
        name = type(self).__name__
        checks = [('ann_file', self.ann_file, exists),
                  ('data_prefix.img', self.data_prefix.get('img'), isdir),
                  ('bbox_file', getattr(self, 'bbox_file', None), exists),
                  ('headbox_file', getattr(self, 'headbox_file', None), exists)]
        for field, path, found in checks:
            if path and not found(path):
                raise FileNotFoundError(
                    f'{name}.{field}: {path!r} does not exist (data_root={self.data_root!r}); '
                    + data_hint(field, bool(getattr(self, 'test_mode', False))))

    def _bad_keypoints(self, where: str, field: str, got: int, per_point: int) -> ValueError:
        k = self.metainfo['num_keypoints']
        return ValueError(
            f'{self.ann_file}: {where}: {field!r} has {got} values, expected {per_point * k} '
            f'({per_point} per keypoint, {k} keypoints in {self.metainfo["dataset_name"]})')

    def filter_data(self) -> List[dict]:
        before = len(self.data_list)  # type: ignore[attr-defined]
        data_list = super().filter_data()  # type: ignore[misc]
        if not data_list:
            raise ValueError(
                f'{type(self).__name__} {self.ann_file}: no samples left ({before} loaded '
                f'before filtering; data_mode={getattr(self, "data_mode", None)!r}, '
                f'filter_cfg={getattr(self, "filter_cfg", None)!r}, '
                f'bbox_file={getattr(self, "bbox_file", None)!r})')
        return data_list


@DATASETS.register_module()
class CocoDataset(CheckedDatasetMixin, MMPoseCocoDataset):
    """MMPose's ``CocoDataset``, checked (see the module docstring)."""

    def parse_data_info(self, raw_data_info: dict) -> Optional[dict]:
        ann, img = raw_data_info['raw_ann_info'], raw_data_info['raw_img_info']
        keypoints = ann.get('keypoints')
        if keypoints is not None and len(keypoints) != 3 * self.metainfo['num_keypoints']:
            raise self._bad_keypoints(
                f'annotation id {ann.get("id")} (image {img.get("file_name")!r})', 'keypoints',
                len(keypoints), 3)
        return super().parse_data_info(raw_data_info)


@DATASETS.register_module()
class MpiiDataset(CheckedDatasetMixin, MMPoseMpiiDataset):
    """MMPose's ``MpiiDataset``, checked (see the module docstring)."""

    def _load_annotations(self) -> Tuple[List[dict], List[dict]]:
        try:
            instances, images = super()._load_annotations()
        except ValueError as e:  # numpy cannot pair up an odd number of joint values
            raise ValueError(f'{self.ann_file}: a "joints" list is not (x, y) pairs: {e}') from e
        for inst in instances:
            if inst['keypoints'].shape[1] != self.metainfo['num_keypoints']:
                raise self._bad_keypoints(
                    f'annotation {inst["id"]} (image {osp.basename(inst["img_path"])!r})',
                    'joints', inst['keypoints'].size, 2)
        return instances, images
