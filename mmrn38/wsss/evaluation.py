"""mIoU of pseudo-labels against the masks, computed with mmseg's
``IoUMetric.intersect_and_union`` / ``total_area_to_metrics``:

* CAMs over a sweep of background thresholds (:func:`evaluate_cams`), the
  field's "CAM mIoU" (on VOC train). At threshold ``t`` a pixel takes the
  class of its highest CAM if that CAM exceeds ``t``, else background (PSA's
  ``argmax`` over a constant background score ``t`` and the maps; a tie
  goes to the background);
* a folder of label PNGs (:func:`evaluate_labels`): random-walk labels, a
  segmentation network's predictions, anything with values ``0 ..
  num_classes - 1`` and ``IGNORE_INDEX`` (255) for "no label". A pixel
  without a label is predicted as no class: it counts in no class's
  predicted area and as a miss for its true class (mmseg's arithmetic,
  whose histograms leave 255 out).
"""
import os.path as osp
from typing import Dict, List, NamedTuple, Sequence

import numpy as np
import torch
from mmengine.utils import ProgressBar
from mmseg.evaluation.metrics import IoUMetric

from .data import (IGNORE_INDEX, VOCSample, WSSSDataError, image_labels,
                   read_mask, voc_split)

DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


class Sweep(NamedTuple):
    """Result of :func:`evaluate_cams`.

    ``thresholds`` and ``miou`` (in %, one per threshold); ``best`` the
    index of the highest mIoU; ``iou`` ``(T, num_classes)`` per-class IoU in
    % (NaN where a class is neither predicted nor present); ``num_images``.
    """
    thresholds: List[float]
    miou: List[float]
    iou: np.ndarray
    best: int
    num_images: int


class LabelScore(NamedTuple):
    """Result of :func:`evaluate_labels`: ``miou`` in %, ``iou``
    ``(num_classes,)`` per-class IoU in % (NaN where a class is neither
    predicted nor present), ``num_images``, ``unlabelled`` the % of the
    scored pixels (mask not 255) that the labels leave at 255."""
    miou: float
    iou: np.ndarray
    num_images: int
    unlabelled: float


def iou_percent(areas: torch.Tensor):
    """``(4, num_classes)`` summed areas -> per-class IoU in % and their
    mean (NaN classes left out), by ``IoUMetric.total_area_to_metrics``."""
    iou = IoUMetric.total_area_to_metrics(*areas, metrics=['mIoU'])['IoU']
    return iou * 100, float(np.nanmean(iou) * 100)


def image_files(samples: List[VOCSample], folder: str, ext: str, split: str,
                kind: str) -> List[str]:
    """``<folder>/<name><ext>`` of each image of a split.

    Raises:
        WSSSDataError: Some are missing (how many, and the first).
    """
    files = [osp.join(folder, f'{s.name}{ext}') for s in samples]
    missing = [s.name for s, f in zip(samples, files) if not osp.isfile(f)]
    if missing:
        raise WSSSDataError(
            f'{len(missing)} of the {len(samples)} images of {split} have no '
            f'{kind} in {folder} (e.g. {missing[0]}{ext})')
    return files


def load_cam_dict(path: str) -> Dict[int, np.ndarray]:
    """Read a PSA-format CAM file: ``{class index: (H, W) float}``.

    The format is a pickled dict inside ``.npy`` (``np.save`` of a dict), so
    it is loaded with ``allow_pickle=True``: read only CAM files you trust.

    Raises:
        WSSSDataError: Not such a file.
    """
    try:
        content = np.load(path, allow_pickle=True)
    except (OSError, ValueError) as error:
        raise WSSSDataError(f'{path}: cannot read it ({error})') from None
    if content.shape != () or not isinstance(content.item(), dict):
        raise WSSSDataError(f'{path}: not a CAM dict (np.save of {{class '
                            f'index: (H, W) array}})')
    cams = content.item()
    for key, cam in cams.items():
        if not isinstance(key, (int, np.integer)) or np.ndim(cam) != 2:
            raise WSSSDataError(f'{path}: entry {key!r} is not class index '
                                f'-> (H, W) array')
    return cams


