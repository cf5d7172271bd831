"""Speed and memory of our Lite-HRNet pose models against MMPose's own, in one process.

    python tools/benchmark.py [--configs CFG ...] [--quick] [--threads T] [--repeats N]
        [--shape H W] [--train-lr LR] [--gpu-batch B] [--out-json bench.json]
        [--out-table bench.md] [--no-cpu] [--no-onnx] [--no-train]

For every config, MMPose's model is the same config with the backbone replaced by
``dict(type='LiteHRNet', extra=ARCH_SETTINGS[arch])``; both get the same weights (PyTorch's
default init, BN statistics calibrated on random images so that activations have the scale
of a trained network) and their outputs are checked to agree before anything is timed.
Variants: ``mmpose`` (the baseline of every ratio), ``mmpose+bnfold`` (MMPose's model with BN
folded: a calibration point), ``ours`` (eval mode) and ``ours-deploy``
(``litehrnet_mmpose.deploy.switch_to_deploy``: BN folded, channels_last inside the backbone
in PyTorch, the NCHW graph in ONNX).

Rows (each variant measured in turn, the order rotating every repeat, so that load on a
shared machine hits all alike; median and IQR of the repeats; ratios are variant / mmpose
of the median, lower is better):

* ``cpu_latency_b1``, ``cpu_throughput_bN``: forward, ``torch.inference_mode``.
* ``train_step_bN``: forward + backward + Adam step (MSE to a random heatmap), train mode.
  Every step's loss is kept (``losses``); ``loss_max_rel_diff`` compares each variant's
  trajectory with MMPose's, step by step (same weights, data and optimizer).
* ``*_peak_rss``: growth of the process's peak resident memory (Linux ``VmHWM``, reset
  through ``/proc/self/clear_refs`` after ``malloc_trim``) during one call: what the call
  really adds to the machine's memory, allocator overhead included.
* ``*_peak_tensors``: peak bytes of live CPU tensors during one call (PyTorch's profiler):
  the deterministic counterpart of ``*_peak_rss``, which moves with the allocator's state.
* ``train_saved_tensors``: bytes of the distinct tensors autograd keeps for backward.
* ``ort_latency_b1``: ONNX Runtime, every variant exported the same way.
* ``gpu_*``: batch 1 and 64, fp32 and AMP (fp16 autocast), channels_last, when CUDA is up;
  also ``mmpose+cudagraph`` and ``ours-deploy+cudagraph``
  (:class:`~litehrnet_mmpose.deploy.CUDAGraphForward`: the same kernels without the
  per-kernel launch cost); ``gpu_*_peak_mem``: the CUDA memory one eager forward allocates
  at its peak.

Denormal floats are flushed to zero (PyTorch and ONNX Runtime): untrained layers can drive
activations into that range, where x86 arithmetic is ~100x slower.
"""
import argparse
import copy
import os
import os.path as osp
import platform
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from litehrnet_mmpose.analysis import summarize
from litehrnet_mmpose.analysis.calibration import calibrate_bn
from litehrnet_mmpose.analysis.probes import (interleaved, peak_rss_growth, peak_tensor_bytes,
                                              saved_tensor_bytes)
from litehrnet_mmpose.analysis.report import save_report
from litehrnet_mmpose.apis.models import build_pose_model
from litehrnet_mmpose.deploy import (CUDAGraphForward, export_onnx, ort_run, ort_session,
                                     switch_to_deploy)
from litehrnet_mmpose.utils import TensorForward

DEFAULT_CONFIGS = ['configs/top_down/lite_hrnet/coco/litehrnet_18_coco_256x192.py',
                   'configs/top_down/lite_hrnet/coco/litehrnet_30_coco_256x192.py']
BASELINE = 'mmpose'
Row = Dict[str, object]
Fn = Callable[[], object]


