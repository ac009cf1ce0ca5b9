"""Generated data sets in the real on-disk layouts of VOC, Context,
Cityscapes, ADE20K and ImageNet (scenes of textured shapes), for the demos
and the tests; no download needed."""
from .generators import (COMPLETION_MARKER, class_names, class_style,
                         render_scene, write_ade20k, write_cityscapes,
                         write_context, write_imagenet, write_once, write_voc)

__all__ = [
    'COMPLETION_MARKER', 'class_names', 'class_style', 'render_scene',
    'write_ade20k', 'write_cityscapes', 'write_context', 'write_imagenet',
    'write_once', 'write_voc'
]
