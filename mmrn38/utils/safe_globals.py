"""Let checkpoints saved by mmengine load with torch's safe loader.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, which
refuses every pickled global it does not know. mmengine 0.10.7 writes a few
into every checkpoint (its ``message_hub`` holds ``HistoryBuffer`` objects
backed by numpy arrays, and ``meta`` may hold numpy scalars), so
``tools/test.py CFG CKPT``, ``--resume`` and ``init_model`` all fail with
``Unsupported global``. Instead of turning safe loading off, this module
admits exactly those types with ``torch.serialization.add_safe_globals``.

One entry needs care: ``HistoryBuffer`` pickles its statistics methods
(``HistoryBuffer.min`` ...) as ``builtins.getattr(HistoryBuffer, 'min')``.
Admitting ``getattr`` itself would let a file reach any attribute of any
admitted object, so a stand-in is registered under that name that resolves
only functions defined on ``HistoryBuffer`` and refuses everything else.
"""
import inspect
import pickle

import numpy as np
import torch


def _numpy_globals():
    multiarray = getattr(np, '_core', None) or np.core
    dtype_classes = [
        type(np.dtype(t))
        for t in (np.float16, np.float32, np.float64, np.int8, np.int16,
                  np.int32, np.int64, np.uint8, np.bool_)
    ]
    return [
        multiarray.multiarray._reconstruct,
        multiarray.multiarray.scalar,
        np.ndarray,
        np.dtype,
        *dtype_classes,
    ]


def history_buffer_method(owner, name: str):
    """What ``getattr(owner, name)`` gives, for ``owner`` ``HistoryBuffer``
    and ``name`` a function defined on it; ``UnpicklingError`` otherwise."""
    from mmengine.logging.history_buffer import HistoryBuffer
    method = HistoryBuffer.__dict__.get(name) if owner is HistoryBuffer \
        else None
    if not inspect.isfunction(method):
        raise pickle.UnpicklingError(
            f'refusing getattr({getattr(owner, "__name__", type(owner))!r}, '
            f'{name!r}) in a checkpoint: only HistoryBuffer statistics '
            f'methods are admitted')
    return method


def checkpoint_safe_globals():
    """The globals an mmengine 0.10.7 checkpoint may contain."""
    from mmengine.logging.history_buffer import HistoryBuffer
    return [
        HistoryBuffer,
        (history_buffer_method, 'builtins.getattr'),
        *_numpy_globals(),
    ]


def register_checkpoint_safe_globals():
    """Admit :func:`checkpoint_safe_globals` to ``torch.load``'s
    ``weights_only`` unpickler (idempotent)."""
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
