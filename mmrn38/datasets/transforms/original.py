"""Image transforms of the original test protocols (ademxapp's
``util/transformer.py``): PIL resizing of one image edge with the original's
rounding and filter choice, and its centre crop."""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from mmrn38.registry import MMPRETRAIN_TRANSFORMS, MMSEG_TRANSFORMS, register

FILTERS = {
    'bicubic': Image.Resampling.BICUBIC,
    'bilinear': Image.Resampling.BILINEAR,
    'lanczos': Image.Resampling.LANCZOS,
}


def adaptive_filter(src_hw: Tuple[int, int],
                    dst_hw: Tuple[int, int]) -> Image.Resampling:
    """The original's PIL filter for resizing ``src_hw`` to ``dst_hw``
    (ademxapp ``get_interp_method`` with ``choose_interpolation_method``):
    both sides shrink -> Lanczos (PIL's former ``ANTIALIAS``), both grow ->
    bicubic, otherwise bilinear."""
    (src_h, src_w), (dst_h, dst_w) = src_hw, dst_hw
    if dst_h < src_h and dst_w < src_w:
        return Image.Resampling.LANCZOS
    if dst_h > src_h and dst_w > src_w:
        return Image.Resampling.BICUBIC
    return Image.Resampling.BILINEAR


def resize_float_map(data: np.ndarray, size_hw: Tuple[int, int],
                     resample: Image.Resampling) -> np.ndarray:
    """Resize each channel of a float map with PIL ('F' mode, float32).

    (C, h, w) -> (C, size_hw[0], size_hw[1]) float32.
    """
    height, width = size_hw
    return np.stack([
        np.asarray(Image.fromarray(channel).resize((width, height), resample))
        for channel in np.asarray(data, dtype=np.float32)
    ])


@register(MMSEG_TRANSFORMS, MMPRETRAIN_TRANSFORMS)
class PILResizeEdge(BaseTransform):
    """Resize so that one image edge is ``scale``, as ademxapp's ``Scale``.

    The other edge becomes ``round(scale * other / edge)`` (numpy's
    round-half-to-even); an image whose edge already is ``scale`` is left
    untouched. The image goes through PIL with ``interpolation``:
    ``'adaptive'`` (the segmentation protocol, see :func:`adaptive_filter`),
    or a fixed ``'bicubic'`` / ``'bilinear'`` / ``'lanczos'`` (ImageNet:
    bicubic, ademxapp's ``--no-choose-interp-method``).

    Required keys: ``img`` (H, W, C) uint8. Modified keys: ``img``,
    ``img_shape``. Added keys: ``scale_factor`` (w, h ratios),
    ``keep_ratio``. Labels are not resized: the original protocols score
    predictions resized back to the original image size.

    Args:
        scale (int): Target length of the chosen edge.
        edge (str): ``'long'`` (segmentation) or ``'short'`` (ImageNet).
        interpolation (str): ``'adaptive'``, ``'bicubic'``, ``'bilinear'``
            or ``'lanczos'``.
    """

    def __init__(self,
                 scale: int,
                 edge: str = 'long',
                 interpolation: str = 'adaptive'):
        if not isinstance(scale, int) or scale < 1:
            raise ValueError(f'scale must be a positive int, got {scale!r}')
        if edge not in ('long', 'short'):
            raise ValueError(f'edge must be "long" or "short", got {edge!r}')
        if interpolation != 'adaptive' and interpolation not in FILTERS:
            raise ValueError(f'interpolation must be "adaptive" or one of '
                             f'{sorted(FILTERS)}, got {interpolation!r}')
        self.scale = scale
        self.edge = edge
        self.interpolation = interpolation

    def target_size(self, height: int, width: int) -> Tuple[int, int]:
        """(h, w) of an image of ``height`` x ``width`` after resizing."""
        pick = max if self.edge == 'long' else min
        if pick(height, width) == self.scale:
            return height, width
        if pick(height, width) == width:
            return int(np.round(self.scale * height / width)), self.scale
        return self.scale, int(np.round(self.scale * width / height))

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3:
            raise ValueError(f'PILResizeEdge needs an (H, W, C) uint8 image, '
                             f'got {img.dtype} of shape {img.shape}')
        height, width = img.shape[:2]
        new_h, new_w = self.target_size(height, width)
        if (new_h, new_w) != (height, width):
            resample = adaptive_filter((height, width), (new_h, new_w)) \
                if self.interpolation == 'adaptive' else \
                FILTERS[self.interpolation]
            img = np.asarray(
                Image.fromarray(img).resize((new_w, new_h), resample))
        results['img'] = img
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (new_w / width, new_h / height)
        results['keep_ratio'] = True
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'edge={self.edge!r}, interpolation={self.interpolation!r})')


@register(MMSEG_TRANSFORMS, MMPRETRAIN_TRANSFORMS)
class CeilCenterCrop(BaseTransform):
    """Centre crop of ``crop_size`` x ``crop_size`` at ademxapp's offsets
    ``ceil((H - crop_size) / 2)``, ``ceil((W - crop_size) / 2)`` (mmcv's
    ``CenterCrop`` rounds half to even instead).

    Required keys: ``img`` (H, W, C) with H, W >= ``crop_size``. Modified
    keys: ``img`` (crop_size, crop_size, C), ``img_shape``.

    Args:
        crop_size (int): Side of the square crop.
    """

    def __init__(self, crop_size: int):
        if not isinstance(crop_size, int) or crop_size < 1:
            raise ValueError(f'crop_size must be a positive int, got '
                             f'{crop_size!r}')
        self.crop_size = crop_size

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        size = self.crop_size
        if height < size or width < size:
            raise ValueError(f'CeilCenterCrop({size}) needs an image of at '
                             f'least {size}x{size}, got {height}x{width}')
        top = int(np.ceil((height - size) / 2))
        left = int(np.ceil((width - size) / 2))
        results['img'] = img[top:top + size, left:left + size]
        results['img_shape'] = (size, size)
        return results

    def __repr__(self):
        return f'{self.__class__.__name__}(crop_size={self.crop_size})'
