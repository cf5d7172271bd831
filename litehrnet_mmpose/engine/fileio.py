"""Atomic checkpoint writes for mmengine's ``CheckpointHook``.

mmengine's local backend writes a checkpoint by opening ``epoch_N.pth`` for writing and
streaming the bytes in: a process killed meanwhile leaves a truncated ``epoch_N.pth``, which
looks like the newest checkpoint. The ``atomic_local`` backend writes to
``epoch_N.pth.partial``, flushes it to disk, then renames it over the final name (a rename
within a directory is atomic on POSIX and Windows), so a checkpoint file either is complete
or does not exist. Select it with ``default_hooks.checkpoint.backend_args``
(``dict(backend='atomic_local')``, set in ``configs/_base_/default_runtime.py``).
"""
import os
import os.path as osp
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

PARTIAL_SUFFIX = '.partial'


def atomic_write(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written."""
    path = str(path)
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    tmp = path + PARTIAL_SUFFIX
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class AtomicLocalBackend(LocalBackend):
    """mmengine's ``LocalBackend`` whose writes go through :func:`atomic_write`."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)


register_backend('atomic_local', AtomicLocalBackend, force=True)
