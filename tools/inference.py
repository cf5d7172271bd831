"""Poses on an image, a folder of images, a video file or a webcam.

    python tools/inference.py INPUT --pose2d CONFIG --pose2d-weights CKPT [--deploy]
    python tools/inference.py INPUT --pose2d model.onnx [--backend openvino] [--threads 2]
        [--det-model hog | whole-image | MMDET_CONFIG --det-weights DET_CKPT]
        [--bboxes boxes.json] [--vis-out-dir out/] [--pred-out-dir out/] [--show]

Writes drawn images / an annotated video (``--vis-out-dir``) and JSON predictions
(``--pred-out-dir``: per image, per video with track ids; for a folder of COCO images
also ``coco_keypoint_results.json``). Ctrl-C stops with complete output for what was
processed (exit status 130). An exported file runs without torch: ``litehrnet-pose``
(``pip install ./runtime``) is this command for exported files only.
"""
import os.path as osp
import sys
from typing import List, Optional

from litehrnet_runtime import open_backend
from litehrnet_runtime.cli import build_parser, check_args, run, runtime_detector

EXPORTED = ('.onnx', '.xml')


def main(argv: Optional[List[str]] = None) -> int:
    """Parse, build the backend and detector, run; the exit status."""
    parser = build_parser(full_stack=True)
    args = parser.parse_args(argv)
    check_args(parser, args)
    exported = args.pose2d.lower().endswith(EXPORTED)
    if exported and (args.pose2d_weights or args.backend == 'pytorch' or args.deploy):
        parser.error(f'--pose2d {args.pose2d} is an exported file: --pose2d-weights, '
                     '--backend pytorch and --deploy are for a config')
    if not exported and args.precision != 'f32':
        parser.error(f'--precision {args.precision}: runs an exported file in OpenVINO; '
                     f'--pose2d {args.pose2d} is a config (PyTorch runs f32)')
    if not exported and args.backend not in ('auto', 'pytorch'):
        parser.error(f'--backend {args.backend} runs an exported file (tools/export_onnx.py '
                     f'writes one); --pose2d {args.pose2d} is a config')
    try:
        if exported:
            backend = open_backend(args.pose2d, args.backend, args.threads, args.precision)
        else:
            from litehrnet_mmpose.apis.models import build_pose_model
            from litehrnet_mmpose.apis.pose_inference import TorchBackend
            if args.threads is not None:
                import torch
                torch.set_num_threads(args.threads)
            backend = TorchBackend(build_pose_model(args.pose2d, args.pose2d_weights),
                                   deploy=args.deploy, device=args.device)
        if args.det_model.endswith('.py'):
            from litehrnet_mmpose.apis.pose_inference import MMDetDetector
            detector = MMDetDetector(args.det_model, args.det_weights, args.det_cat_ids,
                                     args.device)
            name = osp.basename(args.det_model)
        else:
            if args.det_weights:
                parser.error('--det-weights: only with an mmdet config as --det-model')
            detector, name = runtime_detector(args), args.det_model
        return run(args, backend, detector, name)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
