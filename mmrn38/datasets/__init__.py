"""mmrn38's data: the pipeline parts of the original procedures (see
``transforms``) and, in :mod:`.voc_seg_cls` (needs mmpretrain; imported by
:mod:`mmrn38.wsss`), the weakly-supervised VOC dataset."""
from .transforms import (CeilCenterCrop, PILResizeEdge, adaptive_filter,
                         resize_float_map)

__all__ = [
    'PILResizeEdge', 'CeilCenterCrop', 'adaptive_filter', 'resize_float_map'
]
