"""Installing the package into an environment that has the OpenMMLab stack adds nothing else."""
import subprocess
import sys
from pathlib import Path

import pytest

from litehrnet_mmpose import __version__

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # runs pip
def test_editable_install_needs_nothing_beyond_the_stack() -> None:
    # --no-index: every requirement must already be satisfied here; --dry-run: change nothing.
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--dry-run', '--no-index',
         '--no-build-isolation', '-e', str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    would = [line for line in proc.stdout.splitlines() if line.startswith('Would install')]
    assert would and would[0].split()[2:] == [f'litehrnet_mmpose-{__version__}'], would
