"""mmrn38's parts of mmengine's training machinery."""
from .optim_wrappers import CPUAmpOptimWrapper

__all__ = ['CPUAmpOptimWrapper']
