"""Parameter and FLOP counts of a model, per stage, in two conventions.

* **mmengine** (the honest count): :class:`mmengine.analysis.FlopAnalyzer` traces the
  eval-mode forward and counts every supported op each time it executes (one fused
  multiply-add = one flop), reported in units of 1e6. This is what MMPose's / MMSeg's
  ``get_flops`` tools print. Elementwise ops (add, mul, ReLU, Sigmoid, ...) have no
  mmengine flop handle and are listed separately as not counted.
* **paper**: the convention of the Lite-HRNet paper's tables. The official repository's
  ``tools/summary_network.py`` measured them with its bundled copy of ``torchstat`` (not
  mmcv's ``get_model_complexity_info``, whose import there is commented out), and its
  "M" is 2**20. That counter hooks leaf ``nn.Module`` instances only and stores (does not
  add) each module's figure, so a module called several times counts once, with its last
  call. Per leaf module: convolution = output elements * kernel area * in_channels / groups
  (+ output elements with a bias); BN = 2 per input element (affine); ReLU-family = 1 per
  input element; adaptive average pooling = for every output cell, batch * channels *
  (window height + 1) * (window width + 1); ``nn.Upsample`` = batch * output height * output
  width (no channel factor); linear = batch * in * out. Everything else -- Sigmoid,
  Identity, and all functional ops (``F.interpolate``, ``F.adaptive_avg_pool2d``, ``cat``,
  ``mul``, ``add``) -- counts 0. These rules are reimplemented here from that description
  (own code, no vendored counter); the official figures are reproduced without any fitted
  constant.
"""
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from prettytable import PrettyTable
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from ..utils import TensorForward

#: Unit of the paper-convention column (the official counter prints binary "M").
PAPER_UNIT = 2**20
#: Unit of the mmengine column (decimal M, as mmengine / MMPose's get_flops print).
MMENGINE_UNIT = 10**6

EXPLANATION = (
    'Why the columns differ: the paper convention (the official Lite-HRNet counter) counts '
    'only leaf nn.Modules, each once (its last call), adds 1 flop per ReLU element, '
    '(H+1)(W+1) per channel for adaptive pooling and H*W per nn.Upsample, ignores functional '
    'ops (F.interpolate, F.adaptive_avg_pool2d, add/mul/cat) and Sigmoid, and divides by '
    '2^20; mmengine traces the eval-mode forward and counts every supported op each time it '
    'runs (bilinear upsampling 4/element, adaptive pooling 1/input element, no ReLU/Sigmoid/'
    'add/mul), in 1e6.')
EVAL_NOTE = (
    'Both columns count the eval-mode forward (batch 1). Our fusion layers evaluate each '
    'repeated high-to-low path once and double it where the reference calls it twice (in '
    'training too), and the Lite blocks apply cross-resolution weights through a broadcast '
    'view instead of upsampling them; the mmengine column counts what actually runs (MMPose\'s '
    'own LiteHRNet-18 measures 266.3M at 256x192, ours 216.4M), the paper column counts every '
    'module once anyway and is the same for both.')

Shape = Tuple[int, int]


