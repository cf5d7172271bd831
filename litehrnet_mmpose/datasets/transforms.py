"""Image loading that names the bad file, and can skip it.

MMPose's ``LoadImage`` reports every failure as "check whether the file exists", decodes a
truncated JPEG into a half-grey picture without a word (OpenCV only prints a warning), and
stops the whole run at the first unreadable image. :class:`LoadImage` here raises a
:class:`BadImageError` naming the file and the reason, and with ``skip_bad=True`` (training
only) logs a warning with a running count and lets the dataset draw another sample.
"""
import logging
from typing import Any, Optional

import mmcv
import numpy as np
from mmengine import fileio
from mmengine.logging import print_log
from mmpose.datasets.transforms import LoadImage as MMPoseLoadImage

from ..registry import TRANSFORMS

JPEG_SOI, JPEG_EOI = b'\xff\xd8', b'\xff\xd9'
# A complete JPEG ends with the EOI marker, possibly followed by a little padding. Inside
# entropy-coded data 0xFF is always stuffed (0xFF00) or a restart marker, so an EOI found
# near the end is never a coincidence, and a file cut short has none there.
JPEG_TAIL = 4096


class BadImageError(ValueError):
    """An image file that is missing, empty, truncated or cannot be decoded."""


def decode_image(data: bytes, path: str, flag: str = 'color', backend: str = 'cv2') -> np.ndarray:
    """Decode image bytes, raising :class:`BadImageError` naming ``path`` if they are not
    a complete image."""
    if not data:
        raise BadImageError(f'image {path!r}: empty file')
    if data[:2] == JPEG_SOI and JPEG_EOI not in data[-JPEG_TAIL:]:
        raise BadImageError(f'image {path!r}: truncated JPEG ({len(data)} bytes, no end '
                            'marker)')
    try:
        img = mmcv.imfrombytes(data, flag=flag, backend=backend)
    except Exception as e:  # the pillow / turbojpeg backends raise their own types
        raise BadImageError(f'image {path!r}: cannot be decoded ({e})') from e
    if img is None or img.size == 0:
        raise BadImageError(f'image {path!r}: cannot be decoded (corrupt, or not an image)')
    return img


def read_image(path: str,
               flag: str = 'color',
               backend: str = 'cv2',
               backend_args: Optional[dict] = None) -> np.ndarray:
    """Read and decode one image (BGR for ``flag='color'``) or raise
    :class:`BadImageError` naming the file."""
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError as e:
        raise BadImageError(f'image {path!r}: no such file') from e
    except OSError as e:
        raise BadImageError(f'image {path!r}: cannot be read ({e})') from e
    return decode_image(data, path, flag, backend)


@TRANSFORMS.register_module()
class LoadImage(MMPoseLoadImage):
    """MMPose's ``LoadImage`` with errors that name the file, and optional skipping.

    Args:
        skip_bad: Instead of raising, log a warning (with how many samples this
            data-loading process has skipped so far) and return ``None``, on which
            mmengine's datasets draw another sample. Training pipelines only: a test-time
            pipeline must not drop samples, and mmengine refuses ``None`` there.
        **kwargs: MMPose's / mmcv's ``LoadImage`` arguments (``to_float32``,
            ``color_type``, ``imdecode_backend``, ``backend_args``).
    """

    def __init__(self, skip_bad: bool = False, **kwargs: Any) -> None:
        if not isinstance(skip_bad, bool):
            raise TypeError(f'LoadImage.skip_bad: expected True or False, got {skip_bad!r}')
        super().__init__(**kwargs)
        self.skip_bad = skip_bad
        self.skipped = 0  # per process: each data-loading worker counts its own

    def transform(self, results: dict) -> Optional[dict]:
        if 'img' in results:  # an array handed in by the inference API
            return super().transform(results)
        path = results['img_path']
        try:
            img = read_image(path, self.color_type, self.imdecode_backend, self.backend_args)
        except BadImageError as e:
            if not self.skip_bad:
                raise
            self.skipped += 1
            print_log(f'skipped a sample: {e} ({self.skipped} skipped by this data-loading '
                      'process so far)', logger='current', level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results.update(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
        return results

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, skip_bad={self.skip_bad})'
