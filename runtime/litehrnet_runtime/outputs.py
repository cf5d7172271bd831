"""Outputs of pose inference: drawn images or an annotated video, and JSON predictions
(per image, per video, COCO results). JSON files are replaced atomically (temp file +
``os.replace``): on disk they are valid JSON even after Ctrl-C or a kill."""
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .io import Source, _Closing
from .types import Frame, Person

VIDEO_KINDS = ('video', 'webcam')


def _atomic_write(path: Path, data: bytes) -> None:
    """Temp file beside ``path``, renamed over it: never half a file (no fsync: survives a
    kill, not a power cut)."""
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _same(a: Path, b: Path) -> bool:
    return a.exists() and b.exists() and a.resolve() == b.resolve()


class VisWriter(_Closing):
    """Drawn output: images with their input file names under ``out_dir``, or one video
    ``out_dir/<name>.mp4`` (mp4v; MJPG ``.avi`` if that does not open) at the source fps
    (30 if unknown). ``close()`` finalises the video; only a kill (not Ctrl-C, which closes
    it through ``with``) leaves an unplayable ``.mp4``."""

    def __init__(self, out_dir: str, source: Source) -> None:
        self.out_dir, self.source = Path(out_dir), source
        self.paths: List[Path] = []
        self._video: Any = None
        self._size: Optional[Tuple[int, int]] = None
        in_dir = Path(source.spec) if source.kind == 'folder' else Path(source.spec).parent
        if source.kind in ('image', 'folder') and _same(self.out_dir, in_dir):
            raise ValueError(f'vis output folder {out_dir!r} is the input folder: drawn '
                             'images would replace the inputs')
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def write(self, frame: Frame, image: np.ndarray) -> None:
        """Save ``image``, the drawn ``frame`` (H x W x 3 uint8 BGR)."""
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8
                and image.ndim == 3 and image.shape[2] == 3):
            raise TypeError(f'image for {frame.name} must be an H x W x 3 uint8 array, got '
                            f'{getattr(image, "dtype", type(image).__name__)} '
                            f'{getattr(image, "shape", "")}')
        if self.source.kind not in VIDEO_KINDS:
            path = self.out_dir / frame.name
            ok, buf = cv2.imencode(path.suffix or '.jpg', image)
            if not ok:
                raise ValueError(f'cannot encode {frame.name} as {path.suffix!r}')
            _atomic_write(path, buf.tobytes())
            self.paths.append(path)
            return
        size = (image.shape[1], image.shape[0])
        if self._video is None:
            self._open(size)
        elif size != self._size:  # VideoWriter would drop the frame without a word
            raise ValueError(f'{frame.name} is {size[0]}x{size[1]}, the video '
                             f'{self._size[0]}x{self._size[1]}')
        self._video.write(image)

    def _open(self, size: Tuple[int, int]) -> None:
        for fourcc, ext in (('mp4v', '.mp4'), ('MJPG', '.avi')):
            path = self.out_dir / f'{self.source.name}{ext}'
            if _same(path, Path(self.source.spec)):
                raise ValueError(f'vis output {str(path)!r} is the input video')
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc),
                                     self.source.fps or 30.0, size)
            if writer.isOpened():
                self._video, self._size = writer, size
                self.paths.append(path)
                return
            writer.release()
        raise RuntimeError(f'cannot write a video in {str(self.out_dir)!r}: OpenCV opens '
                           'neither an mp4v .mp4 nor an MJPG .avi writer')

    def close(self) -> None:
        """Finalise the video (writes its index); safe to call twice."""
        if self._video is not None:
            self._video.release()
            self._video = None


