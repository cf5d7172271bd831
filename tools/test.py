"""Evaluate a checkpoint on a config's test set with mmengine's Runner (MMPose 1.x's tool
interface).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR]
        [--dump results.pkl] [--cfg-options k=v ...] [--launcher pytorch]
"""
import argparse

from mmengine.runner import Runner

from litehrnet_mmpose.apis import add_common_args, load_config
from litehrnet_mmpose.apis.checkpoint import read_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description='Test a Lite-HRNet model')
    add_common_args(parser)
    parser.add_argument('checkpoint', help='checkpoint file (MMPose 1.x layout; convert '
                        'official ones with tools/convert_checkpoint.py)')
    parser.add_argument('--dump', help='also dump the raw predictions to this .pkl file')
    args = parser.parse_args()
    cfg = load_config(args, ('test_dataloader', ))
    read_checkpoint(args.checkpoint)  # a truncated or unsafe file stops here, named
    cfg.load_from = args.checkpoint
    if args.dump:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump: expected a .pkl file, got {args.dump!r}')
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [
            cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators, dict(type='DumpResults', out_file_path=args.dump)]
    Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    main()
