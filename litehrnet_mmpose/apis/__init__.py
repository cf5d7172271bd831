"""Helpers behind the command-line tools."""
from .cli import add_common_args, apply_resume, load_config

__all__ = ['add_common_args', 'apply_resume', 'load_config']
