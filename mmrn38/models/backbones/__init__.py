from .residual_units import PreActBasicUnit, PreActBottleneckUnit
from .resnet38 import ResNet38

__all__ = ['ResNet38', 'PreActBasicUnit', 'PreActBottleneckUnit']
