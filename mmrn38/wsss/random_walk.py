"""Random walk of CAMs over AffinityNet's semantic affinities, by PSA's
procedure (``infer_aff.py``), writing PSA's files.

For one image of size ``(H, W)``, its CAM dict ``{class index c: (H, W)}``
(``make_cams.py --out-cam``, PSA's ``infer_cls.py --out_cam``) and an
AffinityNet:

1. the image, normalised by the model's ``data_preprocessor``, is padded
   with zeros at the bottom and right to ``(H8, W8)``, the multiples of 8
   at or above ``(H, W)`` (PSA pads after normalising, as here);
2. scores ``(C, H, W)``: the background ``(1 - max_c cam_c) ** alpha``,
   then the maps of the dict's classes; zero-padded likewise and average
   pooled 8x8 to ``(C, h, w)``, ``h, w = H8 / 8, W8 / 8``, ``N = h * w``;
3. ``A = aff ** beta`` with ``aff`` the model's dense ``(N, N)`` affinity
   matrix (1 on the diagonal, ``exp(-mean |f_i - f_j|)`` for pairs within
   radius 5, 0 elsewhere); the transition matrix ``T = A / A.sum(0)``
   (columns sum to 1), squared ``logt`` times: ``T ** (2 ** logt)``;
4. ``scores (C, N) @ T``, upsampled bilinearly (``align_corners=False``,
   PSA's ``nn.Upsample`` under PyTorch 0.4) to ``(H8, W8)``, cropped to
   ``(H, W)``; the argmax is the label: 0 background, ``c + 1`` for class
   index ``c``.

PSA walks all 21 VOC channels (absent classes all zero); here the walk runs
on the background and the dict's classes only and maps the argmax back
through the dict's keys. The walk is linear and a class absent from the
dict scores 0 everywhere while the background scores above 0 in the image,
so the labels are the same, for fewer products.

Memory: ``T`` is ``N ** 2`` float32, e.g. 63 MB for a 500x500 image
(``N = 63 * 63 = 3969``). The model's matrix is raised and normalised in
place and the squarings alternate between it and one more buffer, so the
walk holds two such matrices (:func:`walk_peak_bytes`, 126 MB at 500x500)
beside what the model needs to build its matrix. PSA's script held
``aff``, ``aff ** beta`` and two powers of ``T``, four.

Files (``--out-rw``): ``<name>.png``, labels 0-20 in the VOC palette (PSA:
the same labels, a greyscale PNG). ``--out-rw-npy``: ``<name>.npy``,
``np.save`` of ``{0: background, c + 1: map}`` (the CRF files' layout) of
the walked scores at the image's size, float32.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import ProgressBar
from PIL import Image

from mmrn38.utils.device_features import full_float32
from .cams import _open_image, load_weights, save_cam_dict, save_label_png
from .data import WSSSDataError, voc_split
from .evaluation import image_files, load_cam_dict

STRIDE = 8  # AffinityNet's output stride, PSA's padding and pooling


def padded_size(h: int, w: int) -> Tuple[int, int]:
    """``(H8, W8)``: ``(h, w)`` rounded up to multiples of 8."""
    return -(-h // STRIDE) * STRIDE, -(-w // STRIDE) * STRIDE


def walk_peak_bytes(h: int, w: int) -> int:
    """Bytes of the two ``(N, N)`` float32 matrices that :func:`walk`
    holds for an ``(h, w)`` image, the model's affinities included, ``N =
    ceil(h / 8) * ceil(w / 8)`` (500x500: 126 MB)."""
    h8, w8 = padded_size(h, w)
    n = (h8 // STRIDE) * (w8 // STRIDE)
    return 2 * n * n * 4


def score_stack(cams: Dict[int, np.ndarray], shape: Tuple[int, int],
                alpha: float) -> Tuple[List[int], np.ndarray]:
    """PSA's random-walk input of one image.

    Args:
        cams: ``{class index: (H, W) float}``, PSA's CAM dict.
        shape: ``(H, W)``, for a dict without classes.
        alpha: Power of the background score.

    Returns:
        The dict's classes, sorted, and ``(1 + len(classes), H, W)``
        float32: ``(1 - max) ** alpha`` (1 without classes), then their
        maps.
    """
    keys = sorted(int(k) for k in cams)
    maps = np.zeros((1 + len(keys), ) + tuple(shape), np.float32)
    for i, key in enumerate(keys):
        maps[i + 1] = cams[key]
    maps[0] = (1 - maps[1:].max(axis=0, initial=0))**alpha
    return keys, maps


def transition_matrix(aff: torch.Tensor, beta: float,
                      logt: int) -> torch.Tensor:
    """``T ** (2 ** logt)`` with ``T = aff ** beta / (aff ** beta).sum(0)``.

    Args:
        aff: ``(N, N)`` affinities, overwritten (raised and normalised in
            place, then a buffer of the squarings: with the one matrix
            this allocates, two in all).
        beta: Power of the affinities.
        logt: Squarings of the transition matrix.

    Returns:
        ``(N, N)``, columns summing to 1.
    """
    trans = aff.pow_(beta)
    trans.div_(trans.sum(dim=0, keepdim=True))
    spare = torch.empty_like(trans) if logt else None
    for _ in range(logt):  # two buffers in turn: no third matrix
        torch.matmul(trans, trans, out=spare)
        trans, spare = spare, trans
    return trans


def walk(scores: torch.Tensor, aff: torch.Tensor, beta: float,
         logt: int) -> torch.Tensor:
    """PSA's random walk of one image's scores.

    Args:
        scores: ``(C, H, W)`` float32 (:func:`score_stack`).
        aff: ``(N, N)`` dense affinities of the padded image, ``N =
            ceil(H / 8) * ceil(W / 8)``, on the device to walk on;
            overwritten.
        beta: Power of the affinities.
        logt: Squarings of the transition matrix.

    Returns:
        ``(C, H, W)`` walked scores (on ``aff``'s device).
    """
    c, h, w = scores.shape
    h8, w8 = padded_size(h, w)
    if aff.shape != ((h8 // STRIDE) * (w8 // STRIDE), ) * 2:
        raise WSSSDataError(f'affinities {tuple(aff.shape)} for an image '
                            f'of {(h, w)} (padded to {(h8, w8)})')
    padded = F.pad(scores.to(aff.device), (0, w8 - w, 0, h8 - h))
    pooled = F.avg_pool2d(padded, STRIDE, STRIDE)
    walked = pooled.flatten(1) @ transition_matrix(aff, beta, logt)
    walked = F.interpolate(
        walked.view(1, c, h8 // STRIDE, w8 // STRIDE), (h8, w8),
        mode='bilinear',
        align_corners=False)
    return walked[0, :, :h, :w]


def walk_labels(walked: torch.Tensor, keys: List[int]) -> np.ndarray:
    """``(C, H, W)`` walked scores of the background and the classes
    ``keys`` -> ``(H, W)`` uint8 labels (0 background, ``key + 1``)."""
    lut = torch.tensor([0] + [k + 1 for k in keys], dtype=torch.uint8)
    return lut[walked.argmax(dim=0).cpu()].numpy()


class AffinityModel:
    """An AffinityNet built from its config, with its data preprocessor.

    Args:
        config (str | Config): An mmseg config whose model has
            ``dense_affinity`` (``AffinityNet``).
        checkpoint (str): Its weights; every key must fit (strict).
        device (str): ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ...

    Raises:
        WSSSDataError: A config without affinities, or a checkpoint that
            does not fit it.
    """

    def __init__(self, config, checkpoint: str, device: str = 'cpu'):
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        model_cfg = copy.deepcopy(cfg.model)
        # the weights come from the checkpoint: no pretrained backbone
        model_cfg.pop('pretrained', None)
        if 'backbone' in model_cfg:
            model_cfg.backbone.init_cfg = None
        with DefaultScope.overwrite_default_scope('mmseg'):
            model = MODELS.build(model_cfg)
        if not hasattr(model, 'dense_affinity'):
            raise WSSSDataError(f'the config\'s model {type(model).__name__} '
                                f'makes no affinities (an AffinityNet does)')
        load_weights(model, checkpoint)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    def inputs(self, image: Image.Image) -> torch.Tensor:
        """PIL RGB image of size ``(w, h)`` -> ``(1, 3, H8, W8)`` float32,
        normalised by the model's ``data_preprocessor`` and zero-padded at
        the bottom and right (on the model's device)."""
        # BGR, as mmcv's LoadImageFromFile gives the preprocessor
        bgr = torch.from_numpy(
            np.ascontiguousarray(np.asarray(image)[..., ::-1])).permute(
                2, 0, 1)
        inputs = self.model.data_preprocessor(dict(inputs=[bgr]))['inputs']
        h8, w8 = padded_size(image.height, image.width)
        return F.pad(inputs,
                     (0, w8 - inputs.shape[3], 0, h8 - inputs.shape[2]))

    @torch.no_grad()
    def dense_affinity(self, image: Image.Image) -> torch.Tensor:
        """``(N, N)`` affinities of the padded image, in full float32 as
        PSA computed them (no TF32 on CUDA)."""
        with full_float32():
            return self.model.dense_affinity(self.inputs(image))[0]


@torch.no_grad()
def image_walk(model: AffinityModel, image: Image.Image,
               cams: Dict[int, np.ndarray], alpha: float, beta: float,
               logt: int) -> Tuple[np.ndarray, Dict[int, np.ndarray]]:
    """Random-walk labels of one image.

    Returns:
        ``(H, W)`` uint8 labels and the walked scores ``{0: background,
        c + 1: (H, W) float32}``.
    """
    keys, scores = score_stack(cams, (image.height, image.width), alpha)
    walked = walk(
        torch.from_numpy(scores), model.dense_affinity(image), beta, logt)
    maps = walked.cpu().numpy()
    return walk_labels(walked, keys), {
        label: maps[i]
        for i, label in enumerate([0] + [k + 1 for k in keys])
    }


def random_walk(config,
                checkpoint: str,
                data_root: str,
                split: str,
                cam_dir: str,
                out_rw: Optional[str] = None,
                out_rw_npy: Optional[str] = None,
                alpha: float = 16,
                beta: float = 8,
                logt: int = 8,
                num_classes: int = 21,
                device: str = 'cpu',
                progress: bool = True) -> int:
    """Random-walk pseudo-labels of every image of a split.

    The split list, every image and CAM file (readable, maps of the
    image's size, classes within ``num_classes``), the options and the
    model are checked before anything is written.

    Args:
        config, checkpoint, device: The AffinityNet
            (:class:`AffinityModel`).
        data_root: The ``VOC2012`` folder (mmseg's layout); masks are not
            needed.
        split: ``ImageSets/Segmentation/<split>.txt``.
        cam_dir: Folder of the ``<name>.npy`` CAM dicts.
        out_rw: Folder of the ``<name>.png`` labels, or None.
        out_rw_npy: Folder of the ``<name>.npy`` walked scores, or None.
        alpha: Power of the background score (PSA: 16).
        beta: Power of the affinities (PSA: 8).
        logt: Squarings of the transition matrix (PSA: 8).
        num_classes: Labels with background (21 for VOC).
        progress: Show mmengine's progress bar.

    Returns:
        The number of images processed.

    Raises:
        WSSSDataError: Bad data, options, config or checkpoint (nothing
            written).
    """
    if out_rw is None and out_rw_npy is None:
        raise WSSSDataError('nothing to write: give --out-rw and/or '
                            '--out-rw-npy')
    if alpha <= 0 or beta <= 0 or logt < 0:
        raise WSSSDataError(f'alpha and beta must be positive and logt at '
                            f'least 0, got {alpha}, {beta}, {logt}')
    samples = voc_split(data_root, split, masks=False)
    cam_files = image_files(samples, cam_dir, '.npy', split, 'CAM file')
    for sample, cam_file in zip(samples, cam_files):
        with _open_image(sample.img_path) as img:
            size = (img.height, img.width)
        for key, cam in load_cam_dict(cam_file).items():
            if not 0 <= key < num_classes - 1:
                raise WSSSDataError(f'{cam_file}: class index {key} does not '
                                    f'fit {num_classes} labels')
            if np.shape(cam) != size:
                raise WSSSDataError(f'{cam_file}: maps of {np.shape(cam)} '
                                    f'for an image of {size}')
    model = AffinityModel(config, checkpoint, device)
    bar = ProgressBar(len(samples)) if progress else None
    for sample, cam_file in zip(samples, cam_files):
        with _open_image(sample.img_path) as img:
            image = img.convert('RGB')
        labels, walked = image_walk(model, image, load_cam_dict(cam_file),
                                    alpha, beta, logt)
        if out_rw is not None:
            save_label_png(osp.join(out_rw, f'{sample.name}.png'), labels)
        if out_rw_npy is not None:
            save_cam_dict(osp.join(out_rw_npy, f'{sample.name}.npy'), walked)
        if bar is not None:
            bar.update()
    return len(samples)