def _pair_size(value: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``k`` -> ``(k, k)``; a pair as is."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv_flops(m: nn.Module, x: Tensor, y: Tensor) -> int:
    """Multiply-adds of a (non-transposed) convolution, plus one per output with a bias."""
    out = y.numel()
    flops = out * math.prod(m.kernel_size) * m.in_channels // m.groups
    return flops + (out if m.bias is not None else 0)


def _adaptive_pool_flops(m: nn.Module, x: Tensor, y: Tensor) -> int:
    """The official counter's adaptive pooling formula: every output cell costs
    batch * channels * (window height + 1) * (window width + 1)."""
    b, c, h, w = x.shape
    oh, ow = y.shape[-2:]
    rows = sum(math.ceil((i + 1) * h / oh) - math.floor(i * h / oh) + 1 for i in range(oh))
    cols = sum(math.ceil((j + 1) * w / ow) - math.floor(j * w / ow) + 1 for j in range(ow))
    return b * c * rows * cols


def _pool_flops(m: nn.Module, x: Tensor, y: Tensor) -> int:
    """Fixed-window pooling: kernel area per output element."""
    return y.numel() * math.prod(_pair_size(m.kernel_size))


def _upsample_flops(m: nn.Module, x: Tensor, y: Tensor) -> int:
    """The official counter's ``nn.Upsample`` formula: batch * output height * width."""
    return y.shape[0] * math.prod(y.shape[2:])


def _bn_flops(m: nn.Module, x: Tensor, y: Tensor) -> int:
    """Normalisation: 2 per input element with an affine transform, else 1."""
    return x.numel() * (2 if m.affine else 1)


def _linear_flops(m: nn.Module, x: Tensor, y: Tensor) -> int:
    """Multiply-adds of a linear layer (bias not counted)."""
    return x.numel() * m.out_features


#: Leaf module types the paper convention counts, with their rule. Any other leaf counts 0.
PAPER_RULES: Dict[Tuple[Type[nn.Module], ...], Callable[[nn.Module, Tensor, Tensor], int]] = {
    (nn.Conv1d, nn.Conv2d, nn.Conv3d): _conv_flops,
    (_BatchNorm, ): _bn_flops,
    (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU): lambda m, x, y: x.numel(),
    (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d): _adaptive_pool_flops,
    (nn.AvgPool2d, nn.MaxPool2d): _pool_flops,
    (nn.Upsample, ): _upsample_flops,
    (nn.Linear, ): _linear_flops,
}


def _paper_rule(module: nn.Module) -> Optional[Callable[[nn.Module, Tensor, Tensor], int]]:
    """The paper-convention rule of a module, None where it counts 0."""
    for types, rule in PAPER_RULES.items():
        if isinstance(module, types):
            return rule
    return None


def _first_tensor(value: object) -> Optional[Tensor]:
    """The first tensor in a (nested) tuple / list, or the value itself."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (list, tuple)):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def paper_flops(model: nn.Module, inputs: Tensor) -> Dict[str, int]:
    """Paper-convention FLOPs of every counted leaf module, keyed by its name in ``model``.

    Runs one ``torch.no_grad`` forward of :class:`TensorForward` in the model's current
    mode; a module called several times keeps the figure of its last call.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f'model: expected an nn.Module, got {type(model).__name__}')
    flops: Dict[str, int] = {}
    handles = []

    def hook(name: str, rule: Callable) -> Callable:
        """A forward hook storing ``rule``'s count under ``name``."""
        def record(m: nn.Module, args: tuple, output: object) -> None:
            """Store the flops of this call."""
            x, y = _first_tensor(args), _first_tensor(output)
            if x is not None and y is not None:
                flops[name] = int(rule(m, x, y))  # assignment: last call wins
        return record

    for name, module in model.named_modules():
        rule = _paper_rule(module)
        if rule is not None and next(module.children(), None) is None:
            handles.append(module.register_forward_hook(hook(name, rule)))
    try:
        with torch.no_grad():
            TensorForward(model)(inputs)
    finally:
        for h in handles:
            h.remove()
    return flops


def mmengine_flops(model: nn.Module, inputs: Tensor) -> Tuple[Dict[str, int], Counter]:
    """mmengine's flop count of the traced forward, per module name in ``model`` (every
    ancestor included, ``''`` being the total), and the ops it met but does not count."""
    analyzer = FlopAnalyzer(TensorForward(model), (inputs, ))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    with torch.no_grad():
        by_module = analyzer.by_module()
        unsupported = analyzer.unsupported_ops()
    prefix = 'model.'
    per_module = {k[len(prefix):]: v for k, v in by_module.items() if k.startswith(prefix)}
    per_module[''] = by_module['']
    return per_module, unsupported


def stage_groups(model: nn.Module) -> List[Tuple[str, str]]:
    """``(row label, module name prefix)`` of every row of the table, in forward order: the
    backbone's children (stem, transition0, stage0, ..., head_layer), then the model's other
    children (neck, head, decode_head, ...). A bare backbone lists its own children."""
    children = dict(model.named_children())
    backbone = children.get('backbone')
    if backbone is None:
        return [(name, name) for name in children]
    rows = [(name, f'backbone.{name}') for name, _ in backbone.named_children()]
    rows += [(name, name) for name in children if name not in ('backbone', 'data_preprocessor')]
    return rows


