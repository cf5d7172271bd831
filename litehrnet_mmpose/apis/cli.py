"""Argument handling shared by ``tools/train.py`` and ``tools/test.py`` (MMPose 1.x's
interface: config, ``--work-dir``, ``--cfg-options``, ``--launcher``, ``--show-dir``)."""
import argparse
import glob
import os
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from .checkpoint import find_resume_checkpoint, read_checkpoint
from .config_check import check_config
from ..engine.fileio import PARTIAL_SUFFIX


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add the arguments both tools take."""
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='directory for logs, checkpoints and outputs')
    parser.add_argument('--show-dir', help='save drawn predictions under work_dir/SHOW_DIR')
    parser.add_argument('--interval', type=int, default=1, help='draw every N-th sample')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_dataloader.batch_size=16 '
        'data_root=/data/coco/')
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


def load_config(args: argparse.Namespace) -> Config:
    """Read the config and apply the common arguments to it."""
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config: no such file {args.config!r}')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    check_config(cfg)
    cfg.launcher = args.launcher
    if args.launcher != 'none' and not torch.cuda.is_available():
        _setup_cpu_distributed(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.show_dir is not None:
        vis = cfg.default_hooks.get('visualization')
        if vis is None:
            raise ValueError(f'--show-dir: config {args.config!r} has no '
                             'default_hooks.visualization to draw with')
        if vis.get('type') == 'SegVisualizationHook':  # mmseg draws into the visualizer's dir
            vis.update(draw=True, interval=args.interval)
            cfg.visualizer['save_dir'] = args.show_dir
        else:
            vis.update(enable=True, out_dir=args.show_dir, interval=args.interval)
    return cfg


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
    randomness = cfg.setdefault('randomness', {})
    seed = ckpt.get('meta', {}).get('seed')
    if randomness.get('seed') is None and seed is not None:
        randomness['seed'] = seed
