from .inference import (InferenceError, draw_overlay, infer_images,
                        init_segmentor, inspect_checkpoint, list_images,
                        read_image, write_png)
from .runner import (ConfigError, build_runner, close_distributed,
                     config_scope, load_config, prepare_test, prepare_train)

__all__ = [
    "ConfigError", "build_runner", "close_distributed", "config_scope", "load_config", "prepare_test",
    "prepare_train", "InferenceError", "draw_overlay", "infer_images",
    "init_segmentor", "inspect_checkpoint", "list_images", "read_image",
    "write_png"
]
