"""The paper's own analysis: gradient by path length and effective depth
of residual networks (:mod:`.path_lengths`)."""
from .path_lengths import (UNIT_KINDS, effective_depth,
                           gradient_by_path_length, residual_units)

__all__ = [
    'UNIT_KINDS', 'effective_depth', 'gradient_by_path_length',
    'residual_units'
]
