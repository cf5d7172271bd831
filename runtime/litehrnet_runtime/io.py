"""Inputs of pose inference: an image, a folder of images, a video file or a webcam, as
:class:`Frame` s; bad images / frames are skipped and counted. (Outputs: outputs.py.)"""
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence

import cv2
import numpy as np

from .types import Frame

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv', '.ts')
# OpenCV's read() fails alike on a bad frame and at the end: this many failures in a row
# end the stream (a truncated file); fewer, then a good frame, are skipped frames.
MAX_BAD_RUN = 30
MAX_WARNINGS = 10


def _warn(message: str) -> None:
    print(f'warning: {message}', file=sys.stderr)


def read_image(path: Path) -> np.ndarray:
    """``path`` as H x W x 3 uint8 BGR (grey, alpha, 16-bit converted); ``np.fromfile`` so
    that non-ASCII paths work on every OS."""
    try:
        image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    except (OSError, cv2.error):  # unreadable; cv2.error: empty file
        image = None
    if image is None:
        raise ValueError(f'cannot decode image {path}: unreadable, corrupt or not an image')
    return image


class _Closing:
    """``with`` support: ``close()`` (release what is held; safe twice) on the way out."""

    def close(self) -> None:
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Source(_Closing):
    """Frames of one input, iterated as :class:`Frame` s. ``kind``: 'image', 'folder',
    'video' or 'webcam'; ``name``: stem for output files; ``total``: images / frames (None
    if unknown); ``fps``: None for images; ``skipped_items``: what failed to decode."""

    def __init__(self, spec: str, kind: str, name: str, total: Optional[int] = None,
                 fps: Optional[float] = None) -> None:
        self.spec, self.kind, self.name, self.total, self.fps = spec, kind, name, total, fps
        self.skipped_items: List[str] = []

    @property
    def skipped(self) -> int:
        """How many images / frames failed to decode so far."""
        return len(self.skipped_items)


class ImageSource(Source):
    """One image (decoded at once: a bad one fails early) or a folder's images (a bad one is
    skipped with a warning; all of them bad is an error at the end)."""

    def __init__(self, spec: str, paths: List[Path], kind: str) -> None:
        name = paths[0].stem if kind == 'image' else Path(spec).resolve().name
        super().__init__(spec, kind, name, total=len(paths))
        self.paths = paths
        self._first = read_image(paths[0]) if kind == 'image' else None

    def __iter__(self) -> Iterator[Frame]:
        self.skipped_items, index = [], 0
        for path in self.paths:
            image, self._first = self._first, None
            if image is None:
                try:
                    image = read_image(path)
                except ValueError as e:
                    if self.kind == 'image':
                        raise
                    self.skipped_items.append(path.name)
                    _warn(f'skipped: {e}')
                    continue
            yield Frame(index=index, name=path.name, image=image)
            index += 1
        if index == 0:
            raise ValueError(f'none of the {len(self.paths)} images in folder {self.spec!r} '
                             f'could be decoded: {", ".join(self.skipped_items[:5])}')


class VideoSource(Source):
    """Frames of a video file or webcam, single pass; a frame that does not decode is
    skipped and counted. ``name`` is ``frame_<position in the stream>`` (the input's
    numbering, also after skips), ``index`` counts decoded frames, ``time_s`` is the
    frame's timestamp (video) or the seconds since the first read (webcam)."""

    def __init__(self, spec: str, cap: Any, kind: str, name: str) -> None:
        count, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
        total = int(count) if kind == 'video' and count > 0 else None
        super().__init__(spec, kind, name, total, float(fps) if fps > 0 else None)
        self._cap = cap

    def __iter__(self) -> Iterator[Frame]:
        # A failed read() moves on one frame, but CAP_PROP_POS_FRAMES counts decoded frames
        # only (it lags after a failure) and POS_MSEC reads 0: count positions here.
        index = pos = 0
        bad: List[int] = []  # positions of the current run of failed reads
        start = time.monotonic()
        while self._cap is not None:
            ok, image = self._cap.read()
            if ok and image is not None:
                self._skip(bad)
                bad = []
                t = (self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if self.kind == 'video'
                     else time.monotonic() - start)
                yield Frame(index=index, name=f'frame_{pos:06d}', image=image, time_s=t)
                index, pos = index + 1, pos + 1
            elif (self.total is not None and pos >= self.total) or len(bad) >= MAX_BAD_RUN:
                break
            else:
                bad.append(pos)
                pos += 1
        if bad and self.total is not None:  # frames the header promises that never decoded
            self._skip(bad)
        if len(bad) >= MAX_BAD_RUN or self.skipped > MAX_WARNINGS:
            _warn(f'{self.spec}: {self.skipped} frames skipped; the last {len(bad)} reads '
                  f'failed (of {self.total or "?"} frames: truncated?)')
        if index == 0 and self.kind == 'video':
            raise ValueError(f'no frame of video {self.spec!r} could be decoded')

    def _skip(self, positions: Sequence[int]) -> None:
        for p in positions:
            self.skipped_items.append(f'frame_{p:06d}')
            if self.skipped <= MAX_WARNINGS:
                _warn(f'{self.spec}: skipped frame {p}: it does not decode')

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _open_folder(path: Path) -> ImageSource:
    images, others, folders = [], {}, 0
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        ext = os.path.splitext(entry.name)[1].lower() or '(no extension)'
        if entry.is_dir():
            folders += 1
        elif ext in IMAGE_EXTS:
            images.append(Path(entry.path))
        else:
            others[ext] = others.get(ext, 0) + 1
    if not images:
        held = [f'{n} {ext}' for ext, n in sorted(others.items())]
        held += [f'{folders} folder(s), not searched'] if folders else []
        raise ValueError(f'folder {str(path)!r} has no images ({"/".join(IMAGE_EXTS)}); it '
                         f'holds {", ".join(held) or "nothing"}')
    return ImageSource(str(path), images, 'folder')


def open_source(spec: str) -> Source:
    """Open ``spec``: digits are a webcam index ('0'; write './0' for a file named 0), a
    folder gives its images sorted by name (not recursive), a file with an image extension
    or content is an image, anything else OpenCV opens is a video."""
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f'input must be a path or webcam index, got {type(spec).__name__}')
    spec = os.fspath(spec)
    if spec.isascii() and spec.isdigit():
        cap = cv2.VideoCapture(int(spec))
        if not cap.isOpened():
            cap.release()
            raise ValueError(f'no webcam at index {int(spec)} (input {spec!r})')
        return VideoSource(spec, cap, 'webcam', f'webcam_{int(spec)}')
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f'input {spec!r} does not exist (expected an image, a folder '
                                'of images, a video file or a webcam index such as 0)')
    if path.is_dir():
        return _open_folder(path)
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS or (ext not in VIDEO_EXTS and cv2.haveImageReader(spec)):
        return ImageSource(spec, [path], 'image')
    cap = cv2.VideoCapture(spec)
    if not cap.isOpened():
        cap.release()
        raise ValueError(f'cannot open video {spec!r}: not a video, corrupt, or a codec '
                         'OpenCV cannot decode')
    return VideoSource(spec, cap, 'video', path.stem)
