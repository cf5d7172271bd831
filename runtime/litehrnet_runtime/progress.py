"""A one-line progress display with frames per second for long inputs (folders, videos,
webcams). Our own rather than tqdm: the torch-free install has only numpy,
opencv-python-headless and onnxruntime."""
import math
import shutil
import sys
import time
from collections import deque
from typing import Callable, Deque, Optional, TextIO, Tuple

WINDOW_S = 2.0  # the "recent" fps is over about this many seconds
LOG_EVERY_S = 5.0  # not a TTY: a plain line this often, or at each further 10 %


def _hms(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    s = int(seconds)
    h, m = divmod(s // 60, 60)
    return f'{h}:{m:02d}:{s % 60:02d}' if h else f'{m}:{s % 60:02d}'


class Progress:
    """Counts processed frames and shows done/total, percent, fps (whole run and recent),
    elapsed time and ETA: updated in place on a TTY (at most every ``min_interval_s``),
    else a plain line every few seconds or 10 %, so logs stay short. ``total`` may be None
    (webcam). The clock starts at construction; ``clock`` is replaceable for tests."""

    def __init__(self, total: Optional[int], desc: str, stream: TextIO = sys.stderr,
                 min_interval_s: float = 0.25, unit: str = 'frames',
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if total is not None and (not isinstance(total, int) or total < 0):
            raise ValueError(f'total must be None or an int >= 0, got {total!r}')
        self.total, self.desc, self.stream, self.unit = total, desc, stream, unit
        self.min_interval_s, self._clock = min_interval_s, clock
        try:
            self._tty = bool(stream.isatty())
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            self._tty = False
        self.done = 0
        self._start = self._last_log = clock()
        self._last_draw = -math.inf
        self._tenths = 0
        self._window: Deque[Tuple[float, int]] = deque([(self._start, 0)])
        self._width = 0  # of the line now on screen (TTY), to blank what it leaves
        self._closed = False

    @property
    def elapsed(self) -> float:
        """Seconds since construction."""
        return self._clock() - self._start

    @property
    def fps(self) -> float:
        """Frames per second over the whole run so far."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def recent_fps(self) -> float:
        """Frames per second over the last ~``WINDOW_S`` seconds."""
        (t0, n0), (t1, n1) = self._window[0], self._window[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else self.fps

    def update(self, n: int = 1) -> None:
        """Count ``n`` more frames and redraw if it is time."""
        self.done += n
        now = self._clock()
        self._window.append((now, self.done))
        while len(self._window) > 2 and now - self._window[1][0] >= WINDOW_S:
            self._window.popleft()
        if self._tty:
            if now - self._last_draw >= self.min_interval_s:
                self._draw(now)
            return
        tenths = self.done * 10 // self.total if self.total else 0
        if now - self._last_log >= LOG_EVERY_S or tenths > self._tenths:
            self._tenths, self._last_log = tenths, now
            self._write(self.line() + '\n')

    def line(self) -> str:
        """The status text, e.g. ``video: 120/300  40% | 24.8 fps (now 25.1) | 0:04, ETA 0:07``."""
        fps, recent = self.fps, self.recent_fps
        text = f'{self.desc}: {self.done}'
        if self.total:
            text += f'/{self.total} {100.0 * self.done / self.total:3.0f}%'
        text += f' {self.unit} | {fps:.1f} fps (now {recent:.1f}) | {_hms(self.elapsed)}'
        if self.total and self.done < self.total:
            rate = recent if recent > 0 else fps
            text += f', ETA {_hms((self.total - self.done) / rate) if rate > 0 else "?"}'
        return text

    def _draw(self, now: float) -> None:
        self._last_draw = now
        line = self.line()[:max(shutil.get_terminal_size((100, 20)).columns - 1, 20)]
        # '\r' and spaces rather than an ANSI erase, which not every console understands
        self._write('\r' + line + ' ' * max(self._width - len(line), 0))
        self._width = len(line)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        """Finish the line and print ``desc: N frames in T s, F fps``; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._tty and self._width:
            self._draw(self._clock())
            self._write('\n')
        self._write(f'{self.desc}: {self.done} {self.unit} in {self.elapsed:.1f} s, '
                    f'{self.fps:.1f} fps\n')

    def __enter__(self) -> 'Progress':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
