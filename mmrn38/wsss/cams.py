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
  the K normalised maps.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar
from PIL import Image

from mmrn38.utils.atomic_file import atomic_output
from mmrn38.utils.device_features import full_float32
from mmrn38.utils.palette import voc_palette
from .data import VOCSample, WSSSDataError, image_labels, read_mask, voc_split

DEFAULT_SCALES = (1.0, 0.5, 1.5, 2.0)  # PSA's infer_cls.py
NORM_EPS = 1e-5


class CAMModel:
    """A CAM classifier built from its config, with the config's input
    normalisation.

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

    def __init__(self, config, checkpoint: str, device: str = 'cpu',
                 fast: bool = False):
        import mmrn38.wsss  # noqa: F401  registers CAMHead
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
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
        if not osp.isfile(checkpoint):
            raise WSSSDataError(f'no checkpoint {checkpoint}')
        try:
            load_checkpoint(
                model, checkpoint, map_location='cpu', strict=True,
                logger='silent')
        except RuntimeError as error:
            reason = ' '.join(str(error).split())
            raise WSSSDataError(f'{checkpoint} does not fit the config\'s '
                                f'model: {reason[:300]}') from None
        preprocessor = cfg.model.get('data_preprocessor', {})
        self.to_rgb = preprocessor.get('to_rgb', False)
        self.device = torch.device(device)
        self.mean = torch.tensor(
            preprocessor.get('mean', (0., 0., 0.)),
            dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(
            preprocessor.get('std', (1., 1., 1.)),
            dtype=torch.float32).view(3, 1, 1)
        self.model = model.to(self.device).eval()
        if fast:
            from mmrn38 import optimize_for_inference
            optimize_for_inference(self.model)
        self.num_classes = model.head.num_classes

    def normalise(self, image: Image.Image) -> torch.Tensor:
        """PIL RGB image -> ``(3, h, w)`` float32 network input."""
        array = torch.from_numpy(np.asarray(image, dtype=np.float32).copy())
        x = array.permute(2, 0, 1)
        if not self.to_rgb:  # the model was trained on BGR
            x = x.flip(0)
        return (x - self.mean) / self.std

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
def image_cams(model: CAMModel, image: Image.Image, labels: np.ndarray,
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
    label = torch.as_tensor(labels, dtype=torch.float32,
                            device=model.device).view(-1, 1, 1)
    total = torch.zeros((len(labels), h, w), device=model.device)
    if not labels.any():
        return total.cpu().numpy()
    for size in scaled_sizes((w, h), scales):
        x = model.normalise(image.resize(size, resample=Image.BICUBIC))
        batch = torch.stack([x, x.flip(-1)])  # the image and its mirror
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
    return np.argmax(np.concatenate([background, norm_cams]),
                     axis=0).astype(np.uint8)


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


def split_labels(samples: Sequence[VOCSample],
                 num_classes: int) -> List[np.ndarray]:
    """Image-level labels ``(K,)`` of every sample, from its mask; each
    image's header is read too, so that an unreadable image fails here.

    Raises:
        WSSSDataError: An unreadable image or mask, or a bad label.
    """
    labels = []
    for sample in samples:
        try:
            with Image.open(sample.img_path):
                pass
        except OSError as error:
            raise WSSSDataError(f'{sample.img_path}: cannot read it '
                                f'({error})') from None
        labels.append(
            image_labels(
                read_mask(sample.mask_path), num_classes, sample.mask_path))
    return labels


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
              progress: bool = True) -> int:
    """CAMs (and pseudo-labels) of every image of a split.

    The split list, every image and mask, the labels and the model are
    checked before anything is written.

    Args:
        config, checkpoint, device, fast: The CAM classifier
            (:class:`CAMModel`).
        data_root: The ``VOC2012`` folder (mmseg's layout).
        split: ``ImageSets/Segmentation/<split>.txt``.
        out_cam: Folder of the ``<name>.npy`` CAM dicts, or None.
        out_pred: Folder of the ``<name>.png`` pseudo-labels, or None.
        scales: Image scales (PSA: 1.0, 0.5, 1.5, 2.0).
        bg_thresh: Background score of the pseudo-labels.
        progress: Show mmengine's progress bar.

    Returns:
        The number of images processed.

    Raises:
        WSSSDataError: Bad data, config or checkpoint (nothing written).
    """
    if out_cam is None and out_pred is None:
        raise WSSSDataError('nothing to write: give --out-cam and/or '
                            '--out-pred')
    if not scales or any(s <= 0 for s in scales):
        raise WSSSDataError(f'scales must be positive, got {list(scales)}')
    samples = voc_split(data_root, split)
    model = CAMModel(config, checkpoint, device, fast)
    labels = split_labels(samples, model.num_classes)
    bar = ProgressBar(len(samples)) if progress else None
    for sample, label in zip(samples, labels):
        try:
            with Image.open(sample.img_path) as img:
                image = img.convert('RGB')
        except OSError as error:
            raise WSSSDataError(f'{sample.img_path}: cannot read it '
                                f'({error})') from None
        norm_cams = image_cams(model, image, label, scales)
        if out_cam is not None:
            save_cam_dict(
                osp.join(out_cam, f'{sample.name}.npy'),
                cam_dict(norm_cams, label))
        if out_pred is not None:
            save_label_png(
                osp.join(out_pred, f'{sample.name}.png'),
                cam_prediction(norm_cams, bg_thresh))
        if bar is not None:
            bar.update()
    return len(samples)
