"""Per-stage #Params and FLOPs of a config's model, in mmengine's count and in the
Lite-HRNet paper's convention (see ``litehrnet_mmpose.analysis.complexity``).

    python tools/summary_network.py CONFIG [--shape H [W]] [--cfg-options k=v ...]

``--shape S`` means S x S; without ``--shape`` the config's ``codec.input_size`` (MMPose) or
``crop_size`` (MMSeg) is used. Pose models are counted as ``model(x, None, mode='tensor')``
(backbone + head), batch 1, eval mode.
"""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction

from litehrnet_mmpose.analysis import analyze_complexity, format_report
from litehrnet_mmpose.apis.models import build_model_from_config, resolve_input_hw


def parse_args() -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description='Complexity of a model, per stage')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+', metavar='S',
                        help='input size: H W, or S for S x S (default: from the config)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.backbone.arch=30')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config: no such file {args.config!r}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    input_hw = resolve_input_hw(args.shape, cfg)
    report = analyze_complexity(build_model_from_config(cfg), input_hw)
    print(format_report(report, title=osp.basename(args.config)))


if __name__ == '__main__':
    main()
