"""Class activation maps of a CAM classifier, by PSA's procedure
(``infer_cls.py``), in PSA's file format.

For one image of size ``(H, W)`` and image-level labels ``y`` (K,):

1. for each scale ``s``: the image resized to ``(round(W * s), round(H * s))``
   (Python's rounding) with PIL bicubic, normalised; it and its mirror image
   form a batch of two;
2. ``relu(conv2d(features, fc.weight))`` (:meth:`CAMHead.cams`), upsampled
   bilinearly (``align_corners=False``) to ``(H, W)``, multiplied by ``y``,
   the mirror's map flipped back;
3. all maps summed, each class divided by its maximum + 1e-5.

Files written (PSA's, read unchanged by PSA's, SEAM's and IRN's next steps):

* ``--out-cam``: ``<name>.npy``, ``np.save`` of a dict ``{class index
  0 .. K-1: (H, W) float32}`` with the classes of the image's labels;
* ``--out-pred``: ``<name>.png``, labels ``0 .. K`` (0 background) in the VOC
  palette: ``argmax`` over a constant background score ``bg_thresh`` and
  the K normalised maps;
* ``--out-la-crf`` / ``--out-ha-crf``: ``<name>.npy``, ``np.save`` of
  ``{0: background, c + 1: class c}`` CRF marginals with the background
  ``(1 - max cam) ** alpha``, alpha low (4) / high (32)
  (:mod:`mmrn38.wsss.crf`).
"""
import contextlib
import copy
import os.path as osp
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar
from PIL import Image

from mmrn38.datasets.voc_seg_cls import VOCSegClsDataset
from mmrn38.utils.atomic_file import atomic_output
from mmrn38.utils.device_features import full_float32
from mmrn38.utils.palette import voc_palette
from .crf import HIGH_ALPHA, LOW_ALPHA, crf_with_alpha, densecrf
from .data import WSSSDataError

DEFAULT_SCALES = (1.0, 0.5, 1.5, 2.0)  # PSA's infer_cls.py
NORM_EPS = 1e-5


def load_weights(model: torch.nn.Module, checkpoint: str):
    """Load ``checkpoint`` into ``model``; every key must fit (strict).

    Raises:
        WSSSDataError: No such file, or one that does not fit the model.
    """
    if not osp.isfile(checkpoint):
        raise WSSSDataError(f'no checkpoint {checkpoint}')
    try:
        load_checkpoint(
            model,
            checkpoint,
            map_location='cpu',
            strict=True,
            logger='silent')
    except RuntimeError as error:
        reason = ' '.join(str(error).split())
        raise WSSSDataError(f'{checkpoint} does not fit the config\'s '
                            f'model: {reason[:300]}') from None


class CAMModel:
    """A CAM classifier built from its config, with its data preprocessor.

    Args:
        config (str | Config): An mmpretrain ``ImageClassifier`` config whose
            head has ``cams`` (``CAMHead``).
        checkpoint (str): Its weights; every key must fit (strict).
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ...
        fast (bool): Through :func:`~mmrn38.optimize_for_inference` in
            float32 (BN folded, Winograd's convolutions on CPU): the same
            CAMs to float32 rounding, faster.

    Raises:
        WSSSDataError: A config without a CAM head, or a checkpoint that
            does not fit it.
    """

    def __init__(self,
                 config,
                 checkpoint: str,
                 device: str = 'cpu',
                 fast: bool = False):
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules

        import mmrn38.wsss  # noqa: F401  registers CAMHead
        register_all_modules(init_default_scope=False)
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        model_cfg = copy.deepcopy(cfg.model)
        # the weights come from the checkpoint: no pretrained backbone
        model_cfg.backbone.init_cfg = None
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = MODELS.build(model_cfg)
        if not hasattr(model.head, 'cams'):
            raise WSSSDataError(f'the config\'s head '
                                f'{type(model.head).__name__} makes no CAMs '
                                f'(a CAMHead does)')
        load_weights(model, checkpoint)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        if fast:
            from mmrn38 import optimize_for_inference
            optimize_for_inference(self.model)
        self.num_classes = model.head.num_classes

    def inputs(self, image: Image.Image) -> torch.Tensor:
        """PIL RGB image of size ``(w, h)`` -> ``(2, 3, h, w)`` float32
        network input of it and its mirror image, by the model's
        ``data_preprocessor`` (on the model's device)."""
        # BGR, as mmcv's LoadImageFromFile gives the preprocessor in training
        bgr = torch.from_numpy(
            np.ascontiguousarray(np.asarray(image)[..., ::-1])).permute(
                2, 0, 1)
        batch = torch.stack([bgr, bgr.flip(-1)])
        return self.model.data_preprocessor(dict(inputs=batch))['inputs']

    @torch.no_grad()
    def cams(self, batch: torch.Tensor) -> torch.Tensor:
        """``(N, 3, h, w)`` -> CAMs ``(N, K, h', w')`` (output stride), in
        full float32 as PSA computed them (no TF32 on CUDA)."""
        model = self.model
        with full_float32():
            return model.head.cams(model.extract_feat(batch.to(self.device)))


