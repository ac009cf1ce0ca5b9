"""mmrn38's parts of mmengine's training machinery: the CPU AMP optimizer
wrapper, the CPU DDP model wrapper and :mod:`.hooks`."""
from .hooks import InferenceFastPathHook
from .model_wrappers import CPUDistributedDataParallel
from .optim_wrappers import CPUAmpOptimWrapper

__all__ = [
    'CPUAmpOptimWrapper', 'CPUDistributedDataParallel', 'InferenceFastPathHook'
]
