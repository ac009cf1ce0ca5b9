"""Segment single images or folders with a trained (or converted) checkpoint
through mmseg's own inference API (``init_model`` + ``inference_model``) and
draw the results with mmseg's ``SegLocalVisualizer``."""
import os
import os.path as osp
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmengine.config import Config
from mmengine.structures import PixelData

from mmrn38.utils.atomic_file import atomic_output
from .runner import CheckpointError, load_checkpoint_lazily

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp',
                    '.ppm', '.pgm')


class InferenceError(Exception):
    """A problem with the user's input, told in one line."""


def list_images(paths: Iterable[str]) -> List[str]:
    """Image files of ``paths``: files as given, folders expanded to their
    image files (by extension, sorted, not recursive).

    Raises:
        InferenceError: a path does not exist or a folder holds no image.
    """
    images = []
    for path in paths:
        if osp.isdir(path):
            found = sorted(
                osp.join(path, name) for name in os.listdir(path)
                if name.lower().endswith(IMAGE_EXTENSIONS)
                and osp.isfile(osp.join(path, name)))
            if not found:
                raise InferenceError(f'no image files in folder {path}')
            images.extend(found)
        elif osp.isfile(path):
            images.append(path)
        else:
            raise InferenceError(f'image not found: {path}')
    return images


