"""Heads of mmrn38's weakly-supervised segmentation (imported by
:mod:`mmrn38.wsss`, not by ``import mmrn38``): PSA's CAM classifier head
(mmpretrain) and AffinityNet's affinity head (mmseg)."""
from .affinity_head import AffinityHead
from .cam_head import CAMHead

__all__ = ['AffinityHead', 'CAMHead']
