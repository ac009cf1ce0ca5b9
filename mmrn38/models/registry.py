"""Registration of mmrn38's models into the OpenMMLab registries.

The backbone goes into both ``mmseg.registry.MODELS`` and
``mmpretrain.registry.MODELS`` (one class, two registries), so that
``dict(type='ResNet38')`` builds in either library's configs. mmpretrain is
optional: without it only the mmseg registry is filled.
"""
from mmseg.registry import MODELS as MMSEG_MODELS

try:
    from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
except ImportError:  # mmseg-only environment
    MMPRETRAIN_MODELS = None


def register_backbone(cls):
    """Register ``cls`` in mmseg's and (if installed) mmpretrain's MODELS."""
    MMSEG_MODELS.register_module(module=cls)
    if MMPRETRAIN_MODELS is not None:
        MMPRETRAIN_MODELS.register_module(module=cls)
    return cls


def register_seg_module(cls):
    """Register a decode head, loss or segmentor part in mmseg's MODELS."""
    MMSEG_MODELS.register_module(module=cls)
    return cls
