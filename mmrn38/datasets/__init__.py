from .synthetic import (render_scene, write_ade20k, write_cityscapes,
                        write_context, write_imagenet, write_voc)

__all__ = [
    "render_scene", "write_voc", "write_context", "write_cityscapes",
    "write_ade20k", "write_imagenet"
]
