"""mmrn38: ResNet-38 ("Wider or Deeper") for MMSegmentation and MMPretrain.

``import mmrn38`` (or ``custom_imports=dict(imports=['mmrn38'])`` in a
config) registers the ``ResNet38`` backbone in mmseg's and mmpretrain's model
registries, the ``WiderHead`` decode head in mmseg's and the original
release's test procedure (``OriginalEncoderDecoder``, ``OriginalTTAModel``,
the ``PILResizeEdge`` / ``CeilCenterCrop`` transforms), the
``InferenceFastPathHook``, ``CPUAmpOptimWrapper`` and
``CPUDistributedDataParallel`` in mmengine's registries (all of them through
:mod:`mmrn38.registry`), and lets checkpoints saved by mmengine load with
torch's safe ``weights_only`` loader. :func:`optimize_for_inference` readies
a loaded model for fast inference. The mmpretrain-only parts (``CAMHead``,
``VOCSegClsDataset``) are registered by ``import mmrn38.wsss``.
"""
# the original release's test protocols (configs/original/)
from .datasets.transforms import CeilCenterCrop, PILResizeEdge
# --amp on CPUs (bfloat16 autocast), --launcher pytorch on CPUs and
# tools/test.py --fast's hook
from .engine import (CPUAmpOptimWrapper, CPUDistributedDataParallel,
                     InferenceFastPathHook)
from .models import ResNet38, WiderHead
from .models.inference_optimization import optimize_for_inference
from .models.segmentors import OriginalEncoderDecoder, OriginalTTAModel
from .utils.safe_globals import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

__all__ = [
    '__version__', 'ResNet38', 'WiderHead', 'OriginalEncoderDecoder',
    'OriginalTTAModel', 'PILResizeEdge', 'CeilCenterCrop',
    'optimize_for_inference', 'CPUAmpOptimWrapper',
    'CPUDistributedDataParallel', 'InferenceFastPathHook'
]