def tensor_mode(model: nn.Module) -> nn.Module:
    """``model(x, None, mode='tensor')`` as a module of one tensor, one output."""
    return TensorForward(model, first_output=True)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description='Ours vs MMPose Lite-HRNet: speed and memory')
    p.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS, help='pose configs')
    p.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                   help='input size (default 256 192; --quick: 128 96)')
    p.add_argument('--quick', action='store_true',
                   help='few iterations, small batches and input: a smoke run (the test '
                   'suite\'s), whose ratios are labelled as not a measurement')
    p.add_argument('--threads', type=int, help='torch CPU threads (default: torch default)')
    p.add_argument('--repeats', type=int, help='timed repeats per row (default 15; quick 2)')
    p.add_argument('--throughput-batch', type=int, help='default 32 (quick 2)')
    p.add_argument('--train-batch', type=int, help='default 16 (quick 2)')
    p.add_argument('--train-lr', type=float, default=1e-4,
                   help='Adam learning rate of the training rows (default 1e-4: the loss '
                   'moves visibly within the timed steps)')
    p.add_argument('--gpu-batch', type=int, help='second GPU batch size (default 64; quick 2)')
    p.add_argument('--no-cpu', action='store_true',
                   help='skip the CPU latency/throughput rows (e.g. on a GPU machine)')
    p.add_argument('--no-onnx', action='store_true', help='skip the ONNX Runtime row')
    p.add_argument('--no-train', action='store_true', help='skip the training rows')
    p.add_argument('--out-json', help='write all results to this JSON file')
    p.add_argument('--out-table', help='write the table (Markdown) to this file')
    args = p.parse_args(argv)
    quick = args.quick
    args.shape = tuple(args.shape or ((128, 96) if quick else (256, 192)))
    args.repeats = args.repeats or (2 if quick else 15)
    args.throughput_batch = args.throughput_batch or (2 if quick else 32)
    args.train_batch = args.train_batch or (2 if quick else 16)
    args.gpu_batch = args.gpu_batch or (2 if quick else 64)
    if not args.train_lr > 0:
        p.error(f'--train-lr: expected a positive learning rate, got {args.train_lr}')
    for name in ('repeats', 'throughput_batch', 'train_batch', 'gpu_batch', 'threads'):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f'--{name.replace("_", "-")}: expected a positive int, got {value}')
    if any(s < 32 or s % 32 for s in args.shape):
        p.error(f'--shape: H and W must be positive multiples of 32, got {args.shape}')
    return args


# --------------------------------------------------------------------------------------
# Models


