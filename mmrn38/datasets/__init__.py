"""Data pipeline parts of the original procedures (see ``transforms``)."""
from .transforms import (CeilCenterCrop, PILResizeEdge, adaptive_filter,
                         resize_float_map)

__all__ = [
    'PILResizeEdge', 'CeilCenterCrop', 'adaptive_filter', 'resize_float_map'
]