def _sum_prefix(values: Dict[str, int], prefix: str) -> int:
    """Sum over the module named ``prefix`` and its descendants."""
    return sum(v for k, v in values.items() if k == prefix or k.startswith(prefix + '.'))


def _param_count(module: nn.Module) -> int:
    """Number of parameters (each shared tensor once)."""
    return sum(p.numel() for p in module.parameters())


@dataclass
class Row:
    """One table row: a part of the model with its parameters and both FLOP counts."""
    name: str
    params: int
    paper_flops: int
    mmengine_flops: int


@dataclass
class ComplexityReport:
    """Per-stage complexity of a model at one input size (``rows[-1]`` is the total)."""
    input_hw: Shape
    rows: List[Row]
    not_counted_by_mmengine: Counter = field(default_factory=Counter)

    @property
    def total(self) -> Row:
        """The total row."""
        return self.rows[-1]


def check_hw(input_hw: Sequence[int], field_name: str) -> Shape:
    """Validate a (height, width) pair; errors name ``field_name``."""
    if (not isinstance(input_hw, (list, tuple)) or len(input_hw) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                       for v in input_hw)):
        raise ValueError(f'{field_name}: expected (height, width) as two positive ints, '
                         f'got {input_hw!r}')
    return int(input_hw[0]), int(input_hw[1])


def analyze_complexity(model: nn.Module,
                       input_hw: Sequence[int],
                       with_mmengine: bool = True) -> ComplexityReport:
    """Count parameters and both FLOP conventions of ``model`` (put in eval mode) on one
    ``1 x C x H x W`` random image, per row of :func:`stage_groups` plus a total.

    ``with_mmengine=False`` skips the (slower, tracing) mmengine count; its column is 0.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f'model: expected an nn.Module, got {type(model).__name__}')
    h, w = check_hw(input_hw, 'input_hw')
    model.eval()
    x = torch.randn(1, _in_channels(model), h, w)
    paper = paper_flops(model, x)
    honest, unsupported = mmengine_flops(model, x) if with_mmengine else ({}, Counter())
    rows = []
    for label, prefix in stage_groups(model):
        row = Row(label, _param_count(model.get_submodule(prefix)), _sum_prefix(paper, prefix),
                  honest.get(prefix, 0))
        if row.params or row.paper_flops or row.mmengine_flops:
            rows.append(row)
    rows.append(Row('total', _param_count(model), sum(paper.values()), honest.get('', 0)))
    return ComplexityReport((h, w), rows, unsupported)


def _in_channels(model: nn.Module) -> int:
    """Image channels the model expects: those of its first convolution (3 if none)."""
    conv = next((m for m in model.modules() if isinstance(m, _ConvNd)), None)
    return conv.in_channels if conv is not None else 3


def format_report(report: ComplexityReport, title: str = '') -> str:
    """The report as a text table followed by the explanation lines."""
    h, w = report.input_hw
    table = PrettyTable(['part', 'Params', 'Params (M)', 'FLOPs (M = 1e6, mmengine)',
                         'FLOPs (M = 2^20, paper convention)'])
    table.align = 'r'
    table.align['part'] = 'l'
    for row in report.rows:
        if row.name == 'total':
            table.add_divider()
        table.add_row([row.name, f'{row.params:,}', f'{row.params / 1e6:.2f}',
                       f'{row.mmengine_flops / MMENGINE_UNIT:.1f}',
                       f'{row.paper_flops / PAPER_UNIT:.1f}'])
    lines = [f'{title + ": " if title else ""}input 1x3x{h}x{w}', table.get_string(),
             EXPLANATION, EVAL_NOTE]
    if report.not_counted_by_mmengine:
        ops = ', '.join(f'{op} x{n}' for op, n in sorted(report.not_counted_by_mmengine.items()))
        lines.append(f'Ops mmengine met but does not count: {ops}.')
    return '\n'.join(lines)
