"""Runner hooks."""
from .hooks import StrictCheckpointHook, ValidateBeforeTrainHook

__all__ = ["StrictCheckpointHook", "ValidateBeforeTrainHook"]
