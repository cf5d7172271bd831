"""Latency in the deployment runtimes (ONNX Runtime, OpenVINO) of our exported Lite-HRNet
against MMPose's Lite-HRNet and MMPose's RTMPose-t, in one process.

    python tools/benchmark_runtimes.py [--configs CFG ...] [--quick]
        [--runtimes onnxruntime openvino] [--threads 1 2] [--batches 1 8] [--repeats N]
        [--ov-precision f32|bf16] [--out-json F] [--out-table F]

Variants of every config (each a whole pose model, image in, heatmaps / SimCC vectors out):

* ``rtmpose-t``: MMPose's RTMPose-t, built from the config shipped in the mmpose package
  (``body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py``): the network
  deployers pick instead of Lite-HRNet today.
* ``mmpose``: the config with MMPose's own ``LiteHRNet`` backbone (same weights as ours).
* ``ours-deploy``: ``deploy.switch_to_deploy`` exported (BN folded, merged fusion convs).
* ``ours-graph``: ``deploy.to_graph``, the export designed for these runtimes (no shuffle,
  split or transpose; see :mod:`litehrnet_mmpose.deploy.graph`): what
  ``tools/export_onnx.py`` writes.

Random weights, BN statistics calibrated on random images (activations at a trained
network's scale). Every variant is exported with ``torch.onnx.export`` (opset 17, static
batch) and checked against PyTorch in every runtime before anything is timed (max abs
difference <= 1e-4 x max(1, |output|), else the run stops). OpenVINO reads the same ONNX
file (CPU, latency hint, ``--ov-precision``: f32, or bf16 for every variant on CPUs with
bf16 units, checked to 0.25 x max(1, |output|): bf16 keeps 8 bits of mantissa, and random
weights' flat heatmaps show it most). Each row (runtime, threads, batch) times its
variants in turn, the order rotating every repeat; medians, IQR, and ratios to
``rtmpose-t`` and ``mmpose`` (lower is better). Denormals are flushed in both runtimes.
"""
import argparse
import copy
import os
import os.path as osp
import platform
import sys
import tempfile
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from litehrnet_mmpose.analysis import summarize
from litehrnet_mmpose.analysis.calibration import calibrate_bn
from litehrnet_mmpose.analysis.probes import interleaved
from litehrnet_mmpose.analysis.report import save_report
from litehrnet_mmpose.apis.models import build_pose_model
from litehrnet_mmpose.deploy import ort_session, switch_to_deploy, to_graph
from litehrnet_mmpose.utils import TensorForward

DEFAULT_CONFIGS = ['configs/top_down/lite_hrnet/coco/litehrnet_18_coco_256x192.py']
RTMPOSE_T = 'body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py'
PEERS = ('rtmpose-t', 'mmpose')
RUNTIMES = ('onnxruntime', 'openvino')
PAUSE_S = 0.02
#: RTMPose-t's head is built for its input size (a fixed-size linear layer), so every
#: variant runs at it: the configs' size too.
SHAPE = (256, 192)
Row = Dict[str, Any]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description='Ours vs MMPose Lite-HRNet vs RTMPose-t in ONNX '
                                'Runtime and OpenVINO')
    p.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS, help='pose configs')
    p.add_argument('--quick', action='store_true',
                   help='smoke run: 2 repeats, batch 1 and 2, 1 thread')
    p.add_argument('--runtimes', nargs='+', default=None, choices=RUNTIMES,
                   help='default: every one installed')
    p.add_argument('--threads', type=int, nargs='+', help='intra-op threads (default 1 2)')
    p.add_argument('--batches', type=int, nargs='+', help='static batch sizes (default 1 8)')
    p.add_argument('--repeats', type=int, help='timed repeats per row (default 30; quick 2)')
    p.add_argument('--ov-precision', choices=('f32', 'bf16'), default='f32',
                   help='OpenVINO inference precision of every variant')
    p.add_argument('--out-json', help='write all results to this JSON file')
    p.add_argument('--out-table', help='write the table (Markdown) to this file')
    args = p.parse_args(argv)
    quick = args.quick
    args.shape = SHAPE
    args.threads = args.threads or ([1] if quick else [1, 2])
    args.batches = args.batches or ([1, 2] if quick else [1, 8])
    args.repeats = args.repeats or (2 if quick else 30)
    for name in ('threads', 'batches'):
        if any(v < 1 for v in getattr(args, name)):
            p.error(f'--{name}: expected positive ints, got {getattr(args, name)}')
    if args.repeats < 1:
        p.error(f'--repeats: expected a positive int, got {args.repeats}')
    installed = [r for r in RUNTIMES if _importable(r)]
    args.runtimes = args.runtimes or installed
    missing = [r for r in args.runtimes if r not in installed]
    if missing or not args.runtimes:
        p.error(f'--runtimes: not installed: {missing or list(RUNTIMES)} (pip install them)')
    return args


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def rtmpose_t_config() -> str:
    """The RTMPose-t config file shipped inside the installed mmpose package."""
    import mmpose
    path = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', RTMPOSE_T)
    if not osp.isfile(path):
        raise FileNotFoundError(f'mmpose {mmpose.__version__} has no {RTMPOSE_T} '
                                f'(looked in {path})')
    return path


