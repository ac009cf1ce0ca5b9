"""mmrn38's parts of mmengine's training machinery: the CPU AMP optimizer
wrapper and :mod:`.hooks`."""
from .hooks import InferenceFastPathHook
from .optim_wrappers import CPUAmpOptimWrapper

__all__ = ['CPUAmpOptimWrapper', 'InferenceFastPathHook']
