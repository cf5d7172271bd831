"""Hooks for mmengine's Runner."""
from typing import Dict, Optional, Sequence

from mmengine.hooks import Hook
from mmengine.runner import Runner

from ..apis.checkpoint import check_fits, state_dict_of
from ..registry import HOOKS


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Validate once before the first training iteration, and summarise before vs after.

    The log then shows the untrained model's metrics ("Epoch(val) [0]") and, at the end of
    training, one line comparing them with the last validation's, which is what makes a
    short training run's effect visible. Skipped when resuming.
    """

    def __init__(self, keys: Optional[Sequence[str]] = None) -> None:
        """``keys``: the metrics to summarise (all of them when None)."""
        self.keys = None if keys is None else list(keys)
        self.before: Optional[Dict[str, float]] = None
        self.last: Optional[Dict[str, float]] = None

    def before_train(self, runner: Runner) -> None:
        if runner.val_loop is not None and runner.iter == 0:
            runner.val_loop.run()

    def after_val_epoch(self, runner: Runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if metrics:
            if self.before is None:
                self.before = dict(metrics)
            self.last = dict(metrics)

    def after_train(self, runner: Runner) -> None:
        if self.before is None or self.last is None:
            return
        keys = self.keys if self.keys is not None else list(self.last)
        parts = [f'{k}: {self.before[k]:.4f} -> {self.last[k]:.4f}' for k in keys
                 if k in self.before and k in self.last]
        runner.logger.info('validation before -> after training: ' + ', '.join(parts))


@HOOKS.register_module()
class StrictCheckpointHook(Hook):
    """Refuse a ``load_from`` / ``tools/test.py`` checkpoint that does not fit the model.

    mmengine loads with ``strict=False`` and only logs mismatches, so a wrong checkpoint
    silently leaves part of the model random. This stops with a report of missing,
    unexpected and shape-mismatched keys instead (and points official checkpoints to the
    converter).
    """

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        check_fits(model, state_dict_of(checkpoint), runner._load_from or 'checkpoint')
