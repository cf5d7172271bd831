"""Export a pose model (backbone + head, tensor mode, no data preprocessor) to ONNX, check
ONNX Runtime against PyTorch and time both on the CPU.

    python tools/export_onnx.py CONFIG [CHECKPOINT] [--shape H W] [--batch N] [--dynamic-batch]
        [--out model.onnx] [--deploy | --deploy-eager] [--opset 17] [--repeats 20]
        [--threads T] [--openvino-ir model.xml]

The input is the normalised image batch (N, 3, H, W); the output the heatmaps. ``--deploy``
exports the graph designed for ONNX Runtime and OpenVINO (``litehrnet_mmpose.deploy.to_graph``:
BN folded, no channel shuffle, split or transpose; 0.65-0.85 of MMPose's graph's latency
there, docs/deployment.md); ``--deploy-eager`` the PyTorch deploy-mode model
(``switch_to_deploy``), for comparison. ONNX Runtime is checked against the eval-mode
PyTorch model. The file carries what inference needs as metadata (input size, mean / std,
channel order, decoder, flip test, keypoint names, skeleton, flip pairs), so
``tools/inference.py`` and the torch-free ``litehrnet_runtime`` run it alone. Exits with
status 1 when ONNX Runtime and PyTorch differ by more than ``--atol``.
"""
import argparse
import copy
import json
import sys
from typing import List, Optional

import torch

from litehrnet_mmpose.analysis import summarize, time_calls
from litehrnet_mmpose.apis.models import build_pose_model, resolve_input_hw
from litehrnet_mmpose.deploy import export_onnx, ort_run, ort_session, switch_to_deploy, to_graph
from litehrnet_mmpose.deploy.export import save_openvino_ir
from litehrnet_mmpose.deploy.metadata import pose_metadata
from litehrnet_mmpose.utils import TensorForward


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description='Export a pose model to ONNX and check it')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', help='MMPose 1.x checkpoint (optional)')
    parser.add_argument('--shape', type=int, nargs='+', metavar='S',
                        help='input H W, or S for S x S (default: the config codec size)')
    parser.add_argument('--batch', type=int, default=1, help='batch size of the example')
    parser.add_argument('--dynamic-batch', action='store_true', help='symbolic batch axis')
    parser.add_argument('--out', default='model.onnx',
                        help='output .onnx path (default: model.onnx in the current directory)')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--deploy', action='store_true',
                      help='export the runtime graph (deploy.to_graph): the fast one')
    mode.add_argument('--deploy-eager', action='store_true',
                      help='export the PyTorch deploy-mode model (deploy.switch_to_deploy)')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (>= 17)')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='largest allowed |ORT - PyTorch| difference')
    parser.add_argument('--repeats', type=int, default=20, help='timed runs (0: no timing)')
    parser.add_argument('--threads', type=int, help='CPU threads for both runtimes')
    parser.add_argument('--json', help='also write the results to this JSON file')
    parser.add_argument('--openvino-ir', metavar='XML',
                        help='also save an OpenVINO IR (.xml + .bin) with the same metadata')
    return parser