def build_variants(config: str, shape: Tuple[int, int]) -> Tuple[Dict[str, nn.Module], dict]:
    """The four variants of one config with the same weights, and their agreement checks
    (max |variant - mmpose| on one random batch)."""
    torch.manual_seed(0)
    ours = build_pose_model(config)
    calibrate_bn(ours, shape)
    ref = build_pose_model(config, reference=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    variants = {
        BASELINE: ref,
        'mmpose+bnfold': switch_to_deploy(copy.deepcopy(ref)),
        'ours': ours,
        'ours-deploy': switch_to_deploy(copy.deepcopy(ours)),
    }
    x = torch.randn(2, 3, *shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        outs = {k: tensor_mode(m)(x) for k, m in variants.items()}
    base = outs[BASELINE]
    checks = {k: (o - base).abs().max().item() for k, o in outs.items() if k != BASELINE}
    scale = base.abs().max().item()
    checks['output_abs_max'] = scale
    # Absolute limits for outputs of magnitude <= 1, relative beyond: calibrated outputs
    # reach a few units, and BN folding's float32 rounding grows with them.
    limits = {k: v * max(1.0, scale) for k, v in
              (('ours', 1e-5), ('mmpose+bnfold', 1e-4), ('ours-deploy', 1e-4))}
    bad = {k: v for k, v in checks.items() if k in limits and v > limits[k]}
    if bad:
        raise RuntimeError(f'{config}: outputs disagree with MMPose: {bad} (limits {limits})')
    return variants, checks


# --------------------------------------------------------------------------------------
# Measurements


def _rows(metric: str, unit: str, values: Dict[str, List[float]], **extra: object) -> List[Row]:
    """One row per variant with summary statistics and the ratio to the baseline."""
    stats = {k: summarize(v) for k, v in values.items()}
    base = stats[BASELINE]['median']
    return [dict(metric=metric, variant=k, unit=unit, ratio=(s['median'] / base if base else
                                                               None), **s, **extra)
            for k, s in stats.items()]


def cpu_rows(variants: Dict[str, nn.Module], args: argparse.Namespace) -> List[Row]:
    """Inference latency / throughput and peak RSS growth on the CPU."""
    rows: List[Row] = []
    modules = {k: tensor_mode(m).eval() for k, m in variants.items()}
    for metric, batch in (('cpu_latency_b1', 1), (f'cpu_throughput_b{args.throughput_batch}',
                                                   args.throughput_batch)):
        x = torch.randn(batch, 3, *args.shape)
        fns = {k: (lambda m=m: m(x)) for k, m in modules.items()}
        with torch.inference_mode():
            times = interleaved(fns, args.repeats, warmup=2 if batch == 1 else 1)
            rows += _rows(metric, 's', times, batch=batch,
                          images_per_s={k: batch / summarize(v)['median']
                                        for k, v in times.items()}
                          if batch > 1 else None)
            mem = {k: peak_rss_growth(f) for k, f in fns.items()}
            tensors = {k: [float(peak_tensor_bytes(f))] for k, f in fns.items()}
        prefix = f'{metric.split("_b")[0]}_b{batch}'
        if all(v is not None for v in mem.values()):
            rows += _rows(f'{prefix}_peak_rss', 'bytes', {k: [float(v)] for k, v in mem.items()},
                          batch=batch)
        rows += _rows(f'{prefix}_peak_tensors', 'bytes', tensors, batch=batch)
    return rows


def train_rows(variants: Dict[str, nn.Module], args: argparse.Namespace) -> List[Row]:
    """Training step time (forward + backward + Adam), saved tensors and peak RSS growth.
    Deployed variants are inference-only and skipped; training works on copies."""
    models = {k: copy.deepcopy(variants[k]).train() for k in (BASELINE, 'ours')}
    x = torch.randn(args.train_batch, 3, *args.shape)
    with torch.no_grad():
        target = torch.randn_like(tensor_mode(models['ours'])(x))
    optims = {k: torch.optim.Adam(m.parameters(), lr=args.train_lr) for k, m in models.items()}
    losses: Dict[str, List[float]] = {k: [] for k in models}

    def step(name: str) -> torch.Tensor:
        optims[name].zero_grad(set_to_none=True)
        loss = (tensor_mode(models[name])(x) - target).pow(2).mean()
        loss.backward()
        optims[name].step()
        losses[name].append(loss.item())
        return loss

    fns = {k: (lambda k=k: step(k)) for k in models}
    rows = _rows(f'train_step_b{args.train_batch}', 's', interleaved(fns, args.repeats),
                 batch=args.train_batch)
    # Same weights, data and optimizer: both models must follow the same loss trajectory
    # (every variant takes the same number of steps, warm-up included).
    n = min(len(v) for v in losses.values())
    for row in rows:
        row['losses'] = losses[row['variant']][:n]
        row['loss_max_rel_diff'] = max(
            abs(a - b) / max(abs(b), 1e-12)
            for a, b in zip(losses[row['variant']], losses[BASELINE]))
    print(f'train loss trajectories over {n} steps: ' + ', '.join(
        f'{r["variant"]} {r["losses"][0]:.6g} -> {r["losses"][-1]:.6g} '
        f'(max rel diff to {BASELINE} {r["loss_max_rel_diff"]:.1e})' for r in rows), flush=True)
    saved = {k: [float(saved_tensor_bytes(lambda k=k: tensor_mode(models[k])(x)))]
             for k in models}
    rows += _rows(f'train_b{args.train_batch}_saved_tensors', 'bytes', saved,
                  batch=args.train_batch)
    mem = {k: peak_rss_growth(f) for k, f in fns.items()}
    if all(v is not None for v in mem.values()):
        rows += _rows(f'train_b{args.train_batch}_peak_rss', 'bytes',
                      {k: [float(v)] for k, v in mem.items()}, batch=args.train_batch)
    rows += _rows(f'train_b{args.train_batch}_peak_tensors', 'bytes',
                  {k: [float(peak_tensor_bytes(f))] for k, f in fns.items()},
                  batch=args.train_batch)
    return rows


def onnx_rows(variants: Dict[str, nn.Module], args: argparse.Namespace) -> List[Row]:
    """ONNX Runtime latency at batch 1, every variant exported the same way; the ORT
    outputs are checked against PyTorch's (max abs diff kept in the rows)."""
    sessions, diffs = {}, {}
    x = torch.randn(1, 3, *args.shape)
    with tempfile.TemporaryDirectory() as tmp:
        for k, m in variants.items():
            path = osp.join(tmp, f'{k.replace("+", "_")}.onnx')
            module = tensor_mode(m).eval()
            export_onnx(module, path, (1, 3, *args.shape))
            sessions[k] = ort_session(path, torch.get_num_threads())
            with torch.inference_mode():
                diffs[k] = (torch.from_numpy(ort_run(sessions[k], x)) - module(x)).abs().max()
    fns = {k: (lambda s=s: ort_run(s, x)) for k, s in sessions.items()}
    rows = _rows('ort_latency_b1', 's', interleaved(fns, args.repeats, warmup=2), batch=1)
    for row in rows:
        row['ort_vs_torch_max_abs_diff'] = float(diffs[row['variant']])
    return rows


def accelerator_rows(variants: Dict[str, nn.Module], args: argparse.Namespace,
                     device: torch.device) -> List[Row]:
    """Latency on ``device`` (CUDA, or the CPU for the test suite) at batch 1 and
    ``--gpu-batch``, fp32 and AMP (autocast: fp16 on CUDA, bf16 elsewhere), weights and
    input channels_last; on CUDA also the peak memory one forward allocates. A timed sample
    is the mean of several forwards (kernels are queued asynchronously; the clock stops
    after the device synchronises)."""
    rows: List[Row] = []
    cuda = device.type == 'cuda'
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    amp_dtype = torch.float16 if cuda else torch.bfloat16
    modules = {k: tensor_mode(copy.deepcopy(m)).eval().to(device).to(
        memory_format=torch.channels_last) for k, m in variants.items()}
    for batch in (1, args.gpu_batch):
        x = torch.randn(batch, 3, *args.shape, device=device).to(
            memory_format=torch.channels_last)
        inner = 1 if args.quick else (10 if batch == 1 else 3)
        for amp in (False, True):
            tag = f'gpu_{"amp" if amp else "fp32"}_cl_b{batch}'

            def call(m: nn.Module, n: int = inner) -> None:
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    for _ in range(n):
                        m(x)
                sync()
            fns = {k: (lambda m=m: call(m)) for k, m in modules.items()}
            # CUDA graphs of MMPose's model and ours deployed: the kernels' time alone.
            graphs = {f'{k}+cudagraph': CUDAGraphForward(modules[k], x, amp_dtype if amp
                                                         else None)
                      for k in (BASELINE, 'ours-deploy')} if cuda else {}

            def replay(g: CUDAGraphForward, n: int = inner) -> None:
                for _ in range(n):
                    g(x)
                sync()
            fns.update({k: (lambda g=g: replay(g)) for k, g in graphs.items()})
            with torch.inference_mode():
                # TF32 convolutions (PyTorch's default on CUDA, kept for the timings) round
                # folded and unfolded weights differently: the agreement check runs without.
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp), \
                        torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled,
                                                   allow_tf32=False):
                    outs = {k: m(x).float() for k, m in modules.items()}
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    graph_diffs = {k: (g(x).float() - modules[k.split('+')[0]](x).float())
                                   .abs().max().item() for k, g in graphs.items()}
                times = interleaved(fns, args.repeats, warmup=3)
                tag_rows = _rows(tag, 's', {k: [t / inner for t in v]
                                            for k, v in times.items()},
                                 batch=batch, device=str(device))
                for row in tag_rows:  # same weights: the outputs must agree
                    k = row['variant']
                    if k in graphs:  # the graph replays its eager model's kernels
                        row['max_abs_diff_vs_eager'] = graph_diffs[k]
                    else:
                        row['max_abs_diff_vs_mmpose'] = (outs[k] - outs[BASELINE]).abs().max(
                        ).item()
                rows += tag_rows
                if cuda:
                    mem = {}
                    for k, m in modules.items():
                        torch.cuda.synchronize()
                        torch.cuda.reset_peak_memory_stats()
                        before = torch.cuda.memory_allocated()
                        call(m, 1)
                        mem[k] = [float(torch.cuda.max_memory_allocated() - before)]
                    rows += _rows(f'{tag}_peak_mem', 'bytes', mem, batch=batch)
    return rows


