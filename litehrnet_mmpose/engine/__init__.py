"""Runner hooks, model wrappers, the atomic checkpoint backend and safe checkpoint loading."""
from .checkpoint_rules import (CheckpointError, UnsafeCheckpointError, install_checkpoint_rules,
                               safe_load)
from .fileio import AtomicLocalBackend, atomic_write
from .hooks import EpochSeedHook, FiniteLossHook, StrictCheckpointHook, ValidateBeforeTrainHook
from .wrappers import CPUDistributedDataParallel

__all__ = [
    'AtomicLocalBackend', 'CPUDistributedDataParallel', 'CheckpointError', 'EpochSeedHook',
    'FiniteLossHook', 'StrictCheckpointHook', 'UnsafeCheckpointError',
    'ValidateBeforeTrainHook', 'atomic_write', 'install_checkpoint_rules', 'safe_load'
]
