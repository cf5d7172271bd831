"""The torch-free runtime's drawing (litehrnet_runtime.draw) and progress line (progress).
Needs numpy and OpenCV only: ``PYTHONPATH=runtime python -m pytest --noconftest ...``."""
import io
from typing import List, Optional

import numpy as np
import pytest

from litehrnet_runtime.draw import draw_people
from litehrnet_runtime.progress import Progress

from .test_runtime_io import THREE, person, raises

LINKS = [(0, 1), (1, 2)]


# --------------------------------------------------------------------------- drawing


def test_draw_people() -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    tracked = person(THREE.keypoints, [0.9, 0.9, 0.1], THREE.bbox, track_id=4)
    out = draw_people(image, [tracked], LINKS, radius=3, thickness=2)
    assert not image.any()  # drawn on a copy
    assert out[20, 20].any() and out[20, 80].any() and out[20, 50].any()  # dots, link 0-1
    assert not out[80, 80].any() and not out[50, 80].any()  # score 0.1: no dot, no link 1-2
    assert out[5, 50].any()  # box
    bare = draw_people(image, [tracked], LINKS, draw_bbox=False, kpt_colors=[(0, 0, 255)] * 3)
    assert tuple(bare[20, 20]) == (0, 0, 255) and not bare[50, 95].any()
    assert bare[8:20, 5:30].any()  # the track id label, at the box corner
    assert not draw_people(image, [], LINKS).any()


@pytest.mark.parametrize('change, error, words', [
    (dict(skeleton=[(0, 1), (1, 3)]), ValueError, ['skeleton link 1', '(1, 3)', '3 keypoints']),
    (dict(skeleton=[(0, 1, 2)]), ValueError, ['skeleton link 0']),
    (dict(kpt_colors=[(0, 0, 255)]), ValueError, ['kpt_colors', '3']),
    (dict(radius=0), ValueError, ['radius']),
    (dict(image=np.zeros((9, 9), np.uint8)), TypeError, ['H x W x 3']),
], ids=['index', 'not-a-pair', 'colors', 'radius', 'image'])
def test_draw_people_validates(change: dict, error: type, words: List[str]) -> None:
    args = {'image': np.zeros((50, 50, 3), np.uint8), 'people': [THREE], 'skeleton': LINKS,
            **change}
    raises(error, words, lambda: draw_people(**args))


# --------------------------------------------------------------------------- progress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize('total', [40, None])
def test_progress_log(total: Optional[int]) -> None:
    """Not a TTY: a plain line per 10 % (or per ~5 s with no total), then the summary."""
    out, clock = io.StringIO(), Clock()
    with Progress(total, 'video', stream=out, clock=clock) as bar:
        for _ in range(40):
            clock.t += 0.5
            bar.update()
        assert bar.fps == pytest.approx(2.0) and bar.recent_fps == pytest.approx(2.0)
    lines = out.getvalue().splitlines()
    assert '\r' not in out.getvalue() and lines[-1] == 'video: 40 frames in 20.0 s, 2.0 fps'
    assert len(lines) == (10 if total else 4) + 1 and '2.0 fps (now 2.0)' in lines[0]
    assert ('/40' in lines[0] and '%' in lines[0] and 'ETA' in lines[0]) == bool(total)


def test_progress_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, clock = Tty(), Clock()
    bar = Progress(10, 'images', stream=out, clock=clock, unit='images')
    for _ in range(10):
        clock.t += 0.1
        bar.update()
    bar.close()
    bar.close()
    text = out.getvalue()
    assert text.count('\r') == 5  # every 0.25 s, and the final redraw
    assert '10/10 100%' in text and text.endswith('\nimages: 10 images in 1.0 s, 10.0 fps\n')
