from .wider_head import WiderHead

__all__ = ['WiderHead']
