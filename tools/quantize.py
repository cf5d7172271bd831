"""INT8 post-training static quantization of an exported pose model, calibrated on the
bundled person crops, with an optional measurement of what it costs.

    python tools/quantize.py MODEL.onnx --backend {onnxruntime,openvino} --out OUT
        [--calib-ann ANN.json ... --calib-images DIR ...] [--method M] [--no-flip]
        [--eval] [--batch8-onnx FP32_B8.onnx] [--repeats 20] [--json F]

``onnxruntime`` writes a QDQ ``.onnx`` (``--method`` minmax / percentile / entropy);
``openvino`` an NNCF-quantized IR ``.xml`` (``--method`` performance / mixed preset). Both
keep the exported metadata, so ``litehrnet_runtime`` / ``tools/inference.py`` run them as
they run the FP32 file. The defaults are the best recipe measured (docs/quantization.md).
``--eval`` prints (and ``--json`` writes) the COCO AP of FP32 vs INT8 on the bundled COCO
sample with ground-truth boxes, the keypoint displacement between them on every bundled
person, and the latency of both in the same runtime (1 thread; batch 8 too with
``--batch8-onnx``, a batch-8 export of the same model, quantized here alongside).
"""
import argparse
import json
import sys
from typing import List, Optional

import numpy as np

from litehrnet_mmpose.apis import int8_eval as E
from litehrnet_mmpose.deploy import quantize as Q

METHODS = dict(onnxruntime=Q.ORT_METHODS, openvino=Q.OV_PRESETS)
DEFAULTS = dict(onnxruntime='percentile', openvino='performance')


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description='INT8-quantize an exported pose model')
    parser.add_argument('model', help='FP32 .onnx exported by tools/export_onnx.py')
    parser.add_argument('--backend', choices=sorted(METHODS), required=True,
                        help='runtime to quantize for')
    parser.add_argument('--out', required=True,
                        help='output .onnx (onnxruntime) or .xml (openvino)')
    parser.add_argument('--calib-ann', nargs='+', metavar='ANN',
                        help='COCO keypoint or MPII json files (default: the bundled samples)')
    parser.add_argument('--calib-images', nargs='+', metavar='DIR',
                        help='image directory of each --calib-ann')
    parser.add_argument('--method',
                        help='onnxruntime: percentile (default), minmax, entropy; openvino: '
                             'performance (default), mixed')
    parser.add_argument('--no-flip', action='store_true',
                        help='calibrate without the horizontally flipped crops')
    parser.add_argument('--eval', action='store_true', help='measure FP32 vs INT8')
    parser.add_argument('--batch8-onnx', metavar='ONNX',
                        help='with --eval: a batch-8 FP32 export, quantized the same way and '
                             'timed at batch 8')
    parser.add_argument('--repeats', type=int, default=20,
                        help='timed runs per model and batch (interleaved median)')
    parser.add_argument('--json', help='also write the results to this JSON file')
    return parser


def parse_args(argv: Optional[List[str]] = None,
               parser: Optional[argparse.ArgumentParser] = None) -> argparse.Namespace:
    """Command-line arguments, checked (argparse errors, exit status 2)."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    args.method = args.method or DEFAULTS[args.backend]
    if args.method not in METHODS[args.backend]:
        parser.error(f'--method: expected one of {", ".join(METHODS[args.backend])} for '
                     f'--backend {args.backend}, got {args.method!r}')
    suffix = '.onnx' if args.backend == 'onnxruntime' else '.xml'
    if not args.out.endswith(suffix):
        parser.error(f'--out: --backend {args.backend} writes a {suffix} file, got {args.out}')
    if (args.calib_ann is None) != (args.calib_images is None) or (
            args.calib_ann and len(args.calib_ann) != len(args.calib_images)):
        parser.error(f'--calib-ann / --calib-images: give one image directory per annotation '
                     f'file, got {args.calib_ann} and {args.calib_images}')
    if args.repeats < 1:
        parser.error(f'--repeats: expected a positive int, got {args.repeats}')
    if args.batch8_onnx and not args.eval:
        parser.error('--batch8-onnx: only used with --eval')
    return args


def quantize(backend: str, model: str, out: str, crops: np.ndarray, method: str) -> dict:
    """One model quantized with the tool's recipe for ``backend``."""
    if backend == 'onnxruntime':
        return Q.quantize_onnxruntime(model, out, crops, method=method)
    return Q.quantize_openvino(model, out, crops, preset=method)


def main(argv: Optional[List[str]] = None) -> int:
    """Quantize (and evaluate); returns the exit status."""
    parser = build_parser()
    args = parse_args(argv, parser)
    from litehrnet_runtime.backends import OnnxRuntimeBackend, OpenVINOBackend
    try:
        reader = OnnxRuntimeBackend if args.backend == 'onnxruntime' else OpenVINOBackend
        fp32 = reader(args.model, 1)
        meta = fp32.meta
        sets = (list(zip(args.calib_ann, args.calib_images)) if args.calib_ann
                else Q.BUNDLED_SETS)
        crops = Q.calibration_crops(meta, Q.bundled_boxes(sets), flip=not args.no_flip)
        settings = quantize(args.backend, args.model, args.out, crops, args.method)
    except (ValueError, TypeError, FileNotFoundError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'quantized {args.model} -> {args.out} ({args.backend}, {args.method}, '
          f'{len(crops)} calibration crops)')
    result = dict(model=args.model, out=args.out, settings=settings)
    if args.eval:
        pairs = [(1, args.model, args.out)]
        if args.batch8_onnx:
            suffix = '.onnx' if args.backend == 'onnxruntime' else '.xml'
            out8 = args.out[:-len(suffix)] + '_b8' + suffix
            quantize(args.backend, args.batch8_onnx, out8, crops, args.method)
            pairs.append((8, args.batch8_onnx, out8))
        if fp32.batch not in (None, 1):  # a static batch B > 1 would run (and time) B crops
            pairs = pairs[1:]
        ev = E.evaluate(args.model, args.out, args.backend, pairs, repeats=args.repeats)
        result['eval'] = ev
        d = ev['displacement']
        print(f'COCO AP (bundled sample, ground-truth boxes): FP32 {ev["ap_fp32"]:.4f}  '
              f'INT8 {ev["ap_int8"]:.4f}  drop {ev["ap_drop"]:+.4f}')
        print(f'keypoint displacement INT8 vs FP32, {d["people"]} people, {d["keypoints"]} '
              f'keypoints (box size = {d["box_size"]}):')
        print(f'  all keypoints       mean {d["mean_px"]:.2f} px ({d["mean_frac_box"]:.2%})  '
              f'max {d["max_px"]:.1f} px ({d["max_frac_box"]:.1%})')
        if 'conf_mean_px' in d:
            print(f'  FP32 score >= {d["score_thr"]} ({d["confident_keypoints"]})  mean '
                  f'{d["conf_mean_px"]:.2f} px ({d["conf_mean_frac_box"]:.2%})  max '
                  f'{d["conf_max_px"]:.1f} px ({d["conf_max_frac_box"]:.1%})')
        for name, t in ev['latency'].items():
            print(f'latency {name}, 1 thread, median of {t["repeats"]} interleaved: FP32 '
                  f'{t["fp32_ms"]:.2f} ms  INT8 {t["int8_ms"]:.2f} ms  ratio {t["ratio"]:.3f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
