"""Convert an official Lite-HRNet checkpoint (MMPose 0.x layout) to MMPose 1.x names.

    python tools/convert_checkpoint.py official.pth converted.pth [--config CONFIG]

With ``--config`` the converted weights are loaded strictly into that config's model
first; any missing / unexpected / shape-mismatched key is reported and nothing is written.
"""
import argparse
import pickle

import torch

from litehrnet_mmpose.apis.checkpoint import (convert_official, is_official_layout,
                                              load_strict, state_dict_of)


def load_file(path: str, unsafe: bool) -> dict:
    """Weights-only loading (no code from the file runs) unless ``--unsafe-load``."""
    try:
        return torch.load(path, map_location='cpu', weights_only=not unsafe)
    except pickle.UnpicklingError as e:
        raise SystemExit(f'{path}: cannot be loaded weights-only ({e}).\nIf you trust this '
                         'file, rerun with --unsafe-load.') from e


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint in MMPose 1.x layout')
    parser.add_argument('--config', help='verify against this config\'s model')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow full unpickling of a trusted file (old checkpoints with '
                        'non-tensor metadata)')
    args = parser.parse_args()

    ckpt = load_file(args.src, args.unsafe_load)
    sd = state_dict_of(ckpt)
    if not is_official_layout(sd):
        raise SystemExit(f'{args.src}: no keypoint_head.* keys; this is not an official / '
                         'MMPose 0.x top-down checkpoint (MMPose 1.x ones load directly)')
    converted = convert_official(sd)
    if args.config:
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmpose.registry import MODELS
        cfg = Config.fromfile(args.config)
        init_default_scope(cfg.get('default_scope', 'mmpose'))
        try:
            load_strict(MODELS.build(cfg.model), converted, args.src)
        except ValueError as e:
            raise SystemExit(str(e)) from e
    torch.save({'meta': {'converted_from': args.src}, 'state_dict': converted}, args.dst)
    print(f'{len(converted)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