def read_image(path: str) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 BGR, as mmseg's
    ``LoadImageFromFile`` reads it: grayscale is repeated into three
    channels, alpha is dropped, 16-bit is scaled to 8.

    Raises:
        InferenceError: the file cannot be decoded as an image.
    """
    try:
        image = mmcv.imread(path, flag='color')
    except OSError as error:
        raise InferenceError(f'cannot read image {path}: {error}') from None
    if image is None:
        raise InferenceError(f'cannot read image {path}: not a readable '
                             f'image file')
    return image


def inspect_checkpoint(checkpoint: str) -> Tuple[int, Optional[dict]]:
    """What a segmentation checkpoint predicts, read without loading its
    tensors (:func:`~mmrn38.apis.runner.load_checkpoint_lazily`): the
    number of classes (output channels of ``decode_head.conv_seg.weight``)
    and the ``dataset_meta`` (classes, palette) mmengine saved with it, or
    None.

    Raises:
        InferenceError: the file is missing, not a checkpoint, or has no
            ``decode_head.conv_seg.weight``.
    """
    try:
        loaded = load_checkpoint_lazily(checkpoint)
    except (FileNotFoundError, CheckpointError) as error:
        raise InferenceError(str(error)) from None
    if not isinstance(loaded, dict):
        loaded = {}
    weight = loaded.get('state_dict',
                        loaded).get('decode_head.conv_seg.weight')
    if weight is None:
        raise InferenceError(
            f'checkpoint {checkpoint} has no decode_head.conv_seg.weight: '
            f'not a segmentation model of an mmseg EncoderDecoder')
    return int(weight.shape[0]), loaded.get('meta', {}).get('dataset_meta')


def init_segmentor(config: Union[str, Config],
                   checkpoint: str,
                   device: str = 'cpu'):
    """mmseg's ``init_model``, after checking that the checkpoint's
    classifier has the config's ``model.decode_head.num_classes`` outputs.

    Returns:
        The segmentor in eval mode. Its ``dataset_meta`` (classes, palette)
        comes from the checkpoint, else from the ``metainfo`` of the
        config's test set, else from mmseg's guess by class count.

    Raises:
        InferenceError: the class counts differ (both are named), or see
            :func:`inspect_checkpoint`.
    """
    from mmseg.apis import init_model

    import mmrn38  # noqa: F401  registers the models and safe globals
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    config_classes = cfg.model.decode_head.num_classes
    ckpt_classes, ckpt_meta = inspect_checkpoint(checkpoint)
    if ckpt_classes != config_classes:
        raise InferenceError(
            f'class count mismatch: checkpoint {checkpoint} predicts '
            f'{ckpt_classes} classes (decode_head.conv_seg.weight), the '
            f'config sets model.decode_head.num_classes={config_classes}')
    model = init_model(cfg, checkpoint, device=device)
    config_meta = cfg.test_dataloader.dataset.get('metainfo') or {}
    if ckpt_meta is None and 'classes' in config_meta:
        classes = config_meta['classes']
        model.dataset_meta = dict(
            classes=classes,
            palette=config_meta.get('palette') or mmseg_palette(len(classes)))
    return model


def mmseg_palette(num_classes: int) -> list:
    """A palette of mmseg's own for ``num_classes`` classes: that of the
    mmseg data set with exactly that many classes (Cityscapes, ADE20K, ...),
    else the first colours of the longest one (COCO-Stuff's 171)."""
    from mmseg.utils import get_palette
    from mmseg.utils.class_names import dataset_aliases
    palettes = sorted((get_palette(name) for name in dataset_aliases), key=len)
    for palette in palettes:
        if len(palette) == num_classes:
            return [list(c) for c in palette]
    if num_classes > len(palettes[-1]):
        raise InferenceError(f'no mmseg palette has {num_classes} colours: '
                             f'give the config a metainfo palette')
    return [list(c) for c in palettes[-1][:num_classes]]


def draw_overlay(image: np.ndarray,
                 prediction: PixelData,
                 dataset_meta: dict,
                 ground_truth: Optional[PixelData] = None,
                 alpha: float = 0.6) -> np.ndarray:
    """Side-by-side picture: the image, (the ground truth,) the prediction,
    each label map painted over the image in the dataset's palette.

    Args:
        image: ``(H, W, 3)`` uint8 BGR.
        prediction: ``pred_sem_seg``, data ``(1, H, W)``.
        dataset_meta: ``classes`` and ``palette``.
        ground_truth: ``gt_sem_seg``, data ``(1, H, W)``, or None.
        alpha: Opacity of the painted labels.

    Returns:
        ``(H, k * W, 3)`` uint8 RGB, k = 3 with ground truth, else 2.
    """
    from mmseg.structures import SegDataSample
    from mmseg.visualization import SegLocalVisualizer

    # built directly, not by name: the Runner's visualizer stays current
    visualizer = SegLocalVisualizer(name='mmrn38_overlay', alpha=alpha)
    visualizer.set_dataset_meta(
        classes=dataset_meta['classes'], palette=dataset_meta['palette'])
    rgb = mmcv.bgr2rgb(image)
    panels = [rgb]
    for label_map in (ground_truth, prediction):
        if label_map is None:
            continue
        # class names written on 100-pixel images would cover them
        visualizer.add_datasample(
            'overlay',
            rgb,
            SegDataSample(pred_sem_seg=label_map),
            draw_gt=False,
            with_labels=min(rgb.shape[:2]) >= 300)
        panels.append(visualizer.get_image())
    return np.concatenate(panels, axis=1)


def write_png(path: str, rgb: np.ndarray):
    """Write an RGB image as PNG via a temporary file, so that ``path``
    either does not exist or is complete."""
    with atomic_output(path, suffix='.png') as tmp:
        if not mmcv.imwrite(mmcv.rgb2bgr(rgb), tmp):
            raise OSError(f'could not write {tmp}')


def output_names(images: Sequence[str]) -> List[str]:
    """PNG file names for ``images``: the stem plus ``.png``, a suffix
    ``_1``, ``_2`` ... where two stems are equal."""
    names, taken = [], set()
    for image in images:
        stem = osp.splitext(osp.basename(image))[0]
        name, k = f'{stem}.png', 0
        while name in taken:
            k += 1
            name = f'{stem}_{k}.png'
        taken.add(name)
        names.append(name)
    return names


def infer_images(config: Union[str, Config],
                 checkpoint: str,
                 images: Iterable[str],
                 out_dir: str,
                 device: str = 'cpu',
                 progress: bool = True,
                 bf16: bool = False) -> List[str]:
    """Segment image files and folders and write one overlay (image |
    prediction) per image into ``out_dir``.

    Every input is checked first (images exist and decode, the class
    counts agree), so a bad one stops the run before anything is written.
    The model runs through :func:`~mmrn38.optimize_for_inference` (float32
    results equal the plain model's to rounding); with ``bf16`` under
    bfloat16 autocast where the hardware has native bfloat16, else in
    float32 with one logged line saying why.

    Returns:
        The paths written, in input order.

    Raises:
        InferenceError: see :func:`list_images`, :func:`read_image`,
            :func:`init_segmentor`.
    """
    from mmengine.utils import ProgressBar
    from mmseg.apis import inference_model
    image_paths = list_images(images)
    for path in image_paths:
        read_image(path)
    from mmrn38.models.inference_optimization import optimize_for_inference
    try:
        model = optimize_for_inference(
            init_segmentor(config, checkpoint, device), bf16=bf16)
    except ValueError as error:  # a model without a ResNet38, a bad switch
        raise InferenceError(str(error)) from None
    written = []
    bar = ProgressBar(len(image_paths)) if progress else None
    for path, name in zip(image_paths, output_names(image_paths)):
        image = read_image(path)
        result = inference_model(model, image)
        out_file = osp.join(out_dir, name)
        write_png(out_file,
                  draw_overlay(image, result.pred_sem_seg, model.dataset_meta))
        written.append(out_file)
        if bar is not None:
            bar.update()
    return written
