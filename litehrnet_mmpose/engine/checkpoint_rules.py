"""Weights-only checkpoint loading that is safe for mmengine's checkpoints, in every process.

mmengine's checkpoints pickle more than tensors: numpy arrays and scalars (``meta``,
``dataset_meta``) and ``HistoryBuffer`` objects (the logged scalars kept for ``--resume``),
whose protocol-2 pickle names its statistic methods as ``getattr(HistoryBuffer, 'mean')``.
torch's weights-only unpickler refuses all of these, so each must be allowlisted, and an
allowlisted global is a capability the *file* gets: ``builtins.getattr`` itself reaches the
builtins module (``getattr.__self__``) and every builtin, and ``HistoryBuffer`` takes any
``__dict__`` (an instance-level ``__reduce_ex__`` runs under ``copy.deepcopy``) and writes its
``statistics_methods`` into the class, for every buffer of the process.

So each allowlisted name is registered in a restricted form that does only what real
checkpoints need (read from their opcodes; see ``tests/test_checkpoint_security.py``):

=========================================  ==============================================
name in the pickle                         what is allowed
=========================================  ==============================================
``builtins.getattr``                       ``getattr(HistoryBuffer, name)`` for mmengine's
                                           default statistics (min, max, current, mean)
``mmengine...HistoryBuffer``               rebuilt from exactly its own state: 1-d numeric
                                           histories, an int ``max_length``, its own
                                           statistic methods; never called
``numpy.dtype`` and the dtype classes      numbers, booleans and fixed-width strings; no
                                           object, void, structured or datetime dtypes
``numpy._core.multiarray._reconstruct``    a plain ``numpy.ndarray`` (also under numpy 1's
``numpy._core.multiarray.scalar``          ``numpy.core`` names); scalars of the dtypes
                                           above
``builtins.bytes``                         ``bytes()``: how protocol 2 writes ``b''``
=========================================  ==============================================

The registration is process-wide (at ``import litehrnet_mmpose``, which our configs'
``custom_imports`` performs): MMPose's own ``tools/train.py --resume`` and mmengine's
``load_from`` / ``PretrainedInit`` call ``torch.load`` themselves and need it to read
mmengine's checkpoints at all; in the restricted form above it gives a file no callable
beyond four statistic functions. mmengine's loader for local paths is replaced by
:func:`safe_load`, which also walks the loaded object (:func:`check_loaded`): only plain data
(containers, tensors, numbers, strings, numeric numpy) may come out, so nothing that a later
``deepcopy`` or method call could be redirected through (an ``OrderedDict`` or tensor with
file-chosen attributes, a smuggled function, an object array) reaches the Runner.
"""
import logging
import os.path as osp
import pickle
from collections import Counter, OrderedDict
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner import CheckpointLoader