def build_variants(config: str, shape: Tuple[int, int]) -> Dict[str, nn.Module]:
    """The four variants of one config (see the module docstring), as tensor-mode modules."""
    from mmpose.apis import init_model

    torch.manual_seed(0)
    ours = build_pose_model(config)
    calibrate_bn(ours, shape)
    ref = build_pose_model(config, reference=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    rtm = init_model(rtmpose_t_config(), None, device='cpu')
    calibrate_bn(rtm, shape)
    variants = {'rtmpose-t': rtm, 'mmpose': ref,
                'ours-deploy': switch_to_deploy(copy.deepcopy(ours)), 'ours-graph': to_graph(ours)}
    return {k: TensorForward(m).eval() for k, m in variants.items()}


def export(module: nn.Module, path: str, batch: int, shape: Tuple[int, int]) -> List[str]:
    """ONNX export of every output at a static batch; returns the output names."""
    x = torch.randn(batch, 3, *shape)
    with torch.no_grad():
        out = module(x)
    names = [f'output{k}' for k in range(len(out) if isinstance(out, (list, tuple)) else 1)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(module, (x, ), path, input_names=['input'], output_names=names,
                          opset_version=17, dynamo=False, do_constant_folding=True)
    return names


def open_runtime(runtime: str, path: str, threads: int,
                 precision: str = 'f32') -> Callable[[np.ndarray], List[np.ndarray]]:
    """A function running the exported file in ``runtime`` with ``threads`` threads."""
    if runtime == 'onnxruntime':
        session = ort_session(path, threads)
        return lambda x: session.run(None, {'input': x})
    import openvino as ov
    compiled = ov.Core().compile_model(path, 'CPU', {'PERFORMANCE_HINT': 'LATENCY',
                                                     'INFERENCE_NUM_THREADS': threads,
                                                     'CPU_DENORMALS_OPTIMIZATION': True,
                                                     'INFERENCE_PRECISION_HINT': precision})
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> List[np.ndarray]:
        request.infer({0: x})
        return [request.get_output_tensor(k).data for k in range(len(compiled.outputs))]

    return run


def check(name: str, module: nn.Module, run: Callable, batch: int,
          shape: Tuple[int, int], rtol: float = 1e-4) -> float:
    """Max abs difference of a runtime's outputs from PyTorch's; raises beyond the limit."""
    x = torch.randn(batch, 3, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = module(x)
    ref = list(ref) if isinstance(ref, (list, tuple)) else [ref]
    got = run(x.numpy())
    diff = max(float(np.abs(g - r.numpy()).max()) for g, r in zip(got, ref))
    scale = max(float(r.abs().max()) for r in ref)
    if not diff <= rtol * max(1.0, scale):
        raise RuntimeError(f'{name}: runtime output differs from PyTorch by {diff:.3g} '
                           f'(outputs up to {scale:.3g})')
    return diff


def runtime_rows(variants: Dict[str, nn.Module], args: argparse.Namespace) -> List[Row]:
    """One row per (runtime, threads, batch, variant)."""
    rows: List[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batches:
            paths = {}
            for k, m in variants.items():
                paths[k] = osp.join(tmp, f'{k}_b{batch}.onnx')
                export(m, paths[k], batch, args.shape)
            x = np.random.default_rng(0).standard_normal((batch, 3, *args.shape), np.float32)
            for runtime in args.runtimes:
                bf16 = runtime == 'openvino' and args.ov_precision == 'bf16'
                for threads in args.threads:
                    runs, diffs = {}, {}
                    for k, m in variants.items():
                        runs[k] = open_runtime(runtime, paths[k], threads,
                                               'bf16' if bf16 else 'f32')
                        diffs[k] = check(f'{k} in {runtime}', m, runs[k], batch, args.shape,
                                         0.25 if bf16 else 1e-4)
                    # a pause before each call: the previous variant's idle thread pool
                    # (ORT spins a while after a run) must not share our cores; a video's
                    # frames come with such gaps anyway
                    fns = {k: (lambda r=r: r(x)) for k, r in runs.items()}
                    stats = {k: summarize(v) for k, v in interleaved(
                        fns, args.repeats, warmup=3, pause_s=PAUSE_S).items()}
                    for k, s in stats.items():
                        rows.append(dict(runtime=runtime, threads=threads, batch=batch,
                                         precision='bf16' if bf16 else 'f32',
                                         variant=k, max_abs_diff=diffs[k], **s,
                                         **{f'ratio_vs_{p}': s['median'] / stats[p]['median']
                                            for p in PEERS}))
                    print(format_table(rows[-len(stats):]), flush=True)
    return rows


def format_table(rows: List[Row]) -> str:
    """Markdown table of rows."""
    lines = ['| runtime | threads | batch | variant | median | IQR | vs RTMPose-t | vs MMPose |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        runtime = r['runtime'] + (' bf16' if r.get('precision') == 'bf16' else '')
        lines.append(f'| {runtime} | {r["threads"]} | {r["batch"]} | {r["variant"]} | '
                     f'{r["median"] * 1e3:.2f} ms | [{r["iqr"] * 1e3:.2f}] | '
                     f'{r["ratio_vs_rtmpose-t"]:.2f} | {r["ratio_vs_mmpose"]:.2f} |')
    return '\n'.join(lines)


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the platform's processor string."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> Dict[str, Optional[str]]:
    """Versions of torch and the runtimes."""
    out: Dict[str, Optional[str]] = {'torch': torch.__version__}
    for name in RUNTIMES:
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = None
    return out


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = parse_args(argv)
    torch.set_flush_denormal(True)
    meta = dict(versions(), cpu=cpu_model(),
                cpu_count=os.cpu_count(), shape=list(args.shape), repeats=args.repeats,
                quick=args.quick,
                command=' '.join(['python', 'tools/benchmark_runtimes.py'] +
                                 (sys.argv[1:] if argv is None else argv)))
    print(', '.join(f'{k} {v}' for k, v in versions().items()), flush=True)
    results: Dict[str, List[Row]] = {}
    for config in args.configs:
        print(f'{config}: {args.shape[0]}x{args.shape[1]}', flush=True)
        results[config] = runtime_rows(build_variants(config, args.shape), args)
    table = '\n\n'.join(f'{osp.basename(c)}\n\n{format_table(r)}' for c, r in results.items())
    if args.quick or args.repeats < 5:
        table += ('\n\nSMOKE RUN (--quick or under 5 repeats): it checks that every row runs; '
                  'its ratios are not a measurement.')
    save_report(table, dict(meta=meta, results=results), args.out_table, args.out_json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
