"""Model analysis: parameters and FLOPs per stage in the mmengine and the Lite-HRNet paper
conventions (see :mod:`.complexity`), and call timing (:mod:`.timing`)."""
from .complexity import (EXPLANATION, MMENGINE_UNIT, PAPER_UNIT, ComplexityReport, Row,
                         analyze_complexity, check_hw, format_report, mmengine_flops, paper_flops,
                         stage_groups)
from .timing import summarize, time_calls

__all__ = [
    'EXPLANATION', 'MMENGINE_UNIT', 'PAPER_UNIT', 'ComplexityReport', 'Row',
    'analyze_complexity', 'check_hw', 'format_report', 'mmengine_flops', 'paper_flops',
    'stage_groups', 'summarize', 'time_calls'
]
