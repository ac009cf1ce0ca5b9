"""The OpenMMLab registries that mmrn38 registers its modules in.

mmrn38 has no registries of its own: its modules go into the libraries'
ones, so that mmseg's and mmpretrain's configs build them by name.

- mmseg's ``MODELS`` (backbone, decode head, loss, segmentors),
  ``TRANSFORMS`` and ``DATASETS``;
- mmpretrain's ``MODELS`` (backbone, CAM head), ``TRANSFORMS`` and
  ``DATASETS``, where mmpretrain is installed (it is optional: without it
  these names are None and :func:`register` leaves them out);
- mmengine's root ``HOOKS``, ``OPTIM_WRAPPERS`` and ``MODEL_WRAPPERS``,
  which both libraries' registries inherit.
"""
from typing import Callable, Optional, Type

from mmengine.registry import HOOKS, MODEL_WRAPPERS, OPTIM_WRAPPERS, Registry
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS

try:
    from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
    from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
except ImportError:  # mmseg-only environment
    MMPRETRAIN_DATASETS = MMPRETRAIN_MODELS = MMPRETRAIN_TRANSFORMS = None

__all__ = [
    'HOOKS', 'MODEL_WRAPPERS', 'OPTIM_WRAPPERS', 'MMSEG_DATASETS',
    'MMSEG_MODELS', 'MMSEG_TRANSFORMS', 'MMPRETRAIN_DATASETS',
    'MMPRETRAIN_MODELS', 'MMPRETRAIN_TRANSFORMS', 'register'
]


def register(*registries: Optional[Registry]) -> Callable[[Type], Type]:
    """Class decorator: register the class under its own name in each of
    ``registries``.

    Args:
        *registries: Registries of this module; None (an mmpretrain
            registry where mmpretrain is not installed) is skipped.

    Returns:
        The decorator, which returns the class unchanged.
    """

    def decorator(cls: Type) -> Type:
        for registry in registries:
            if registry is not None:
                registry.register_module(module=cls)
        return cls

    return decorator
