from .backbones import ResNet38
from .decode_heads import WiderHead

__all__ = ['ResNet38', 'WiderHead']