#: mmengine 0.10.7's ``HistoryBuffer._set_default_statistics``: the only methods a checkpoint
#: may name.
STATISTICS = ('current', 'max', 'mean', 'min')
#: ``HistoryBuffer.__getstate__``'s keys.
HISTORY_STATE = frozenset({'max_length', '_log_history', '_count_history'})
#: dtype kinds a checkpoint may hold: bool, ints, floats, complex, bytes / unicode strings.
DTYPE_KINDS = 'biufcSU'
#: the one attribute torch gives an ``OrderedDict`` (a ``state_dict``'s version metadata).
ORDERED_DICT_STATE = frozenset({'_metadata'})
REFUSED = 'refused by the checkpoint rules: '


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: truncated, not a checkpoint, unsafe, or not
    fitting the model."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that the rules refuse: it names a global, call or attribute that no real
    checkpoint needs (never skipped over like a truncated file)."""


class RefusedByRules(pickle.UnpicklingError):
    """Raised inside the unpickler (torch re-raises it as ``UnpicklingError`` with the
    message kept) or by :func:`check_loaded`."""

    def __init__(self, what: str) -> None:
        super().__init__(REFUSED + what)


def _name(obj: object) -> str:
    """A short description of ``obj`` that calls none of its methods; a replacement is
    named as the file names it (``builtins.getattr``, not ours)."""
    for replacement, name in SAFE_GLOBALS:
        if obj is replacement:
            return name
    if isinstance(obj, type) or callable(obj):
        module = getattr(obj, '__module__', None) or type(obj).__module__
        return f'{module}.{getattr(obj, "__qualname__", type(obj).__qualname__)}'
    return f'a {type(obj).__qualname__} object'


def history_buffer_getattr(owner: object, name: object) -> Callable:
    """``builtins.getattr`` as mmengine's checkpoints use it: one of ``HistoryBuffer``'s
    default statistic methods, by name."""
    if owner not in (HistoryBuffer, _HistoryBufferFromCheckpoint) or name not in STATISTICS:
        raise RefusedByRules(
            f'getattr({_name(owner)}, {name!r}): a checkpoint may only name '
            f'HistoryBuffer\'s statistic methods {list(STATISTICS)} this way')
    return getattr(HistoryBuffer, name)


def _check_history_state(state: object) -> None:
    if not isinstance(state, dict) or any(type(k) is not str for k in state):
        raise RefusedByRules(f'HistoryBuffer state: expected a dict of attributes, got '
                             f'{_name(state)}')
    extra = sorted(set(state) - HISTORY_STATE - {'statistics_methods'})
    if extra or not HISTORY_STATE <= set(state):
        raise RefusedByRules(
            f'HistoryBuffer attribute(s) {extra or sorted(HISTORY_STATE - set(state))}: '
            f'its state is exactly {sorted(HISTORY_STATE)} (+ statistics_methods)')
    if type(state['max_length']) is not int or state['max_length'] < 1:
        raise RefusedByRules(f'HistoryBuffer.max_length: expected a positive int, got '
                             f'{_name(state["max_length"])}')
    logs, counts = state['_log_history'], state['_count_history']
    for key, value in (('_log_history', logs), ('_count_history', counts)):
        if type(value) is not np.ndarray or value.ndim != 1 or value.dtype.kind not in 'biuf':
            raise RefusedByRules(f'HistoryBuffer.{key}: expected a 1-d numeric numpy array, '
                                 f'got {_name(value)}')
    if len(logs) != len(counts):
        raise RefusedByRules('HistoryBuffer: _log_history and _count_history differ in length')
    methods = state.get('statistics_methods', {})
    if not isinstance(methods, dict) or any(
            k not in STATISTICS or v is not getattr(HistoryBuffer, k) for k, v in methods.items()):
        raise RefusedByRules(
            'HistoryBuffer.statistics_methods: mmengine writes these into the class, for every '
            f'buffer of the process; only its own {list(STATISTICS)} are accepted')


class _HistoryBufferFromCheckpoint(HistoryBuffer):
    """What ``mmengine.logging.history_buffer.HistoryBuffer`` means inside a checkpoint.

    The unpickler creates it without ``__init__`` and hands it its state; the state is
    checked (:func:`_check_history_state`), then the object becomes a plain ``HistoryBuffer``,
    so what comes out (and what a later save writes) is mmengine's own class.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RefusedByRules('HistoryBuffer(...) call: a checkpoint rebuilds a HistoryBuffer '
                             'from its state only')

    def __setstate__(self, state: dict) -> None:
        _check_history_state(state)
        self.__class__ = HistoryBuffer
        # what mmengine's __setstate__ does, minus the update of the class-wide methods
        # (checked above to be the defaults, which this registers)
        self._set_default_statistics()
        self.__dict__.update({k: state[k] for k in HISTORY_STATE})


def _check_dtype(dtype: object, where: str) -> np.dtype:
    if not isinstance(dtype, np.dtype) or dtype.kind not in DTYPE_KINDS or dtype.hasobject \
            or dtype.fields is not None or dtype.subdtype is not None:
        raise RefusedByRules(f'{where}: numpy dtype {dtype!r}; a checkpoint may hold numbers, '
                             'booleans and strings only (no object, void, structured or '
                             'datetime dtypes)')
    return dtype


