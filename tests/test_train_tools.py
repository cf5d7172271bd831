"""tools/train.py and tools/dist_train.sh on the real COCO and MPII configs, retargeted
from the command line at the bundled sample data: 2 iterations of training, one evaluation."""
import re
import sys
from pathlib import Path
from typing import List

import pytest

from .helpers import COCO, MPII, free_port, run

pytestmark = pytest.mark.slow  # every test here runs tools/ in subprocesses


@pytest.mark.parametrize('config,options,metric', [COCO, MPII], ids=['coco', 'mpii'])
def test_train_two_iterations_and_evaluate(config: str, options: List[str], metric: str,
                                           tmp_path: Path) -> None:
    log = run([sys.executable, 'tools/train.py', config, '--work-dir', str(tmp_path),
               '--cfg-options', *options])
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-3000:]
    assert re.search(metric, log), log[-3000:]
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_dist_train_and_test_two_cpu_processes(tmp_path: Path) -> None:
    """torchrun with 2 processes on the CPU (gloo): each rank trains on half the data, then
    both evaluate the checkpoint."""
    config, options, metric = COCO
    log = run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(tmp_path),
               '--cfg-options', *options], PYTHON=sys.executable, PORT=str(free_port()))
    assert 'Distributed launcher: pytorch' in log and 'GPU number: 2' in log, log[-3000:]
    assert "'backend': 'gloo'" in log
    # 14 people, 7 per batch and 2 ranks: one iteration per rank per epoch.
    assert re.search(r'Epoch\(train\)\s+\[1\]\[1/1\]', log), log[-3000:]
    assert re.search(metric, log)
    assert (tmp_path / 'epoch_1.pth').is_file()
    # dist_test.sh evaluates that checkpoint with the same 2 processes.
    log = run(['bash', 'tools/dist_test.sh', config, str(tmp_path / 'epoch_1.pth'), '2',
               '--work-dir', str(tmp_path / 'test'), '--cfg-options', *options],
              PYTHON=sys.executable, PORT=str(free_port()))
    assert 'GPU number: 2' in log and re.search(metric, log), log[-3000:]