def parse_args(argv: Optional[List[str]] = None,
               parser: Optional[argparse.ArgumentParser] = None) -> argparse.Namespace:
    """Command-line arguments, range-checked (argparse errors, exit status 2)."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    if args.opset < 17:
        parser.error(f'--opset: expected >= 17 (the opset of the exporter\'s adaptive pooling '
                     f'and layer ops), got {args.opset}')
    if args.batch < 1:
        parser.error(f'--batch: expected a positive int, got {args.batch}')
    if args.repeats < 0:
        parser.error(f'--repeats: expected >= 0, got {args.repeats}')
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads: expected a positive int, got {args.threads}')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    """Export, compare and time; returns the exit status."""
    parser = build_parser()
    args = parse_args(argv, parser)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    # Untrained weights drive activations into denormal floats, which are ~100x slower on
    # x86 and would make the timings meaningless; ONNX Runtime flushes them too.
    torch.set_flush_denormal(True)
    model = build_pose_model(args.config, args.checkpoint)
    try:
        h, w = resolve_input_hw(args.shape, model.cfg)
    except ValueError as e:
        parser.error(str(e))
    # The backbone's own check is skipped while tracing, where a wrong size fails deep in
    # the exporter instead: check it here.
    divisor = getattr(model.backbone, 'size_divisor', None)
    if divisor and (h % divisor or w % divisor):
        parser.error(f'--shape: {h} {w} (H W): the backbone ({type(model.backbone).__name__}) '
                     f'needs a height and width divisible by {divisor}')
    module = TensorForward(model, first_output=True).eval()
    with torch.inference_mode():
        heatmap_hw = tuple(module(torch.zeros(1, 3, h, w)).shape[2:])
    metadata = pose_metadata(model, (h, w), heatmap_hw)
    exported = module
    if args.deploy:
        exported = TensorForward(to_graph(model), first_output=True).eval()
    elif args.deploy_eager:
        exported = TensorForward(switch_to_deploy(copy.deepcopy(model)), first_output=True)
    export_onnx(exported, args.out, (args.batch, 3, h, w), dynamic_batch=args.dynamic_batch,
                opset=args.opset, metadata=metadata)
    if args.openvino_ir:
        save_openvino_ir(args.out, args.openvino_ir)

    session = ort_session(args.out, args.threads)
    # With a dynamic batch, check a batch size other than the exported example's too.
    batches = [args.batch] + ([args.batch + 1] if args.dynamic_batch else [])
    max_diff = 0.0
    for n in batches:
        x = torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(n))
        with torch.inference_mode():
            ref = module(x)
        got = torch.from_numpy(ort_run(session, x))
        if got.shape != ref.shape:
            print(f'shape mismatch at batch {n}: ONNX {tuple(got.shape)} vs PyTorch '
                  f'{tuple(ref.shape)}')
            return 1
        max_diff = max(max_diff, (got - ref).abs().max().item())
    result = dict(config=args.config, onnx=args.out, input_shape=[args.batch, 3, h, w],
                  output_shape=list(ref.shape[1:]), dynamic_batch=args.dynamic_batch,
                  deploy='graph' if args.deploy else 'eager' if args.deploy_eager else None,
                  opset=args.opset, max_abs_diff=max_diff,
                  threads=torch.get_num_threads())
    print(f'exported {args.out} (opset {args.opset}, input {args.batch}x3x{h}x{w}'
          f'{", dynamic batch" if args.dynamic_batch else ""}'
          f'{", deploy graph" if args.deploy else ", deploy eager" if args.deploy_eager else ""})')
    print(f'max |ONNX Runtime - PyTorch| = {max_diff:.3g} (atol {args.atol:g})')

    if args.repeats:
        x = torch.randn(args.batch, 3, h, w)
        with torch.inference_mode():
            torch_t = summarize(time_calls(lambda: module(x), args.repeats, warmup=3))
        ort_t = summarize(time_calls(lambda: ort_run(session, x), args.repeats, warmup=3))
        result.update(pytorch_latency_s=torch_t, ort_latency_s=ort_t)
        print(f'CPU latency, batch {args.batch}, {torch.get_num_threads()} thread(s), '
              f'median [IQR] of {args.repeats}:')
        for name, t in (('PyTorch', torch_t), ('ONNX Runtime', ort_t)):
            print(f'  {name:13s} {t["median"] * 1e3:8.2f} ms  [{t["iqr"] * 1e3:.2f}]')
        print(f'  ratio ORT / PyTorch: {ort_t["median"] / torch_t["median"]:.2f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    if max_diff > args.atol:
        print(f'FAILED: difference {max_diff:.3g} exceeds --atol {args.atol:g}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