def plain_dtype(spec: object, align: bool = False, copy: bool = False) -> np.dtype:
    """``numpy.dtype`` as pickles call it (``dtype('f8', False, True)``), data kinds only."""
    if type(spec) is not str:
        raise RefusedByRules(f'numpy.dtype({_name(spec)}): expected a type string')
    return _check_dtype(np.dtype(spec, align=bool(align), copy=bool(copy)), 'numpy.dtype')


def plain_scalar(dtype: object, *data: Any) -> np.generic:
    """``numpy...multiarray.scalar``: a numpy scalar of a data dtype."""
    return np._core.multiarray.scalar(_check_dtype(dtype, 'numpy scalar'), *data)


def plain_ndarray(subtype: object, shape: object, dtype: object) -> np.ndarray:
    """``numpy...multiarray._reconstruct``: an empty ``numpy.ndarray`` that BUILD then fills
    (with a dtype checked by :func:`plain_dtype`)."""
    if subtype is not np.ndarray:
        raise RefusedByRules(f'numpy _reconstruct({_name(subtype)}): only numpy.ndarray')
    return np._core.multiarray._reconstruct(np.ndarray, shape, dtype)


def empty_bytes(*args: Any) -> bytes:
    """``builtins.bytes`` as protocol 2 calls it: ``bytes()`` for ``b''`` (other bytes are
    written through ``_codecs.encode``, which torch allows itself)."""
    if args:
        raise RefusedByRules(f'bytes() with {len(args)} argument(s): a checkpoint writes '
                             "b'' as bytes() only")
    return b''


def _safe_globals() -> List[Tuple[Callable, str]]:
    """The ``(replacement, 'module.name')`` pairs registered with torch."""
    dtype_classes = [type(np.dtype(c)) for c in np.typecodes['All']
                     if np.dtype(c).kind in DTYPE_KINDS]
    pairs = [(plain_dtype, 'numpy.dtype'), (np.ndarray, 'numpy.ndarray'),
             (empty_bytes, 'builtins.bytes'), (history_buffer_getattr, 'builtins.getattr'),
             (_HistoryBufferFromCheckpoint, 'mmengine.logging.history_buffer.HistoryBuffer')]
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):  # numpy 2 / numpy 1
        pairs += [(plain_ndarray, f'{module}._reconstruct'), (plain_scalar, f'{module}.scalar')]
    # BUILD (setting a dtype's state) needs the dtype's class among the allowlisted values;
    # called, a dtype class only makes that dtype
    pairs += [(cls, f'{cls.__module__}.{cls.__qualname__}') for cls in dict.fromkeys(dtype_classes)]
    return pairs


#: built once: the same objects every time, which identity checks rely on
SAFE_GLOBALS: List[Tuple[Callable, str]] = _safe_globals()


def install_checkpoint_rules() -> None:
    """Register :data:`SAFE_GLOBALS` with torch and :func:`safe_load` as mmengine's loader
    for local files (idempotent)."""
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
    CheckpointLoader.register_scheme(prefixes='', loader=_mmengine_local_loader, force=True)


def _conflicting_registrations() -> List[str]:
    """Our names registered by someone else too (torch would pick either at random)."""
    ours = {name: fn for fn, name in SAFE_GLOBALS}
    found = []
    for entry in torch.serialization.get_safe_globals():
        fn, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        if name in ours and fn is not ours[name]:
            found.append(f'{name} -> {_name(fn)}')
    return found


def _walk(obj: Any, path: str) -> Iterator[Tuple[Any, str]]:
    """Every object reachable from ``obj`` once, with where it was found."""
    seen, stack = set(), [(obj, path)]
    while stack:
        item, where = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item, where
        if isinstance(item, dict):
            for k, v in item.items():
                stack.append((k, f'{where} key {k!r}'))
                stack.append((v, f'{where}[{k!r}]'))
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack += [(v, f'{where}[{i}]') for i, v in enumerate(item)]
        if type(item) in (OrderedDict, Counter, HistoryBuffer):
            stack += [(v, f'{where}.{k}') for k, v in vars(item).items()]


