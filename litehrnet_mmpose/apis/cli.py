"""Argument handling shared by ``tools/train.py`` and ``tools/test.py`` (MMPose 1.x's
interface: config, ``--work-dir``, ``--cfg-options``, ``--launcher``, ``--show-dir``)."""
import argparse
import glob
import os
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from ..engine.fileio import PARTIAL_SUFFIX
from .checkpoint import find_resume_checkpoint, read_checkpoint
from .config_check import check_config, check_evaluation


def add_common_args(parser: argparse.ArgumentParser, show_dir: bool = True) -> None:
    """Add the arguments both tools take (``show_dir``: also ``--show-dir`` and
    ``--interval``, which draw test predictions: ``tools/test.py`` only)."""
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='directory for logs, checkpoints and outputs')
    if show_dir:
        parser.add_argument(
            '--show-dir', help='draw the predictions into WORK_DIR/SHOW_DIR (SHOW_DIR itself '
            'when absolute): pose images as SHOW_DIR/IMAGE_N.jpg, segmentation ones in '
            'SHOW_DIR/vis_data/vis_image/')
        parser.add_argument('--interval', type=int, default=1,
                            help='with --show-dir: draw every N-th sample')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_dataloader.batch_size=16 '
        'train_dataloader.dataset.data_root=/data/coco/ (the top-level data_root has no '
        'effect: each dataloader has its own)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (torchrun sets "pytorch")')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def _setup_cpu_distributed(cfg: Config) -> None:
    """Distributed training without GPUs: gloo instead of NCCL, and DDP without devices.

    mmengine's launcher code calls ``torch.cuda.set_device`` unconditionally, so the
    process group is initialised here (the Runner then finds it ready) and the model is
    wrapped by :class:`~litehrnet_mmpose.engine.CPUDistributedDataParallel`.
    """
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    cfg.setdefault('model_wrapper_cfg',
                   dict(type='litehrnet_mmpose.CPUDistributedDataParallel'))


def load_config(args: argparse.Namespace,
                evaluated: Sequence[str] = ('val_dataloader', )) -> Config:
    """Read the config and apply the common arguments to it; ``evaluated``: the dataloaders
    the tool will evaluate on (checked against their evaluators, see
    :func:`check_evaluation`)."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config: no such file {args.config!r}')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        if 'data_root' in args.cfg_options:
            raise ValueError(
                f'--cfg-options data_root={args.cfg_options["data_root"]!r}: the top-level '
                'data_root is resolved into every dataloader when the config is read, so '
                'overriding it changes nothing; set the dataloaders\' own, e.g. '
                'train_dataloader.dataset.data_root=DIR/ val_dataloader.dataset.data_root=DIR/ '
                '(test_dataloader.dataset.data_root=DIR/ for tools/test.py; the bbox, head-box '
                'and evaluator files have their own keys: configs/top_down/lite_hrnet/README.md)')
        cfg.merge_from_dict(args.cfg_options)
    check_config(cfg)
    check_evaluation(cfg, evaluated)
    cfg.launcher = args.launcher
    if args.launcher != 'none' and not torch.cuda.is_available():
        _setup_cpu_distributed(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if getattr(args, 'show_dir', None) is not None:
        _apply_show_dir(cfg, args.show_dir, args.interval, args.config)
    return cfg


def _apply_show_dir(cfg: Config, show_dir: str, interval: int, config: str) -> None:
    """Draw test predictions into ``work_dir/show_dir`` for pose and segmentation alike.

    MMPose's hook writes into ``work_dir/<timestamp>/out_dir`` and mmseg's into the
    visualizer's ``save_dir`` (the current directory for a relative one); an absolute
    path is used as is by both."""
    vis = cfg.default_hooks.get('visualization')
    if vis is None:
        raise ValueError(f'--show-dir: config {config!r} has no default_hooks.visualization '
                         'to draw with')
    if interval < 1:
        raise ValueError(f'--interval: expected a positive int, got {interval}')
    path = osp.join(osp.abspath(cfg.work_dir), show_dir)  # show_dir itself when absolute
    if vis.get('type') == 'SegVisualizationHook':  # mmseg draws into the visualizer's dir
        vis.update(draw=True, interval=interval)
        cfg.visualizer['save_dir'] = path
    else:
        vis.update(enable=True, out_dir=path, interval=interval)


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """Point ``cfg`` at the checkpoint to resume from (``resume='auto'``: the newest
    complete one in ``work_dir``, see :func:`find_resume_checkpoint`), or check
    ``cfg.load_from``; either file is read now, so a bad one stops the tool before the
    Runner starts. The resumed run keeps the checkpoint's seed when the config sets none:
    the sampler is built from it before mmengine reads the checkpoint."""
    if resume is None:
        if cfg.get('load_from') and '://' not in cfg.load_from:  # URLs: mmengine downloads
            read_checkpoint(cfg.load_from)
        return
    if resume == 'auto':
        found = find_resume_checkpoint(cfg.work_dir)
        for partial in glob.glob(osp.join(cfg.work_dir, '*' + PARTIAL_SUFFIX)):
            print_log(f'ignoring {partial}: a checkpoint write that did not finish',
                      logger='current')
        if found is None:
            print_log(f'--resume: no checkpoint in {cfg.work_dir}; training from scratch',
                      logger='current')
            cfg.resume, cfg.load_from = False, None
            return
        path, ckpt = found
    else:
        path, ckpt = resume, read_checkpoint(resume)
    print_log(f'--resume: resuming from {path}', logger='current')
    cfg.resume, cfg.load_from = True, path
    # Assigned back as a whole: ``Config.setdefault`` hands out a copy, so writing into it
    # would leave an empty ``randomness`` (and Runner.set_randomness without its seed).
    randomness = dict(cfg.get('randomness') or {})
    seed = (ckpt.get('meta') or {}).get('seed')
    if randomness.get('seed') is None and seed is not None:
        randomness['seed'] = seed
        cfg.randomness = randomness
