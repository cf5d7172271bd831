"""Train a model from a config with mmengine's Runner (MMPose 1.x's tool interface).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp (GPU only)]
        [--auto-scale-lr] [--no-validate] [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse

from mmengine.device import get_device
from mmengine.runner import Runner

from litehrnet_mmpose.apis import add_common_args, apply_resume, load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a Lite-HRNet model')
    add_common_args(parser, show_dir=False)  # drawing predictions: tools/test.py --show-dir
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from CKPT, or from the newest complete checkpoint in '
                        'work_dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a GPU: refused on a CPU-only '
                        'machine)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.amp and get_device() == 'cpu':
        # mmengine's AmpOptimWrapper asserts this only after the datasets are built
        raise ValueError('--amp: automatic mixed precision needs a GPU (CUDA, NPU or MLU), '
                         'and this machine has none (mmengine.device.get_device() is '
                         "'cpu'); drop --amp")
    cfg = load_config(args, () if args.no_validate else ('val_dataloader', ))
    apply_resume(cfg, args.resume)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    Runner.from_cfg(cfg).train()


if __name__ == '__main__':
    main()
