from .residual_units import PreActBasicUnit, PreActBottleneckUnit
from .resnet38 import ResNet38, scaled_channels

__all__ = [
    'ResNet38', 'PreActBasicUnit', 'PreActBottleneckUnit', 'scaled_channels'
]
