"""Crafted checkpoints, tried as an attacker would: each tries to run code (or to change the
process) through one allowlisted type or one later consumer of a loaded checkpoint.

Every test asserts that nothing ran (a marker file is never created, HistoryBuffer's
class-wide statistics are untouched) and that the error names the refused global, call or
attribute. The exploit payloads are shown live first: under plain unpickling, or under the
allowlist this project registered before (raw ``builtins.getattr`` and ``HistoryBuffer``),
the same file does create the marker.
"""
import copy
import copyreg
import pickle
import re
import runpy
import shutil
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator, List

import _compat_pickle
import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

from litehrnet_mmpose.apis.checkpoint import (CheckpointError, find_resume_checkpoint,
                                              read_checkpoint)
from litehrnet_mmpose.apis.cli import apply_resume
from litehrnet_mmpose.engine import checkpoint_rules as rules
from litehrnet_mmpose.engine.checkpoint_rules import UnsafeCheckpointError

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / 'configs/quickstart/litehrnet_18_sample_coco_256x192.py')


class Call:
    """Pickles as ``func(*args)`` (REDUCE), as a crafted file would write it."""

    def __init__(self, func: Callable, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


class Built:
    """Pickles as ``cls.__new__(cls)`` then ``BUILD`` with ``state`` (NEWOBJ), the way
    ``HistoryBuffer`` and ``OrderedDict`` objects are written."""

    def __init__(self, cls: type, state: dict, items: Any = None) -> None:
        self.cls, self.state, self.items = cls, state, items

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # pickle checks that __newobj__'s class is the object's
        return self.cls

    def __reduce__(self) -> tuple:
        return copyreg.__newobj__, (self.cls,), self.state, None, self.items


def builtin(name: str) -> Call:
    """Any builtin, reached through ``getattr``: ``getattr(getattr.__self__, name)``."""
    return Call(getattr, Call(getattr, getattr, '__self__'), name)


def run_code(marker: Path) -> tuple:
    """``(exec, (source,))``: what ``copy.deepcopy`` calls when ``__reduce_ex__`` returns it."""
    return builtin('exec'), (f'open({str(marker)!r}, "w").close()',)


def history(**extra: Any) -> dict:
    """A real HistoryBuffer's pickled state (as ``HistoryBuffer.__getstate__`` writes it)."""
    state = dict(HistoryBuffer([0.5, 0.25], [1, 1]).__getstate__())
    state.update(extra)
    return state


def statistic(name: str) -> Call:
    """``getattr(HistoryBuffer, name)``: how protocol 2 writes ``HistoryBuffer.mean``."""
    return Call(getattr, HistoryBuffer, name)


def mmengine_checkpoint(runtime_info: dict = None, **top: Any) -> dict:
    """The shape of a Runner's checkpoint: meta with numpy, weights, the message hub."""
    hub = MessageHub('ckpt-test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_info('iter', 3)
    state = hub.state_dict()
    state['runtime_info'].update(runtime_info or {})
    state['resumed_keys'].update({k: True for k in runtime_info or {}})
    ckpt = {'meta': {'epoch': 1, 'iter': 3, 'seed': 7,
                     'dataset_meta': {'sigmas': np.array([0.026, 0.025], np.float32),
                                      'flip_indices': [1, 0]}},
            'state_dict': OrderedDict(w=torch.zeros(2)), 'message_hub': state}
    ckpt.update(top)
    return ckpt


def save(tmp_path: Path, obj: Any, name: str = 'crafted.pth') -> str:
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


@pytest.fixture
def marker(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / 'code_ran'
    yield path
    assert not path.exists(), 'code from the checkpoint ran'


@pytest.fixture
def restore_statistics() -> Iterator[None]:
    saved = dict(HistoryBuffer._statistics_methods)
    yield
    assert HistoryBuffer._statistics_methods == saved, 'the file changed HistoryBuffer'
    HistoryBuffer._statistics_methods.clear()
    HistoryBuffer._statistics_methods.update(saved)


def refused(load: Callable[[], Any], *names: str) -> str:
    """``load()`` raises a CheckpointError that names every one of ``names``."""
    with pytest.raises(CheckpointError) as info:
        load()
    message = str(info.value)
    assert isinstance(info.value, UnsafeCheckpointError), message
    for name in names:
        assert name in message, (name, message)
    return message


def under_old_rules(path: str) -> Any:
    """Load as this project did before: raw ``builtins.getattr`` and ``HistoryBuffer``."""
    from numpy._core.multiarray import _reconstruct, scalar
    old = [_reconstruct, scalar, np.ndarray, np.dtype, bytes, getattr, HistoryBuffer,
           *[type(np.dtype(c)) for c in np.typecodes['All'] if c not in 'Oc']]
    torch.serialization.clear_safe_globals()
    try:
        with torch.serialization.safe_globals(old):
            return torch.load(path, weights_only=True)
    finally:
        rules.install_checkpoint_rules()


# the loading paths a crafted file can be given to; each must refuse it the same way
LOADERS = {
    'read_checkpoint': read_checkpoint,
    'torch.load': lambda p: rules.safe_load(p),
    # mmengine's own loading (Runner.load_checkpoint / resume, load_from, PretrainedInit):
    # what MMPose's tools/train.py and tools/test.py use with our configs
    'mmengine': lambda p: _load_checkpoint(p, map_location='cpu'),
    'apply_resume': lambda p: apply_resume(_config(), p),
}


def _config() -> Any:
    from mmengine.config import Config
    return Config(dict(work_dir='.', randomness=dict(seed=1)))


# ------------------------------------------------------------ the reported exploit


def test_reported_exploit_runs_code_under_the_old_rules_only(tmp_path: Path, marker: Path,
                                                             restore_statistics: None) -> None:
    """A real checkpoint plus one runtime_info entry: a HistoryBuffer whose ``__reduce_ex__``
    is ``{4: (exec, (code,))}.get``; MessageHub.load_state_dict deep-copies it."""
    gadget = Built(HistoryBuffer, history(__reduce_ex__=Call(getattr, {4: run_code(marker)},
                                                             'get')))
    path = save(tmp_path, mmengine_checkpoint({'evil': gadget}))
    MessageHub('old').load_state_dict(under_old_rules(path)['message_hub'])
    assert marker.exists()  # the payload is live: the old allowlist ran it
    marker.unlink()
    for name, load in LOADERS.items():
        refused(lambda: load(path), path, "getattr(builtins.getattr, '__self__')")
    with pytest.raises(pickle.UnpicklingError, match="getattr.builtins.getattr, '__self__'"):
        torch.load(path)  # a bare weights-only torch.load in this process: same rules


def test_auto_resume_refuses_an_unsafe_checkpoint_instead_of_passing_over_it(
        tmp_path: Path, marker: Path) -> None:
    torch.save(mmengine_checkpoint(), tmp_path / 'epoch_1.pth')
    crafted = mmengine_checkpoint({'evil': builtin('exec')})
    torch.save(crafted, tmp_path / 'epoch_2.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    refused(lambda: find_resume_checkpoint(str(tmp_path)), 'epoch_2.pth', 'getattr')


# ------------------------------------------------------------ builtins.getattr


@pytest.mark.parametrize('owner, name, shown', [
    (getattr, '__self__', "getattr(builtins.getattr, '__self__')"),  # -> the builtins module
    (HistoryBuffer, 'register_statistics', "'register_statistics'"),
    (HistoryBuffer, '__init__', "'__init__'"),
    (HistoryBuffer, '__class__', "'__class__'"),
    ({'k': 1}, 'get', "getattr(a dict object, 'get')"),
    (np.ndarray, 'mean', "getattr(numpy.ndarray, 'mean')"),
])
def test_getattr_gives_nothing_but_statistic_methods(tmp_path: Path, marker: Path,
                                                     owner: Any, name: str, shown: str) -> None:
    path = save(tmp_path, mmengine_checkpoint(meta=Call(getattr, owner, name)))
    for load in LOADERS.values():
        refused(lambda: load(path), shown, str(list(rules.STATISTICS)))


def test_getattr_statistic_methods_still_load_inside_a_history_buffer(tmp_path: Path) -> None:
    buffer = HistoryBuffer([1.0, 3.0], [1, 1])
    path = save(tmp_path, mmengine_checkpoint(extra={'loss': buffer}))
    loaded = read_checkpoint(path)['extra']['loss']
    assert type(loaded) is HistoryBuffer and loaded.mean() == 2.0 and loaded.max() == 3.0
    assert vars(loaded).keys() == rules.HISTORY_STATE
    assert b'getattr' in pickle.dumps(buffer, protocol=2)  # the form the rule is for


# ------------------------------------------------------------ HistoryBuffer


@pytest.mark.parametrize('attribute', ['__reduce_ex__', '__deepcopy__', '__setstate__',
                                       '__reduce__', 'statistics', 'mean', 'update'])
def test_history_buffer_refuses_method_shadowing_attributes(tmp_path: Path, marker: Path,
                                                            attribute: str) -> None:
    """The reported exploit's shape with only allowed callables: an instance attribute
    would be called by deepcopy / the logger instead of the method."""
    gadget = Built(HistoryBuffer, history(**{attribute: statistic('mean')}))
    path = save(tmp_path, mmengine_checkpoint({'evil': gadget}))
    for load in LOADERS.values():
        refused(lambda: load(path), f"HistoryBuffer attribute(s) ['{attribute}']")


def test_history_buffer_statistics_cannot_be_replaced_for_the_process(
        tmp_path: Path, restore_statistics: None) -> None:
    """mmengine's __setstate__ writes ``statistics_methods`` into the class: a file could
    redirect every buffer's ``mean`` (what the logger calls) for the whole process."""
    swapped = Built(HistoryBuffer, history(statistics_methods={'mean': statistic('max')}))
    path = save(tmp_path, mmengine_checkpoint(extra={'loss': swapped}))
    under_old_rules(path)
    assert HistoryBuffer._statistics_methods['mean'] is HistoryBuffer.max  # it did, before
    HistoryBuffer._statistics_methods['mean'] = HistoryBuffer.mean
    for load in LOADERS.values():
        refused(lambda: load(path), 'HistoryBuffer.statistics_methods')
    assert HistoryBuffer._statistics_methods['mean'] is HistoryBuffer.mean
    added = Built(HistoryBuffer, history(statistics_methods={'evil': statistic('mean')}))
    refused(lambda: read_checkpoint(save(tmp_path, {'x': added}, 'b.pth')),
            'HistoryBuffer.statistics_methods')


@pytest.mark.parametrize('state, shown', [
    (history(_log_history=np.array([builtin('exec')], dtype=object)), "dtype('O')"),
    (history(_log_history=[0.5, 0.25]), 'HistoryBuffer._log_history'),
    (history(_count_history=np.ones((2, 2))), 'HistoryBuffer._count_history'),
    (history(max_length='1'), 'HistoryBuffer.max_length'),
    ({'max_length': 5}, "HistoryBuffer attribute(s) ['_count_history', '_log_history']"),
    ([1, 2], 'HistoryBuffer state: expected a dict'),
])
def test_history_buffer_state_is_exactly_its_own(tmp_path: Path, marker: Path, state: Any,
                                                 shown: str) -> None:
    path = save(tmp_path, mmengine_checkpoint(extra={'loss': Built(HistoryBuffer, state)}))
    refused(lambda: read_checkpoint(path), shown)


def test_history_buffer_is_never_called_nor_left_half_built(tmp_path: Path) -> None:
    called = save(tmp_path, {'x': Call(HistoryBuffer, [1.0], [1])}, 'called.pth')
    refused(lambda: read_checkpoint(called), 'HistoryBuffer(...) call')
    bare = save(tmp_path, {'x': Built(HistoryBuffer, None)}, 'bare.pth')  # NEWOBJ, no BUILD
    refused(lambda: read_checkpoint(bare), "checkpoint['x']", 'is not checkpoint data')


# ------------------------------------------------------------ numpy and bytes


@pytest.mark.parametrize('value, shown', [
    (np.array([1, 'a', None], dtype=object), "numpy.dtype: numpy dtype dtype('O')"),
    (np.zeros(2, dtype=[('a', 'f4'), ('b', 'i4')]), 'numpy.dtype'),
    (np.zeros(2, dtype='V8'), "dtype('V8')"),
    (np.array(['2020-01-01'], dtype='datetime64[D]'), "dtype('<M8')"),
    (Call(np._core.multiarray._reconstruct, HistoryBuffer, (0,), b'b'),
     'numpy _reconstruct(mmengine'),
    (Call(np.dtype, np.dtype('f4')), 'numpy.dtype(a Float32DType object)'),
    (Call(bytes, 10 ** 10), 'bytes() with 1 argument'),
])
def test_numpy_and_bytes_build_plain_data_only(tmp_path: Path, value: Any, shown: str) -> None:
    path = save(tmp_path, mmengine_checkpoint(extra=value))
    for load in LOADERS.values():
        refused(lambda: load(path), shown)


def test_dtype_state_cannot_turn_a_plain_dtype_into_an_object_one() -> None:
    """BUILD hands a dtype its state, flags included; the walk checks the result."""
    void = np.dtype('V8')
    void.__setstate__((3, '|', None, None, None, 8, 1, 63))  # what BUILD would do
    assert void.hasobject
    with pytest.raises(rules.RefusedByRules, match='V8'):
        rules.check_loaded({'d': void})
    with pytest.raises(rules.RefusedByRules, match="dtype..O.."):
        rules.plain_scalar(np.dtype('O'), object())


def test_numpy_data_still_loads_with_its_values(tmp_path: Path) -> None:
    meta = {'a': np.arange(6, dtype=np.int64).reshape(2, 3), 'e': np.zeros(0, np.float32),
            's': np.float64(0.65), 'b': np.bool_(True), 'u': np.array(['nose', 'eye']),
            'c': np.complex64(1j)}
    path = save(tmp_path, {'meta': meta})
    numpy1 = tmp_path / 'numpy1.pth'  # the same file as numpy 1 wrote it (numpy.core.*)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(numpy1, 'w') as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith('data.pkl'):
                assert data.count(b'numpy._core.multiarray') >= 2
                data = data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
            dst.writestr(item, data)
    for file in (path, str(numpy1)):
        loaded = read_checkpoint(file)['meta']
        for key, value in meta.items():
            assert type(loaded[key]) is type(value) and loaded[key].dtype == value.dtype
            np.testing.assert_array_equal(loaded[key], value)


# ------------------------------------------------------------ torch's own types


def test_ordered_dict_attributes_cannot_shadow_its_methods(tmp_path: Path,
                                                           marker: Path) -> None:
    """torch builds an OrderedDict's ``__dict__`` from the file; deepcopy then calls an
    instance-level ``__reduce_ex__``. Live under plain unpickling, refused here."""
    gadget = Built(OrderedDict, {'__reduce_ex__': Call(getattr, {4: run_code(marker)}, 'get')},
                   iter([('a', 1)]))
    live = pickle.loads(pickle.dumps(gadget, protocol=2))
    copy.deepcopy(live)
    assert marker.exists()
    marker.unlink()
    shadow = Built(OrderedDict, {'__reduce_ex__': statistic('mean')}, iter([('a', 1)]))
    path = save(tmp_path, mmengine_checkpoint({'evil': shadow}))
    for load in LOADERS.values():
        refused(lambda: load(path), "OrderedDict with attribute(s) ['__reduce_ex__']")
    # the one attribute torch itself gives a state_dict
    sd = torch.nn.Linear(2, 2).state_dict()
    assert vars(sd).keys() == {'_metadata'}
    assert read_checkpoint(save(tmp_path, {'state_dict': sd}, 'sd.pth'))['state_dict'].keys() \
        == sd.keys()


def test_tensor_attributes_and_smuggled_functions_are_refused(tmp_path: Path) -> None:
    tensor = torch.zeros(2)
    tensor.__deepcopy__ = 1  # pickled through torch._tensor._rebuild_from_type_v2
    path = save(tmp_path, {'state_dict': {'w': tensor}})
    refused(lambda: read_checkpoint(path), "tensor with attribute(s) ['__deepcopy__']")
    path = save(tmp_path, {'meta': {'f': statistic('mean')}}, 'f.pth')
    refused(lambda: read_checkpoint(path), "checkpoint['meta']['f']",
            'HistoryBuffer.mean is not checkpoint data')


def test_an_unrestricted_registration_elsewhere_is_detected(tmp_path: Path) -> None:
    path = save(tmp_path, mmengine_checkpoint())
    try:
        torch.serialization.add_safe_globals([getattr])
        with pytest.raises(CheckpointError, match='builtins.getattr -> builtins.getattr'):
            read_checkpoint(path)
    finally:
        torch.serialization.clear_safe_globals()
        rules.install_checkpoint_rules()
    assert read_checkpoint(path)['meta']['seed'] == 7


# ------------------------------------------------------------ the tools, in-process (slow)

# Tool and Runner runs: the slow lane. The rules they go through (read_checkpoint, mmengine's
# _load_checkpoint, apply_resume) refuse the same files in the fast tests above (LOADERS).


def run_tool(monkeypatch: pytest.MonkeyPatch, tool: str, *args: str) -> None:
    monkeypatch.setattr(sys, 'argv', [tool, *args])
    runpy.run_path(str(ROOT / 'tools' / tool), run_name='__main__')


def exploit(tmp_path: Path, marker: Path) -> str:
    gadget = Built(HistoryBuffer, history(__reduce_ex__=Call(getattr, {4: run_code(marker)},
                                                             'get')))
    return save(tmp_path, mmengine_checkpoint({'evil': gadget}))


@pytest.mark.slow
def test_converter_refuses_it_without_unsafe_load(tmp_path: Path, marker: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = exploit(tmp_path, marker)
    with pytest.raises(SystemExit) as info:
        run_tool(monkeypatch, 'convert_checkpoint.py', path, str(tmp_path / 'out.pth'))
    assert "getattr(builtins.getattr, '__self__')" in str(info.value)
    assert '--unsafe-load' in str(info.value) and not (tmp_path / 'out.pth').exists()


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['test.py', 'demo.py'])
def test_test_and_demo_tools_refuse_it(tmp_path: Path, marker: Path,
                                       monkeypatch: pytest.MonkeyPatch, tool: str) -> None:
    path = exploit(tmp_path, marker)
    args = [QUICKSTART, path, '--work-dir', str(tmp_path / 'w')] if tool == 'test.py' else [
        QUICKSTART, path, str(ROOT / 'samples/coco/images/000000196141.jpg'),
        '--out', str(tmp_path / 'out.png')]
    refused(lambda: run_tool(monkeypatch, tool, *args), "getattr(builtins.getattr")


@pytest.mark.slow
@pytest.mark.parametrize('resume', [True, False])
def test_runner_resume_and_load_from_refuse_it_before_training(tmp_path: Path, marker: Path,
                                                               resume: bool) -> None:
    """mmengine's Runner as MMPose's own tools drive it with our config: train.py --resume
    (``resume=True``), test.py CHECKPOINT and ``load_from`` (``resume=False``)."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    path = exploit(tmp_path, marker)
    cfg = Config.fromfile(QUICKSTART)
    cfg.work_dir, cfg.resume, cfg.load_from = str(tmp_path / 'w'), resume, path
    runner = Runner.from_cfg(cfg)
    refused(runner.load_or_resume, "getattr(builtins.getattr, '__self__')")
    assert runner.iter == 0


def globals_used(path: str) -> List[str]:
    """The GLOBAL names a checkpoint's pickle uses (``module.name``)."""
    import pickletools
    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith('data.pkl')))
    names = set()
    for op, arg, _ in pickletools.genops(data):
        if op.name == 'GLOBAL':  # protocol 2 writes Python 2's names: __builtin__.getattr
            module, name = arg.split(' ', 1)
            names.add(f'{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}')
    return sorted(names)


# ------------------------------------------------------------ real runs (slow)

# torch's own allowlist: what any weights-only file may name without us
TORCH_DEFAULT = {'collections.OrderedDict', 'torch._utils._rebuild_tensor_v2',
                 'torch._utils._rebuild_parameter', '_codecs.encode', 'torch.FloatStorage',
                 'torch.LongStorage', 'torch.IntStorage', 'torch.BoolStorage',
                 'torch.DoubleStorage', 'torch.ByteStorage', 'builtins.set'}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope='module')
def real_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart's own epoch_1.pth from tools/train.py."""
    work = tmp_path_factory.mktemp('real')
    proc = run('tools/train.py', QUICKSTART, '--work-dir', str(work), '--cfg-options',
               'train_cfg.max_epochs=1', 'default_hooks.checkpoint.interval=1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work / 'epoch_1.pth'


@pytest.mark.slow
def test_every_allowlisted_name_is_one_real_checkpoints_use(real_checkpoint: Path) -> None:
    """Read from the opcodes of a real Runner checkpoint: what it names beyond torch's own
    allowlist is what the rules register (numpy 1's names and ``bytes()`` for b'' are the
    same functions in older files and in empty arrays: see the numpy-1 and numpy tests)."""
    used = set(globals_used(str(real_checkpoint))) - TORCH_DEFAULT
    ours = {name for _, name in rules.SAFE_GLOBALS}
    assert used <= ours, used - ours
    assert {'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer',
            'numpy.dtype', 'numpy.ndarray', 'numpy._core.multiarray._reconstruct',
            'numpy._core.multiarray.scalar'} <= used, used
    ckpt = read_checkpoint(str(real_checkpoint))
    buffers = ckpt['message_hub']['log_scalars']
    assert buffers and all(type(b) is HistoryBuffer for b in buffers.values())
    assert all(np.isfinite(b.mean()) for b in buffers.values())


def crafted_from(real: Path, tmp_path: Path, marker: Path) -> str:
    """The report's recipe: a real epoch_N.pth plus one crafted runtime_info entry."""
    ckpt = read_checkpoint(str(real))
    ckpt['message_hub']['runtime_info']['evil'] = Built(
        HistoryBuffer, history(__reduce_ex__=Call(getattr, {4: run_code(marker)}, 'get')))
    ckpt['message_hub']['resumed_keys']['evil'] = True
    return save(tmp_path, ckpt)


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['ours', 'mmpose'])
def test_train_resume_of_a_crafted_checkpoint_is_refused_before_training(
        real_checkpoint: Path, tmp_path: Path, marker: Path, tool: str) -> None:
    """tools/train.py --resume, and MMPose's own tools/train.py with our config."""
    import mmpose
    crafted = crafted_from(real_checkpoint, tmp_path, marker)
    script = 'tools/train.py' if tool == 'ours' else str(
        Path(mmpose.__file__).parent / '.mim/tools/train.py')
    proc = run(script, QUICKSTART, '--work-dir', str(tmp_path / 'w'), '--resume', crafted,
               '--cfg-options', 'train_cfg.max_epochs=2')
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    assert "getattr(builtins.getattr, '__self__')" in log and crafted in log, log[-3000:]
    assert 'Epoch(train)' not in log and not (tmp_path / 'w/epoch_2.pth').exists()


@pytest.mark.slow
def test_mmpose_train_still_resumes_a_real_checkpoint(real_checkpoint: Path,
                                                      tmp_path: Path) -> None:
    import mmpose
    work = tmp_path / 'w'
    work.mkdir()
    shutil.copy(real_checkpoint, work / 'epoch_1.pth')
    proc = run(str(Path(mmpose.__file__).parent / '.mim/tools/train.py'), QUICKSTART,
               '--work-dir', str(work), '--resume', str(work / 'epoch_1.pth'),
               '--cfg-options', 'train_cfg.max_epochs=2', 'default_hooks.checkpoint.interval=1')
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1' in log and re.search(r'Epoch\(train\)\s+\[2\]', log), log[-3000:]
    assert (work / 'epoch_2.pth').is_file()
