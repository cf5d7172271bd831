"""Convert an official Lite-HRNet checkpoint (MMPose 0.x layout) to MMPose 1.x names.

    python tools/convert_checkpoint.py official.pth converted.pth [--config CONFIG]

With ``--config`` the converted weights are loaded strictly into that config's model
first; any missing / unexpected / shape-mismatched key is reported and nothing is written.

Files are read weights-only (no code from them can run). A trusted older file whose metadata
holds other Python objects is refused that way; ``--unsafe-load`` unpickles it fully, once,
and writes plain tensors (official layouts are renamed, MMPose 1.x ones kept as they are).
"""
import argparse

import torch

from litehrnet_mmpose.apis.checkpoint import (CheckpointError, convert_official, is_official_layout,
                                              load_strict, read_checkpoint, state_dict_of)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint in MMPose 1.x layout')
    parser.add_argument('--config', help='verify against this config\'s model')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow full unpickling of a trusted file (old checkpoints with '
                        'non-tensor metadata)')
    args = parser.parse_args()

    try:  # weights-only (no code from the file runs) unless --unsafe-load
        sd = state_dict_of(read_checkpoint(args.src, unsafe=args.unsafe_load))
    except (FileNotFoundError, CheckpointError) as e:
        raise SystemExit(str(e)) from e
    if is_official_layout(sd):
        converted = convert_official(sd)
    elif args.unsafe_load:  # a trusted MMPose 1.x file: keep the names, drop the pickles
        converted = dict(sd)
    else:
        raise SystemExit(f'{args.src}: no keypoint_head.* keys; this is not an official / '
                         'MMPose 0.x top-down checkpoint (MMPose 1.x ones load directly)')
    if args.config:
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmpose.registry import MODELS
        cfg = Config.fromfile(args.config)
        init_default_scope(cfg.get('default_scope', 'mmpose'))
        try:
            load_strict(MODELS.build(cfg.model), converted, args.src)
        except CheckpointError as e:
            raise SystemExit(str(e)) from e
    # plain tensors and strings only: the output loads weights-only anywhere
    torch.save({'meta': {'converted_from': args.src}, 'state_dict': converted}, args.dst)
    print(f'{len(converted)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