_LEAVES = (str, bytes, bytearray, int, float, complex, bool, type(None), torch.dtype,
           torch.device, torch.layout, torch.memory_format, torch.qscheme)
_CONTAINERS = (dict, list, tuple, set, frozenset, torch.Size)


def check_loaded(obj: Any, path: str = 'checkpoint') -> Any:
    """Refuse (``RefusedByRules``, naming where) anything but plain data in a loaded
    checkpoint; return it unchanged."""
    for item, where in _walk(obj, path):
        kind = type(item)
        if kind in _LEAVES or kind in _CONTAINERS:
            continue
        if kind in (OrderedDict, Counter):
            extra = sorted(set(vars(item)) - (ORDERED_DICT_STATE if kind is OrderedDict else set()))
            if extra:
                raise RefusedByRules(f'{where}: {kind.__name__} with attribute(s) {extra} '
                                     '(an instance attribute shadows its methods)')
        elif kind in (torch.Tensor, torch.nn.Parameter):
            if vars(item):
                raise RefusedByRules(f'{where}: tensor with attribute(s) {sorted(vars(item))}')
        elif kind is HistoryBuffer:
            _check_history_state(dict(vars(item)))
        elif kind is np.ndarray:
            _check_dtype(item.dtype, where)
        elif isinstance(item, np.generic):
            _check_dtype(item.dtype, where)
        elif isinstance(item, np.dtype):
            _check_dtype(item, where)
        else:
            raise RefusedByRules(f'{where}: {_name(item)} is not checkpoint data')
    return obj


def _reason(error: BaseException) -> Optional[str]:
    """The line of torch's weights-only message that says what was refused."""
    for line in str(error).splitlines():
        if REFUSED in line or 'GLOBAL' in line or 'Trying to call reduce' in line \
                or 'Can only' in line:
            return line.strip().removeprefix('WeightsUnpickler error: ')
    return None


def safe_load(path: str, map_location: Any = 'cpu') -> Any:
    """``torch.load(path, weights_only=True)`` under the rules above, then
    :func:`check_loaded`; errors are :class:`CheckpointError` naming the file and, for a
    refused file, the refused global, call or attribute."""
    conflicts = _conflicting_registrations()
    if conflicts:
        raise CheckpointError(
            f'{path}: not loaded: torch.serialization.add_safe_globals also registers '
            f'{conflicts} unrestricted in this process, which would undo '
            'litehrnet_mmpose\'s checkpoint rules')
    try:
        # explicit weights_only=True: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot override it
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
        return check_loaded(ckpt)
    except pickle.UnpicklingError as e:
        reason = _reason(e)
        if reason is None:  # e.g. "Unsupported operand": these bytes are no pickle at all
            raise CheckpointError(f'{path}: not a PyTorch checkpoint ({e})') from e
        raise UnsafeCheckpointError(
            f'{path}: cannot be loaded weights-only, which never runs code from the file '
            f'({reason}). If you trust this file, rewrite it once as plain tensors with '
            'tools/convert_checkpoint.py --unsafe-load') from e
    except Exception as e:  # torch raises RuntimeError, EOFError, KeyError, ... here
        raise CheckpointError(f'{path}: not a readable PyTorch checkpoint (truncated, or '
                              f'another kind of file): {type(e).__name__}: {e}') from e


def _mmengine_local_loader(filename: str, map_location: Any = None) -> Any:
    """mmengine's ``load_from_local`` (every local ``load_from``, ``--resume`` and
    ``PretrainedInit`` of the Runner), through :func:`safe_load`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    print_log(f'loading {filename} under litehrnet_mmpose\'s checkpoint rules',
              logger='current', level=logging.DEBUG)
    return safe_load(filename, map_location)