class PredWriter(_Closing):
    """Predictions as JSON. Images: ``out_dir/<stem>.json``, a list of ``Person.to_dict()``
    as MMPose's inferencer writes (``<file name>.json`` for a repeated stem). Video, webcam:
    ``out_dir/<name>.json`` = {"meta", "frames": [{"index", "name", "time_s", "people"}],
    "complete", "skipped"}, rewritten every ``flush_every`` frames or ``flush_interval_s``
    (at most ~5 % of the time) and on close; "complete" is true after a clean close only."""

    def __init__(self, out_dir: str, source: Source, meta: Dict[str, Any],
                 flush_every: int = 100, flush_interval_s: float = 2.0) -> None:
        try:
            self._meta = json.dumps(meta)
        except (TypeError, ValueError) as e:
            raise TypeError(f'meta must be JSON-serialisable: {e}') from e
        self.out_dir, self.source = Path(out_dir), source
        self.flush_every, self.flush_interval_s = flush_every, flush_interval_s
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.paths: List[Path] = []
        self._stems: set = set()
        self._frames: List[str] = []  # JSON text per frame: a flush does not re-encode
        self._flushed, self._last, self._cost, self._closed = 0, time.monotonic(), 0.0, False
        self.path = self.out_dir / f'{source.name}.json' if source.kind in VIDEO_KINDS else None
        if self.path is not None:
            self.paths.append(self.path)
            self.flush()

    def write(self, frame: Frame, people: Optional[Sequence[Person]] = None) -> None:
        """Record ``people`` (default ``frame.people``) of ``frame``."""
        records = [p.to_dict() for p in (frame.people if people is None else people)]
        if self.path is None:
            stem = Path(frame.name).stem
            path = self.out_dir / f'{frame.name if stem in self._stems else stem}.json'
            self._stems.add(stem)
            _atomic_write(path, json.dumps(records).encode())
            self.paths.append(path)
            return
        time_s = None if frame.time_s is None else round(float(frame.time_s), 4)
        self._frames.append(json.dumps(dict(index=frame.index, name=frame.name,
                                            time_s=time_s, people=records)))
        since = time.monotonic() - self._last
        due = (len(self._frames) - self._flushed >= self.flush_every
               or since >= self.flush_interval_s)
        if due and (self._cost < 0.01 or since >= 20 * self._cost):  # big file: not too often
            self.flush()

    def flush(self, complete: bool = False) -> None:
        """Rewrite the video JSON with every frame so far (nothing to do for images)."""
        if self.path is None:
            return
        start = time.monotonic()
        text = (f'{{"meta": {self._meta}, "frames": [{", ".join(self._frames)}], '
                f'"complete": {json.dumps(complete)}, '
                f'"skipped": {json.dumps(self.source.skipped_items)}}}')
        _atomic_write(self.path, text.encode())
        self._flushed, self._last = len(self._frames), time.monotonic()
        self._cost = self._last - start

    def close(self, interrupted: bool = False) -> None:
        """Write the final file; ``interrupted`` marks it incomplete. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self.flush(complete=not interrupted)

    def __exit__(self, exc_type: Optional[type], *exc: object) -> None:
        self.close(interrupted=exc_type is not None)


def coco_results(frames_people: Iterable[Tuple[str, List[Person]]], path: str,
                 kpt_score_thr: float = 0.2) -> int:
    """Write COCO keypoint results (for ``COCO.loadRes`` + ``COCOeval``) to ``path``; return
    how many. ``image_id``: the numeric file stem (000000196141.jpg -> 196141); any other
    name raises ValueError, before anything is written. ``score``: MMPose's top-down
    rescoring without its OKS NMS, box score x mean of keypoint scores > ``kpt_score_thr``."""
    records, bad = [], []
    for name, people in frames_people:
        stem = Path(name).stem
        if not (stem.isascii() and stem.isdigit()):
            bad.append(name)
            continue
        for p in people:
            scores = np.asarray(p.keypoint_scores, dtype=np.float64).reshape(-1)
            xy = np.asarray(p.keypoints, dtype=np.float64).reshape(len(scores), 2)
            valid = scores[scores > kpt_score_thr]
            score = float(p.bbox_score) * (float(valid.mean()) if valid.size else 0.0)
            flat = np.concatenate([xy, scores[:, None]], axis=1).reshape(-1)
            records.append(dict(image_id=int(stem), category_id=1,
                                keypoints=[round(float(v), 3) for v in flat],
                                score=round(score, 5)))
    if bad:
        raise ValueError(f'COCO results need numeric image file names (000000196141.jpg -> '
                         f'image_id 196141); {len(bad)} are not: {", ".join(bad[:5])}')
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(out, json.dumps(records).encode())
    return len(records)
