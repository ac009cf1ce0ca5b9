"""mmpretrain heads of mmrn38 (need mmpretrain; imported by
:mod:`mmrn38.wsss`, not by ``import mmrn38``)."""
from .cam_head import CAMHead

__all__ = ['CAMHead']
