from .backbones import ResNet38
from .decode_heads import WiderHead
from .losses import BootstrappedCrossEntropyLoss

__all__ = ['BootstrappedCrossEntropyLoss', 'ResNet38', 'WiderHead']
