from .runner import (build_runner, config_scope, load_config, prepare_test,
                     prepare_train)

__all__ = [
    "build_runner", "config_scope", "load_config", "prepare_test",
    "prepare_train"
]
