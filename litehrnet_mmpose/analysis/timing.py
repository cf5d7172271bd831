"""Wall-clock timing of calls, through ``torch.utils.benchmark`` (it synchronises CUDA and
reports median and interquartile range)."""
import logging
from typing import Any, Callable, List, Sequence

import numpy as np

# importing torch.utils.benchmark logs a warning about CUDA_HOME on CPU-only machines:
# silenced for that import only, the logger's level restored after it
_cpp_log = logging.getLogger('torch.utils.cpp_extension')
_level = _cpp_log.level
_cpp_log.setLevel(logging.ERROR)
try:
    from torch.utils.benchmark import Timer  # noqa: E402
finally:
    _cpp_log.setLevel(_level)


def time_calls(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> List[float]:
    """Seconds taken by each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones.

    One ``Timer.timeit(1)`` per call rather than ``blocked_autorange``: callers interleave
    single calls of several models, so that machine drift hits all of them alike.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f'repeats/warmup: expected >= 1 / >= 0, got {repeats}/{warmup}')
    timer = Timer(stmt='fn()', globals={'fn': fn})
    for _ in range(warmup):
        fn()
    return [timer.timeit(1).raw_times[0] for _ in range(repeats)]


def summarize(times: Sequence[float]) -> dict:
    """Median, interquartile range, min and max of a list of timings (same unit); numpy,
    as ``torch.utils.benchmark.Measurement`` needs a task spec and keeps no min/max."""
    arr = np.asarray(times, dtype=np.float64)
    if arr.size == 0:
        raise ValueError('times: expected at least one timing')
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return dict(median=float(med), iqr=float(q3 - q1), min=float(arr.min()),
                max=float(arr.max()), n=int(arr.size))
