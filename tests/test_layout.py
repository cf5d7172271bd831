"""The package's layout: imports run one way (tools -> apis -> engine / deploy / analysis
-> models -> registry), models/ never reaches into deploy/, files stay small."""
import ast
from pathlib import Path
from typing import Iterator, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'litehrnet_mmpose'
NAME = PACKAGE.name

#: Room -> layer; a module may import its own room and rooms of lower layers only.
LAYERS = {
    'registry': 0, 'version': 0, 'utils': 0,
    'models': 1,
    'engine': 2, 'deploy': 2, 'analysis': 2, 'datasets': 2, 'visualization': 2, 'seg': 2,
    'apis': 3,
    '__init__': 4,  # the package root: registrations and the public names
}
MAX_LINES = 350


def room_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix('.py')


def package_imports(source: str, module: Tuple[str, ...]) -> Iterator[Tuple[int, str]]:
    """(line, imported room) for every import of this package, at any depth, in the
    ``source`` of ``module`` (its dotted path as parts, ``__init__`` for a package)."""
    package = module[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            target = base + (node.module.split('.') if node.module else [])
            if target[:1] == [NAME]:
                rooms = [target[1]] if len(target) > 1 else [a.name for a in node.names]
                yield from ((node.lineno, room) for room in rooms)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name.split('.')
                if target[0] == NAME and len(target) > 1:
                    yield node.lineno, target[1]


def imports_of(path: Path) -> Iterator[Tuple[int, str]]:
    return package_imports(path.read_text(), path.relative_to(PACKAGE.parent).with_suffix('').parts)


def wrong_arrows(room: str, imports: Iterator[Tuple[int, str]]) -> list:
    return [f'line {line} imports {target}' for line, target in imports
            if target != room and LAYERS.get(target, 99) >= LAYERS[room]]


SOURCES = sorted(PACKAGE.rglob('*.py'))


def test_every_room_has_a_layer() -> None:
    assert {room_of(p) for p in SOURCES} <= set(LAYERS), 'add new rooms to LAYERS'


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    assert not wrong_arrows(room_of(path), imports_of(path)), path


@pytest.mark.parametrize('source, expected', [
    ('from ..deploy import switch_to_deploy', ['line 1 imports deploy']),
    ('from litehrnet_mmpose.apis import x', ['line 1 imports apis']),
    ('import litehrnet_mmpose.engine.hooks', ['line 1 imports engine']),
    ('def f():\n    from .. import deploy', ['line 2 imports deploy']),
    ('from ..registry import MODELS\nfrom .fusion import F\nfrom . import tensor_ops', []),
])
def test_the_checker_flags_upward_arrows(source: str, expected: list) -> None:
    """The checker itself, on a would-be ``litehrnet_mmpose/models/example.py``."""
    module = (NAME, 'models', 'example')
    assert wrong_arrows('models', package_imports(source, module)) == expected


def test_models_delegate_to_deploy_once() -> None:
    """``LiteHRNet.switch_to_deploy`` (MMPose calls it on every submodule that has one) is
    the only way from models/ to deploy/: by name, not by import."""
    calls = []
    for path in (PACKAGE / 'models').glob('*.py'):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef):
                calls += [(path.name, fn.name) for node in ast.walk(fn)
                          if isinstance(node, ast.Attribute) and node.attr == 'import_module']
    assert calls == [('litehrnet.py', 'switch_to_deploy')]


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_files_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


# ------------------------------------------------------------------ the torch-free runtime
RUNTIME = PACKAGE.parent / 'runtime' / 'litehrnet_runtime'
RUNTIME_SOURCES = sorted(RUNTIME.glob('*.py'))
#: What the runtime may import besides the standard library (its pyproject dependencies).
RUNTIME_DEPS = {'numpy', 'cv2', 'onnxruntime', 'openvino'}


def top_level_imports(source: str) -> Iterator[Tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``source``, at any depth."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and not node.level:
            yield node.lineno, node.module.split('.')[0]
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name.split('.')[0]) for a in node.names)


@pytest.mark.parametrize('path', RUNTIME_SOURCES, ids=lambda p: p.name)
def test_runtime_imports_only_its_dependencies(path: Path) -> None:
    """litehrnet_runtime imports the standard library, numpy, OpenCV and the runtimes, never
    torch or OpenMMLab (tests/test_runtime_torch_free.py runs it with those blocked)."""
    import sys
    bad = [f'line {line} imports {name}' for line, name in top_level_imports(path.read_text())
           if name not in RUNTIME_DEPS and name not in sys.stdlib_module_names]
    assert not bad
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_runtime_install_pulls_only_numpy_opencv_onnxruntime() -> None:
    import tomllib
    project = tomllib.loads((RUNTIME.parent / 'pyproject.toml').read_text())['project']
    assert project['dependencies'] == ['numpy', 'opencv-python-headless>=4.8,<5', 'onnxruntime']
    assert project['optional-dependencies'] == {'openvino': ['openvino']}


def test_the_runtime_checker_flags_torch() -> None:
    assert [n for _, n in top_level_imports('def f():\n    import torch.nn\n')] == ['torch']