def scaled_sizes(size: Tuple[int, int],
                 scales: Sequence[float]) -> List[Tuple[int, int]]:
    """PIL sizes ``(w, h)`` of an image of size ``(w, h)`` at each scale:
    ``round(w * s), round(h * s)`` (Python's rounding, as PSA)."""
    w, h = size
    return [(round(w * s), round(h * s)) for s in scales]


@torch.no_grad()
def image_cams(model: CAMModel,
               image: Image.Image,
               labels: np.ndarray,
               scales: Sequence[float] = DEFAULT_SCALES) -> np.ndarray:
    """Normalised CAMs of one image.

    Args:
        model: The CAM classifier.
        image: PIL RGB image of size ``(W, H)``.
        labels: ``(K,)`` image-level labels (1 = present).
        scales: Scales of the image; each is run with its mirror image.

    Returns:
        ``(K, H, W)`` float32 in [0, 1): classes absent from ``labels`` are
        0, the others reach ``max / (max + 1e-5)``.
    """
    w, h = image.size
    label = torch.as_tensor(
        labels, dtype=torch.float32, device=model.device).view(-1, 1, 1)
    total = torch.zeros((len(labels), h, w), device=model.device)
    if not labels.any():
        return total.cpu().numpy()
    for size in scaled_sizes((w, h), scales):
        batch = model.inputs(image.resize(size, resample=Image.BICUBIC))
        cams = F.interpolate(
            model.cams(batch), (h, w), mode='bilinear', align_corners=False)
        cams = cams * label
        total += cams[0] + cams[1].flip(-1)
    peak = total.flatten(1).max(dim=1)[0].view(-1, 1, 1)
    return (total / (peak + NORM_EPS)).cpu().numpy()


def cam_dict(norm_cams: np.ndarray,
             labels: np.ndarray) -> Dict[int, np.ndarray]:
    """PSA's ``.npy`` content: ``{class index: (H, W) float32}`` for the
    classes of ``labels``."""
    return {int(c): norm_cams[c] for c in np.flatnonzero(labels)}


def cam_prediction(norm_cams: np.ndarray, bg_thresh: float) -> np.ndarray:
    """Pseudo-labels: ``argmax`` over the background score ``bg_thresh`` and
    the maps. ``(K, H, W)`` -> ``(H, W)`` uint8, 0 = background, ``c + 1``
    = class index ``c`` (a tie goes to the background)."""
    background = np.full((1, ) + norm_cams.shape[1:], bg_thresh,
                         norm_cams.dtype)
    return np.argmax(
        np.concatenate([background, norm_cams]), axis=0).astype(np.uint8)


def save_cam_dict(path: str, cams: Dict[int, np.ndarray]):
    """``np.save`` a CAM dict to ``path`` atomically."""
    with atomic_output(path) as tmp, open(tmp, 'wb') as f:
        np.save(f, cams)


def save_label_png(path: str, labels: np.ndarray):
    """``(H, W)`` uint8 labels as a VOC-palette PNG, atomically."""
    image = Image.fromarray(labels, mode='L').convert('P')
    image.putpalette(voc_palette())
    with atomic_output(path, suffix='.png') as tmp:
        image.save(tmp)


@contextlib.contextmanager
def _open_image(path: str) -> Iterator[Image.Image]:
    """``PIL.Image.open(path)``; an unreadable file (on opening or within
    the block) raises :class:`WSSSDataError`."""
    try:
        with Image.open(path) as image:
            yield image
    except OSError as error:
        raise WSSSDataError(f'{path}: cannot read it ({error})') from None


