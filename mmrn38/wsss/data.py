"""VOC 2012 in mmseg's layout as weakly-supervised data: the split lists,
the label masks and the image-level labels derived from them, as PSA's
``make_cls_labels.py`` derives them from the annotations (foreground classes
1 .. K present -> 0 .. K-1).
:class:`~mmrn38.datasets.voc_seg_cls.VOCSegClsDataset` reads its items with
them.

Layout read (``DATA_ROOT`` = ``.../VOC2012``)::

    JPEGImages/<name>.jpg
    SegmentationClassAug/<name>.png   (preferred; grey label values)
    SegmentationClass/<name>.png      (else; palette indices)
    ImageSets/Segmentation/<split>.txt
"""
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence

import numpy as np
from mmengine import list_from_file
from PIL import Image

MASK_FOLDERS = ('SegmentationClassAug', 'SegmentationClass')
IGNORE_INDEX = 255


class WSSSDataError(ValueError):
    """Data that cannot be read as described above (one-line message)."""


class VOCSample(NamedTuple):
    """One image of a split: its name, image file and mask file (None if
    it has none and none was required)."""
    name: str
    img_path: str
    mask_path: Optional[str]


def _short(items: Sequence[str], limit: int = 3) -> str:
    shown = ', '.join(items[:limit])
    return shown + (f' and {len(items) - limit} more'
                    if len(items) > limit else '')


def voc_split(data_root: str,
              split: str,
              masks: bool = True) -> List[VOCSample]:
    """The images of ``ImageSets/Segmentation/<split>.txt`` with their
    files; the mask is taken from ``SegmentationClassAug`` if it is there,
    else from ``SegmentationClass``.

    Args:
        data_root: The ``VOC2012`` folder.
        split: The list's name.
        masks: Whether every image needs a mask (False: ``mask_path`` is
            None where there is none).

    Raises:
        WSSSDataError: No such list, an empty list, or images / masks
            missing (all of them named in one line).
    """
    list_file = osp.join(data_root, 'ImageSets', 'Segmentation',
                         f'{split}.txt')
    if not osp.isfile(list_file):
        raise WSSSDataError(f'no split list {list_file}')
    names = [
        line.split()[0] for line in list_from_file(list_file) if line.strip()
    ]
    if not names:
        raise WSSSDataError(f'{list_file} lists no images')
    samples, no_image, no_mask = [], [], []
    for name in names:
        img_path = osp.join(data_root, 'JPEGImages', f'{name}.jpg')
        mask_paths = [
            osp.join(data_root, folder, f'{name}.png')
            for folder in MASK_FOLDERS
        ]
        mask_path = next((m for m in mask_paths if osp.isfile(m)), None)
        if not osp.isfile(img_path):
            no_image.append(name)
        if mask_path is None and masks:
            no_mask.append(name)
        samples.append(VOCSample(name, img_path, mask_path))
    problems = []
    if no_image:
        problems.append(f'{len(no_image)} images missing from '
                        f'{osp.join(data_root, "JPEGImages")} '
                        f'({_short(no_image)})')
    if no_mask:
        problems.append(f'{len(no_mask)} masks missing from '
                        f'{" and ".join(MASK_FOLDERS)} ({_short(no_mask)})')
    if problems:
        raise WSSSDataError(f'split {split} of {data_root}: ' +
                            '; '.join(problems))
    return samples


def read_mask(path: str) -> np.ndarray:
    """A label PNG as ``(H, W)`` uint8 label values (palette PNGs give
    their indices).

    Raises:
        WSSSDataError: Unreadable, or not a single-channel label image.
    """
    try:
        with Image.open(path) as img:
            if img.mode not in ('P', 'L'):
                raise WSSSDataError(f'{path}: a label PNG has one channel '
                                    f'(mode P or L), this one is mode '
                                    f'{img.mode}')
            return np.asarray(img, dtype=np.uint8)
    except OSError as error:
        raise WSSSDataError(f'{path}: cannot read it ({error})') from None


def image_labels(mask: np.ndarray,
                 num_classes: int,
                 path: str = 'mask') -> np.ndarray:
    """Image-level labels of a mask: foreground classes ``1 .. num_classes``
    present (``IGNORE_INDEX`` and background 0 left out).

    Args:
        mask: ``(H, W)`` label values.
        num_classes: Foreground classes K.
        path: Name of the mask, for the error message.

    Returns:
        ``(K,)`` float32, 1 for the classes present (index ``c - 1`` for
        label ``c``).

    Raises:
        WSSSDataError: A label above K other than the ignore index.
    """
    values = np.unique(mask)
    values = values[values != IGNORE_INDEX]
    if values.size and values.max() > num_classes:
        raise WSSSDataError(f'{path}: label {int(values.max())} is above the '
                            f'{num_classes} foreground classes')
    labels = np.zeros(num_classes, np.float32)
    labels[values[values > 0].astype(np.int64) - 1] = 1
    return labels