def threshold_areas(cams: Dict[int, np.ndarray],
                    mask: np.ndarray,
                    thresholds: Sequence[float],
                    num_classes: int,
                    name: str = 'CAM') -> torch.Tensor:
    """IoU areas of one image at every threshold.

    Args:
        cams: ``{class index c: (H, W)}``; class ``c`` is label ``c + 1``.
        mask: ``(H, W)`` ground truth (``IGNORE_INDEX`` ignored).
        thresholds: Background scores.
        num_classes: Labels ``0 .. num_classes - 1`` (background included).
        name: Of the CAM file, for the error message.

    Returns:
        ``(T, 4, num_classes)``: intersection, union, predicted and true
        areas, as ``IoUMetric.intersect_and_union``.

    Raises:
        WSSSDataError: A map whose size differs from the mask's, or a class
            beyond ``num_classes``.
    """
    keys = sorted(int(k) for k in cams)
    if keys and (keys[0] < 0 or keys[-1] + 1 >= num_classes):
        raise WSSSDataError(f'{name}: class index {keys[-1]} does not fit '
                            f'{num_classes} labels')
    if keys:
        stack = np.stack([cams[k] for k in keys])
        if stack.shape[1:] != mask.shape:
            raise WSSSDataError(f'{name}: maps of {stack.shape[1:]} for a '
                                f'mask of {mask.shape}')
        peak = torch.from_numpy(stack.max(axis=0))
        fg = torch.from_numpy(np.asarray(keys)[stack.argmax(axis=0)] + 1)
    else:
        peak = torch.zeros(mask.shape)
        fg = torch.zeros(mask.shape, dtype=torch.int64)
    label = torch.from_numpy(mask.astype(np.int64))
    areas = []
    for t in thresholds:
        pred = torch.where(peak > t, fg, torch.zeros_like(fg))
        areas.append(
            torch.stack(
                IoUMetric.intersect_and_union(pred, label, num_classes,
                                              IGNORE_INDEX)))
    return torch.stack(areas)


def evaluate_cams(data_root: str,
                  split: str,
                  cam_dir: str,
                  num_classes: int = 21,
                  thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                  progress: bool = True) -> Sweep:
    """CAM mIoU of a split over background thresholds.

    Args:
        data_root: The ``VOC2012`` folder (mmseg's layout).
        split: ``ImageSets/Segmentation/<split>.txt``.
        cam_dir: Folder of ``<name>.npy`` CAM dicts (``make_cams.py
            --out-cam``), one per image of the split.
        num_classes: Labels with background (21 for VOC).
        thresholds: Background scores to try.
        progress: Show mmengine's progress bar.

    Returns:
        Sweep: mIoU per threshold and the best one.

    Raises:
        WSSSDataError: Missing or malformed files (before any evaluation).
    """
    if not thresholds:
        raise WSSSDataError('no thresholds to evaluate')
    samples = voc_split(data_root, split)
    cam_files = image_files(samples, cam_dir, '.npy', split, 'CAM file')
    total = torch.zeros(len(thresholds), 4, num_classes)
    bar = ProgressBar(len(samples)) if progress else None
    for sample, cam_file in zip(samples, cam_files):
        mask = read_mask(sample.mask_path)
        image_labels(mask, num_classes - 1, sample.mask_path)  # checks labels
        total += threshold_areas(
            load_cam_dict(cam_file), mask, thresholds, num_classes, cam_file)
        if bar is not None:
            bar.update()
    ious, mious = zip(*(iou_percent(areas) for areas in total))
    return Sweep(
        thresholds=[float(t) for t in thresholds],
        miou=list(mious),
        iou=np.stack(ious),
        best=int(np.argmax(mious)),
        num_images=len(samples))


def evaluate_labels(data_root: str,
                    split: str,
                    label_dir: str,
                    num_classes: int = 21,
                    progress: bool = True) -> LabelScore:
    """mIoU of a folder of label PNGs against the masks of a split.

    Args:
        data_root: The ``VOC2012`` folder (mmseg's layout).
        split: ``ImageSets/Segmentation/<split>.txt``.
        label_dir: Folder of ``<name>.png`` labels (palette or grey, one
            channel), values ``0 .. num_classes - 1`` or 255 (no label).
        num_classes: Labels with background (21 for VOC).
        progress: Show mmengine's progress bar.

    Returns:
        LabelScore.

    Raises:
        WSSSDataError: A missing or unreadable PNG, one whose size differs
            from its mask's, or a value beyond the classes and not 255
            (missing files are reported before any evaluation).
    """
    samples = voc_split(data_root, split)
    files = image_files(samples, label_dir, '.png', split, 'label PNG')
    total = torch.zeros(4, num_classes)
    scored = unlabelled = 0
    bar = ProgressBar(len(samples)) if progress else None
    for sample, path in zip(samples, files):
        mask = read_mask(sample.mask_path)
        image_labels(mask, num_classes - 1, sample.mask_path)  # checks labels
        pred = read_mask(path)
        if pred.shape != mask.shape:
            raise WSSSDataError(f'{path}: labels of {pred.shape} for a mask '
                                f'of {mask.shape}')
        values = np.unique(pred)
        bad = values[(values >= num_classes) & (values != IGNORE_INDEX)]
        if bad.size:
            raise WSSSDataError(f'{path}: label {int(bad[0])} is beyond the '
                                f'{num_classes} classes (0 .. '
                                f'{num_classes - 1}, 255 for none)')
        valid = mask != IGNORE_INDEX
        scored += int(valid.sum())
        unlabelled += int((valid & (pred == IGNORE_INDEX)).sum())
        total += torch.stack(
            IoUMetric.intersect_and_union(
                torch.from_numpy(pred.astype(np.int64)),
                torch.from_numpy(mask.astype(np.int64)), num_classes,
                IGNORE_INDEX))
        if bar is not None:
            bar.update()
    iou, miou = iou_percent(total)
    return LabelScore(
        miou=miou,
        iou=iou,
        num_images=len(samples),
        unlabelled=100 * unlabelled / max(scored, 1))