def split_dataset(cfg: Config, data_root: str, split: str) -> VOCSegClsDataset:
    """The config's test dataset (its classes) on ``data_root`` and
    ``split``, without its pipeline: the image paths and labels of
    :class:`VOCSegClsDataset`.

    Raises:
        WSSSDataError: A missing list, image or mask, or a bad label.
    """
    dataset_cfg = cfg.get('test_dataloader', {}).get('dataset', {})
    return VOCSegClsDataset(
        data_root=data_root,
        split=split,
        metainfo=dataset_cfg.get('metainfo'),
        serialize_data=False)


def make_cams(config,
              checkpoint: str,
              data_root: str,
              split: str,
              out_cam: Optional[str] = None,
              out_pred: Optional[str] = None,
              scales: Sequence[float] = DEFAULT_SCALES,
              bg_thresh: float = 0.2,
              device: str = 'cpu',
              fast: bool = False,
              progress: bool = True,
              out_la_crf: Optional[str] = None,
              out_ha_crf: Optional[str] = None,
              low_alpha: float = LOW_ALPHA,
              high_alpha: float = HIGH_ALPHA) -> int:
    """CAMs (pseudo-labels, CRF maps) of every image of a split.

    The split list, every image and mask, the labels, the model and, for
    the CRF maps, ``pydensecrf2`` are checked before anything is written.

    Args:
        config, checkpoint, device, fast: The CAM classifier
            (:class:`CAMModel`); the classes of the config's test dataset
            (:func:`split_dataset`) must be those of its head.
        data_root: The ``VOC2012`` folder (mmseg's layout).
        split: ``ImageSets/Segmentation/<split>.txt``.
        out_cam: Folder of the ``<name>.npy`` CAM dicts, or None.
        out_pred: Folder of the ``<name>.png`` pseudo-labels, or None.
        scales: Image scales (PSA: 1.0, 0.5, 1.5, 2.0).
        bg_thresh: Background score of the pseudo-labels.
        progress: Show mmengine's progress bar.
        out_la_crf, out_ha_crf: Folders of the ``<name>.npy`` CRF dicts
            with background power ``low_alpha`` / ``high_alpha``
            (:func:`~mmrn38.wsss.crf.crf_with_alpha`), or None.
        low_alpha, high_alpha: Positive (PSA: 4 and 32).

    Returns:
        The number of images processed.

    Raises:
        WSSSDataError: Bad data, config or checkpoint (nothing written).
    """
    crf_outputs = [(folder, alpha)
                   for folder, alpha in ((out_la_crf, low_alpha), (out_ha_crf,
                                                                   high_alpha))
                   if folder is not None]
    if out_cam is None and out_pred is None and not crf_outputs:
        raise WSSSDataError('nothing to write: give --out-cam, --out-pred, '
                            '--out-la-crf and/or --out-ha-crf')
    if not scales or any(s <= 0 for s in scales):
        raise WSSSDataError(f'scales must be positive, got {list(scales)}')
    if any(alpha <= 0 for _, alpha in crf_outputs):
        raise WSSSDataError(f'the CRF\'s background powers must be '
                            f'positive, got --low-alpha {low_alpha:g} '
                            f'--high-alpha {high_alpha:g}')
    if crf_outputs:
        densecrf()
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    dataset = split_dataset(cfg, data_root, split)
    model = CAMModel(cfg, checkpoint, device, fast)
    if len(dataset.CLASSES) != model.num_classes:
        raise WSSSDataError(f'the config\'s dataset has '
                            f'{len(dataset.CLASSES)} classes, its CAM head '
                            f'{model.num_classes}')
    for item in dataset.data_list:  # every image readable before writing
        with _open_image(item['img_path']):
            pass
    bar = ProgressBar(len(dataset)) if progress else None
    for item in dataset.data_list:
        name = osp.splitext(osp.basename(item['img_path']))[0]
        label = np.zeros(model.num_classes, np.float32)
        label[item['gt_label']] = 1
        with _open_image(item['img_path']) as img:
            image = img.convert('RGB')
        norm_cams = image_cams(model, image, label, scales)
        cams = cam_dict(norm_cams, label)
        if out_cam is not None:
            save_cam_dict(osp.join(out_cam, f'{name}.npy'), cams)
        for folder, alpha in crf_outputs:
            save_cam_dict(
                osp.join(folder, f'{name}.npy'),
                crf_with_alpha(np.asarray(image), cams, alpha))
        if out_pred is not None:
            save_label_png(
                osp.join(out_pred, f'{name}.png'),
                cam_prediction(norm_cams, bg_thresh))
        if bar is not None:
            bar.update()
    return len(dataset)
