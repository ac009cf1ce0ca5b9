"""The weakly-supervised segmentation demo (``make demo-wsss``,
``tools/wsss/demo.py``): on the built-in dataset, train PSA's CAM classifier
from image-level labels only, make CAMs of the held-out images by PSA's
procedure, score their pseudo-labels against the hidden masks over a sweep
of background thresholds, and draw them.

Training goes through :func:`~mmrn38.apis.load_config`,
:func:`~mmrn38.apis.prepare_train` and :func:`~mmrn38.apis.build_runner`,
the path of ``tools/train.py``; CAMs and scores through the functions of
``tools/wsss/make_cams.py`` and ``eval_cams.py``.
"""
import copy
import os.path as osp
import time
from typing import List, Optional

import numpy as np
import torch
from mmengine.structures import PixelData
from mmengine.utils import ProgressBar
from PIL import Image

from mmrn38.apis.inference import draw_overlay, write_png
from mmrn38.apis.runner import load_config
from mmrn38.demo import announce, generate_data, set_data_root, train
from mmrn38.utils.palette import voc_palette
from .cams import cam_prediction, make_cams
from .data import read_mask, voc_split
from .evaluation import Sweep, evaluate_cams, load_cam_dict

HELD_OUT = 'val'


def heatmap(cams: dict, shape) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB "jet" colouring of the highest CAM of each
    pixel (0 where the image has no class)."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import colormaps
    peak = np.max(np.stack(list(cams.values())), axis=0) if cams else \
        np.zeros(shape, np.float32)
    return (colormaps['jet'](peak)[..., :3] * 255).astype(np.uint8)


def write_cam_overlays(data_root: str, cam_dir: str, bg_thresh: float,
                       classes: tuple, out_dir: str,
                       count: int) -> List[str]:
    """``image | ground truth | CAM heat map | pseudo-labels at bg_thresh``
    of the first ``count`` held-out images, each painted over the image
    (labels by mmseg's ``SegLocalVisualizer`` in the VOC palette), as
    PNGs; ``classes`` with the background first."""
    palette = np.reshape(voc_palette(), (-1, 3))[:len(classes)].tolist()
    meta = dict(classes=classes, palette=palette)
    written = []
    samples = voc_split(data_root, HELD_OUT)[:count]
    bar = ProgressBar(len(samples))
    for sample in samples:
        with Image.open(sample.img_path) as img:
            image = np.asarray(img.convert('RGB'))
        mask = read_mask(sample.mask_path)
        cams = load_cam_dict(osp.join(cam_dir, f'{sample.name}.npy'))
        dense = np.zeros((max(cams, default=0) + 1, ) + mask.shape,
                         np.float32)
        for c, cam in cams.items():
            dense[c] = cam
        pred = cam_prediction(dense, bg_thresh)
        # (H, 3W): image | mask | pseudo-labels, the last two painted
        panels = draw_overlay(
            image[..., ::-1], PixelData(data=torch.from_numpy(pred)[None]),
            meta,
            ground_truth=PixelData(data=torch.from_numpy(mask.copy())[None]))
        w = image.shape[1]
        blend = (0.5 * image + 0.5 * heatmap(cams, mask.shape)).astype(
            np.uint8)
        out_file = osp.join(out_dir, f'{sample.name}.png')
        write_png(out_file,
                  np.concatenate([panels[:, :2 * w], blend,
                                  panels[:, 2 * w:]], axis=1))
        written.append(out_file)
        bar.update()
    return written


def run_wsss_demo(config: str,
                  work_dir: str,
                  data_dir: str,
                  max_epochs: Optional[int] = None,
                  scales=(1.0, 0.5, 1.5, 2.0),
                  num_overlays: int = 8) -> dict:
    """Generate the data (unless there), train the CAM classifier, make and
    score CAMs of the held-out images, draw them.

    Args:
        config: The demo config (``configs/wsss/rn38_demo_cls.py``).
        work_dir: Checkpoint, logs, CAMs and overlays go here.
        data_dir: Folder of the generated dataset.
        max_epochs: Training epochs instead of the config's.
        scales: CAM scales (PSA's by default).
        num_overlays: How many held-out images to draw.

    Returns:
        dict with ``sweep`` (:class:`~mmrn38.wsss.evaluation.Sweep`),
        ``classes`` (with background), ``checkpoint``, ``cam_dir``,
        ``overlay_dir``, ``overlays``, ``splits``, ``train_seconds`` and
        ``cam_seconds``.
    """
    cfg = load_config(config, work_dir=work_dir)
    if max_epochs is not None:
        cfg.train_cfg.max_epochs = max_epochs
        cfg.train_cfg.val_interval = max_epochs
        cfg.param_scheduler.end = max_epochs
    spec = copy.deepcopy(cfg.synthetic_data.to_dict())

    announce(f'[1/5] dataset: {spec["splits"]} images of '
             f'{spec["size"][0]}x{spec["size"][1]}, '
             f'{spec["num_classes"] - 1} object classes, in {data_dir}')
    data_root = generate_data(spec, data_dir)
    set_data_root(cfg, data_root)

    announce(f'[2/5] training the CAM classifier (ResNet-38 width '
             f'{cfg.model.backbone.width}, image-level labels only) with '
             f'the mmengine Runner, logs in {work_dir}')
    checkpoint, train_seconds, _ = train(copy.deepcopy(cfg))

    announce(f'[3/5] CAMs of the {spec["splits"][HELD_OUT]} held-out '
             f'images, scales {list(scales)} + flips (PSA\'s procedure)')
    cam_dir = osp.join(work_dir, 'cams')
    start = time.time()
    make_cams(cfg, checkpoint, data_root, HELD_OUT, out_cam=cam_dir,
              scales=scales)
    cam_seconds = time.time() - start

    announce('[4/5] pseudo-label mIoU against the hidden masks, background '
             'thresholds 0.05 ... 0.95')
    sweep: Sweep = evaluate_cams(data_root, HELD_OUT, cam_dir,
                                 spec['num_classes'])

    announce(f'[5/5] drawing {num_overlays} held-out images: image | '
             f'mask | CAMs | pseudo-labels')
    overlay_dir = osp.join(work_dir, 'overlays')
    classes = ('background', ) + tuple(cfg.metainfo['classes'])
    overlays = write_cam_overlays(data_root, cam_dir,
                                  sweep.thresholds[sweep.best], classes,
                                  overlay_dir, num_overlays)
    return dict(
        sweep=sweep,
        classes=classes,
        checkpoint=checkpoint,
        cam_dir=cam_dir,
        overlay_dir=overlay_dir,
        overlays=overlays,
        splits=spec['splits'],
        train_seconds=train_seconds,
        cam_seconds=cam_seconds)
