"""Runner hooks, model wrappers and the atomic checkpoint backend."""
from .fileio import AtomicLocalBackend, atomic_write
from .hooks import (EpochSeedHook, FiniteLossHook, StrictCheckpointHook,
                    ValidateBeforeTrainHook)
from .wrappers import CPUDistributedDataParallel

__all__ = [
    'AtomicLocalBackend', 'CPUDistributedDataParallel', 'EpochSeedHook', 'FiniteLossHook',
    'StrictCheckpointHook', 'ValidateBeforeTrainHook', 'atomic_write'
]
