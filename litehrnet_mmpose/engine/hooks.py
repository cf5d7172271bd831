"""Hooks for mmengine's Runner."""
import os.path as osp
import random
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.hooks.hook import DATA_BATCH
from mmengine.runner import Runner

from ..registry import HOOKS
from .state_dicts import check_fits, state_dict_of


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Validate once before the first training iteration, and summarise before vs after.

    The log then shows the untrained model's metrics ("Epoch(val) [0]") and, at the end of
    training, one line comparing them with the last validation's, which is what makes a
    short training run's effect visible. A resumed run has no "before" (the validation is
    skipped) and a run may end without a validation after training started: the line then
    reports the one validation there was, never a result compared with itself.
    """

    def __init__(self, keys: Optional[Sequence[str]] = None) -> None:
        """``keys``: the metrics to summarise (all of them when None)."""
        self.keys = None if keys is None else list(keys)
        self.before: Optional[Dict[str, float]] = None
        self.last: Optional[Dict[str, float]] = None
        self._validating_before = False

    def before_train(self, runner: Runner) -> None:
        if runner.val_loop is not None and runner.iter == 0:
            self._validating_before = True
            try:
                runner.val_loop.run()
            finally:
                self._validating_before = False

    def after_val_epoch(self, runner: Runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if metrics:
            if self._validating_before:
                self.before = dict(metrics)
            else:
                self.last = dict(metrics)

    def _format(self, metrics: Dict[str, float]) -> str:
        keys = self.keys if self.keys is not None else list(metrics)
        return ', '.join(f'{k}: {metrics[k]:.4f}' for k in keys if k in metrics)

    def after_train(self, runner: Runner) -> None:
        if self.before is not None and self.last is not None:
            keys = self.keys if self.keys is not None else list(self.last)
            parts = [f'{k}: {self.before[k]:.4f} -> {self.last[k]:.4f}' for k in keys
                     if k in self.before and k in self.last]
            runner.logger.info('validation before -> after training: ' + ', '.join(parts))
        elif self.last is not None:
            runner.logger.info('validation after training: ' + self._format(self.last) +
                               ' (no validation before training in this run: resumed)')
        elif self.before is not None:
            runner.logger.info('validation before training: ' + self._format(self.before) +
                               ' (no validation ran after training started)')


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


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit seed for one epoch, well mixed from the run's seed and the epoch."""
    return int(np.random.SeedSequence([seed % 2**32, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Reseed Python's, numpy's and torch's global generators at the start of every epoch
    from ``(runner.seed, epoch)``, which makes ``--resume`` exact.

    mmengine's checkpoints keep the seed but not the generators' states, and the sampler
    reseeds itself per epoch but the data augmentation does not: a run resumed from
    ``epoch_N.pth`` draws different flips, half-body crops and box jitter from an
    uninterrupted one (and validation, which runs between the checkpoint and the next
    epoch, advances torch's generator). Reseeding per epoch makes every epoch's random
    stream a function of the seed and the epoch number only. Data-loading workers are
    seeded by mmengine's ``worker_init_fn`` (from the seed, rank and worker id) and are
    unaffected.
    """

    priority = 'HIGHEST'

    def before_train_epoch(self, runner: Runner) -> None:
        seed = epoch_seed(runner.seed, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # all devices


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first NaN / Inf loss, before a checkpoint can store it.

    The error names the iteration, the loss terms and the last checkpoint written, which
    holds finite weights. Checkpoints are also refused if any weight or buffer is not
    finite (a step on a finite loss can still overflow). mmengine's
    ``CheckInvalidLossHook`` checks only every 50 iterations, with a bare ``assert``.
    """

    # before the logger and the checkpoint hook (BELOW_NORMAL, VERY_LOW)
    priority = 'ABOVE_NORMAL'

    def after_train_iter(self,
                         runner: Runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        losses = {k: v for k, v in (outputs or {}).items() if k.startswith('loss')}
        bad = {k: float(v) for k, v in losses.items() if not torch.isfinite(v).all()}
        if bad:
            raise FloatingPointError(
                f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
                f'batch {batch_idx + 1}): {bad}; training stopped before saving it. '
                f'{self._last_good(runner)}')

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        bad = [k for k, v in checkpoint.get('state_dict', {}).items()
               if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise FloatingPointError(
                f'non-finite weights after iteration {runner.iter} ({len(bad)} tensors, e.g. '
                f'{bad[:3]}); not saving them. {self._last_good(runner)}')

    @staticmethod
    def _last_good(runner: Runner) -> str:
        last = runner.message_hub.get_info('last_ckpt')
        if last and osp.isfile(last):
            return f'Last good checkpoint: {last} (resume with --resume {last}).'
        return 'No checkpoint was saved before.'
