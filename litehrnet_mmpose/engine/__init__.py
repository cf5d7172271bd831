"""Runner hooks and model wrappers."""
from .hooks import StrictCheckpointHook, ValidateBeforeTrainHook
from .wrappers import CPUDistributedDataParallel

__all__ = ['CPUDistributedDataParallel', 'StrictCheckpointHook', 'ValidateBeforeTrainHook']
