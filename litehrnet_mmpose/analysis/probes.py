"""Measurement probes for the benchmark: interleaved timing, peak resident memory, peak
live tensor memory and the memory autograd saves for backward."""
import contextlib
import ctypes
import os
import os.path as osp
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch

from .timing import time_calls

Fn = Callable[[], Any]


def interleaved(fns: Dict[str, Fn], repeats: int, warmup: int = 1,
                pause_s: float = 0.0) -> Dict[str, List[float]]:
    """Time every function ``repeats`` times, one call of each in turn (the order rotates
    each round), after ``warmup`` untimed calls of each; ``pause_s``: an untimed sleep
    before each call (lets the previous function's idle worker threads stop spinning)."""
    names = list(fns)
    for name in names:
        time_calls(fns[name], repeats=1, warmup=warmup)
    times: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if pause_s:
                time.sleep(pause_s)
            times[name] += time_calls(fns[name], repeats=1, warmup=0)
    return times


_LIBC = ctypes.CDLL(None) if sys.platform.startswith('linux') else None


def _status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise KeyError(key)


def peak_rss_growth(fn: Fn) -> Optional[int]:
    """Bytes by which one call of ``fn`` raises the process's peak resident memory (Linux
    only: None elsewhere). Freed heap is returned to the OS first (``malloc_trim``) and
    the peak reset (``clear_refs``), so memory cached by earlier calls is not reused."""
    if _LIBC is None or not osp.exists('/proc/self/clear_refs'):
        return None
    try:
        _LIBC.malloc_trim(0)
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kb('VmRSS')
    fn()
    return (_status_kb('VmHWM') - before) * 1024


@contextlib.contextmanager
def _native_stderr_to_devnull() -> Iterator[None]:
    """Silence file descriptor 2 (the profiler's C++ start/stop log lines) meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_tensor_bytes(fn: Fn) -> int:
    """Peak bytes of live CPU tensors during one call of ``fn``, above what was live before:
    the running sum of the memory that each top-level op allocates (net of what it frees)
    and of the frees between ops, from PyTorch's profiler. Deterministic, unlike RSS:
    no allocator caching or page reuse; it misses only buffers an op frees before it ends."""
    from torch.profiler import ProfilerActivity, profile
    with _native_stderr_to_devnull(), profile(activities=[ProfilerActivity.CPU],
                                              profile_memory=True) as prof:
        fn()
    live = peak = 0
    for event in sorted((e for e in prof.events() if e.cpu_parent is None),
                        key=lambda e: e.time_range.start):
        live += event.cpu_memory_usage
        peak = max(peak, live)
    return peak


def saved_tensor_bytes(step: Callable[[], torch.Tensor]) -> int:
    """Bytes of the distinct storages autograd saves for backward during ``step()``."""
    seen: Dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())