# --------------------------------------------------------------------------------------
# Report


def _fmt(row: Row) -> Tuple[str, str]:
    """Median and spread of a row, human-readable."""
    if row['unit'] == 'bytes':
        spread = '' if row['n'] == 1 else f'[{row["iqr"] / 2**20:.1f}]'
        return f'{row["median"] / 2**20:.1f} MiB', spread
    med = f'{row["median"] * 1e3:.2f} ms'
    if row.get('images_per_s'):
        med += f' ({row["images_per_s"][row["variant"]]:.1f} img/s)'
    return med, f'[{row["iqr"] * 1e3:.2f}]'


def smoke_note(args: argparse.Namespace) -> Optional[str]:
    """Why this run's ratios are no measurement (``--quick`` or under 5 repeats), or None."""
    if not args.quick and args.repeats >= 5:
        return None
    why = '--quick' if args.quick else f'--repeats {args.repeats}'
    return (f'SMOKE RUN ({why}: {args.repeats} repeat(s), {args.shape[0]}x{args.shape[1]} '
            'input, small batches): it checks that every row runs; its ratios vary from run '
            'to run and are not a measurement. Measure without --quick (15 repeats).')


def format_table(results: Dict[str, dict], smoke: bool = False) -> str:
    """Markdown table of every config's rows (``smoke``: ratios labelled as a smoke run)."""
    ratio = 'ratio vs mmpose (smoke run, not a measurement)' if smoke else 'ratio vs mmpose'
    lines = [f'| config | row | variant | median | IQR | {ratio} |',
             '|---|---|---|---|---|---|']
    for config, res in results.items():
        for row in res['rows']:
            med, spread = _fmt(row)
            ratio = '' if row['ratio'] is None else f'{row["ratio"]:.2f}'
            lines.append(f'| {osp.basename(config).replace(".py", "")} | {row["metric"]} | '
                         f'{row["variant"]} | {med} | {spread} | {ratio} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; returns the exit status."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    meta = dict(torch=torch.__version__, threads=torch.get_num_threads(),
                flush_denormal=True, cpu=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(), shape=list(args.shape), repeats=args.repeats,
                quick=args.quick, cuda=torch.cuda.is_available(),
                gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                command=' '.join(['python', 'tools/benchmark.py'] + (argv or sys.argv[1:])))
    print(f'torch {meta["torch"]}, {meta["threads"]} CPU thread(s), input '
          f'{args.shape[0]}x{args.shape[1]}, {args.repeats} repeats, denormals flushed',
          flush=True)
    results: Dict[str, dict] = {}
    for config in args.configs:
        variants, checks = build_variants(config, args.shape)
        print(f'{config}: max |variant - mmpose| = ' +
              ', '.join(f'{k} {v:.2g}' for k, v in checks.items()), flush=True)
        rows = [] if args.no_cpu else cpu_rows(variants, args)
        if not args.no_train:
            rows += train_rows(variants, args)
        if not args.no_onnx:
            try:
                import onnxruntime  # noqa: F401
            except ImportError:
                print('onnxruntime not installed: no ONNX Runtime row')
            else:
                rows += onnx_rows(variants, args)
        if torch.cuda.is_available():
            rows += accelerator_rows(variants, args, torch.device('cuda'))
        results[config] = dict(checks=checks, rows=rows)
    note = smoke_note(args)
    meta['smoke_run'] = note is not None
    table = format_table(results, smoke=note is not None)
    if note:
        table += '\n\n' + note
    save_report(table, dict(meta=meta, results=results), args.out_table, args.out_json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
