"""Packaging for litehrnet_mmpose, a Lite-HRNet plugin for MMPose 1.x / mmsegmentation 1.x."""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def version() -> str:
    """Read ``__version__`` without importing the package (its imports need torch)."""
    for line in (ROOT / 'litehrnet_mmpose' / 'version.py').read_text().splitlines():
        if line.startswith('__version__'):
            return line.split('=')[1].strip().strip('\'"')
    raise RuntimeError('no __version__ in litehrnet_mmpose/version.py')


setup(
    name='litehrnet_mmpose',
    version=version(),
    description='Lite-HRNet backbones (CVPR 2021) for MMPose 1.x and mmsegmentation 1.x',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    # litehrnet_runtime (runtime/: the torch-free inference, which the tools and apis use) is
    # its own distribution, installed beside this one: `pip install -e runtime -e .`
    # (tools/setup_env.sh); `pip install ./runtime` installs it alone (numpy, OpenCV, ORT).
    packages=find_packages(include=['litehrnet_mmpose', 'litehrnet_mmpose.*']),
    # Ranges, not pins: ``pip install -e .`` must accept an existing OpenMMLab stack. The
    # exact pins measured on Python 3.11 live in requirements/ (tools/setup_env.sh).
    # MMPose (>=1.1,<1.4) is required but not declared: its metadata requires chumpy, which
    # does not build on current Pythons, so pip would fail on a working installation. It is
    # installed with --no-deps (tools/setup_env.sh); importing this package without it fails
    # with ModuleNotFoundError: mmpose.
    install_requires=[
        'torch>=2.0',
        'numpy',
        'mmengine>=0.10.0,<1.0',
        'mmcv>=2.0.0,<2.2.0',
    ],
    extras_require={
        'seg': ['mmsegmentation>=1.2.0,<1.3'],
        'deploy': ['onnx', 'onnxruntime'],
        'openvino': ['openvino'],
        'tests': ['pytest'],
    },
    zip_safe=False,
)
