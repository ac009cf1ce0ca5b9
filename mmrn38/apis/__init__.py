from .inference import (InferenceError, draw_overlay, infer_images,
                        init_segmentor, inspect_checkpoint, list_images,
                        read_image, write_png)
from .runner import (CheckpointError, ConfigError, build_runner,
                     close_distributed, config_scope, load_checkpoint_lazily,
                     load_config, prepare_test, prepare_train,
                     unknown_types_as_config_error)

__all__ = [
    'CheckpointError', 'ConfigError', 'build_runner', 'close_distributed',
    'config_scope', 'load_checkpoint_lazily', 'load_config', 'prepare_test',
    'prepare_train', 'unknown_types_as_config_error', 'InferenceError',
    'draw_overlay', 'infer_images', 'init_segmentor', 'inspect_checkpoint',
    'list_images', 'read_image', 'write_png'
]
