"""Model complexity analysis: parameters and FLOPs per stage in the mmengine and the
Lite-HRNet paper conventions (see :mod:`.complexity`)."""
from .complexity import (EXPLANATION, MMENGINE_UNIT, PAPER_UNIT, ComplexityReport, Row,
                         TensorForward, analyze_complexity, build_model_from_config,
                         config_input_hw, format_report, mmengine_flops, paper_flops,
                         resolve_input_hw, stage_groups)

__all__ = [
    'EXPLANATION', 'MMENGINE_UNIT', 'PAPER_UNIT', 'ComplexityReport', 'Row', 'TensorForward',
    'analyze_complexity', 'build_model_from_config', 'config_input_hw', 'format_report',
    'mmengine_flops', 'paper_flops', 'resolve_input_hw', 'stage_groups'
]
