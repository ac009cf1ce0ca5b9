"""The weakly-supervised segmentation demo (``make demo-wsss``,
``tools/wsss/demo.py``): PSA's whole pipeline on the built-in dataset. Train
PSA's CAM classifier from image-level labels only, make CAMs by PSA's
procedure and the la / ha CRF files of the training images, train
AffinityNet on those, random-walk the CAMs over its affinities, train the
segmentation network on the walked labels; score the CAMs, the walked
labels and the segmentation network on held-out images against their
hidden masks, and draw CAM overlays.

Training goes through :func:`~mmrn38.apis.load_config`,
:func:`~mmrn38.apis.prepare_train` and :func:`~mmrn38.apis.build_runner`,
the path of ``tools/train.py``; CAMs, CRF files, random walk and scores
through the functions of ``tools/wsss/make_cams.py``, ``random_walk.py``
and ``eval_cams.py``.
"""
import copy
import os.path as osp
import time
from typing import List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmengine.utils import ProgressBar
from PIL import Image

from mmrn38.apis.inference import draw_overlay, write_png
from mmrn38.apis.runner import load_config
from mmrn38.demo import announce, generate_data, set_data_root, train
from mmrn38.utils.palette import voc_palette
from .cams import cam_prediction, make_cams
from .data import read_mask, voc_split
from .evaluation import Sweep, evaluate_cams, evaluate_labels, load_cam_dict
from .random_walk import random_walk

TRAIN, HELD_OUT = 'train', 'val'
# The demo's background powers: PSA's (4 and 32 for the CRF files, 16 for
# the random walk) suit VOC's CAMs, whose best background threshold is
# about 0.2; the demo's CAMs, 16x16 maps of 128-pixel scenes, are blobs
# whose best threshold is 0.6-0.75 (five classifier seeds). The la power
# puts the crossing of (1 - cam) ** alpha and cam just above that
# threshold (0.70: la keeps the confident foreground); the ha power well
# below it (0.35: ha keeps the confident background); the walk's at the
# threshold itself (ln 0.65 / ln 0.35 = 0.41). A la power of 0.15 (its
# crossing 0.79, above the flat top of a uniformly coloured object's CAM)
# made the CRF turn whole objects into background: with it AffinityNet
# never saw a pair inside one class of object, and the walk spread the
# background over that class (-8.8 points against the CAMs).
# The walk's squarings: diffusion reaches sqrt(steps) positions, and the
# demo's stride-8 grid is 16 positions across where VOC's is about 63, so
# 2 ** 8 steps on VOC are (16 / 63) ** 2 * 2 ** 8 = 2 ** 4 steps here.
# docs/en/user_guides/wsss.md has the measurements.
DEMO_CRF_ALPHAS = (0.3, 2.5)
DEMO_RW_ALPHA = 0.4
DEMO_RW_LOGT = 4


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
                       classes: tuple, out_dir: str, count: int) -> List[str]:
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
        dense = np.zeros((max(cams, default=0) + 1, ) + mask.shape, np.float32)
        for c, cam in cams.items():
            dense[c] = cam
        pred = cam_prediction(dense, bg_thresh)
        # (H, 3W): image | mask | pseudo-labels, the last two painted
        panels = draw_overlay(
            image[..., ::-1],
            PixelData(data=torch.from_numpy(pred)[None]),
            meta,
            ground_truth=PixelData(data=torch.from_numpy(mask.copy())[None]))
        w = image.shape[1]
        blend = (0.5 * image + 0.5 * heatmap(cams, mask.shape)).astype(
            np.uint8)
        out_file = osp.join(out_dir, f'{sample.name}.png')
        write_png(
            out_file,
            np.concatenate([panels[:, :2 * w], blend, panels[:, 2 * w:]],
                           axis=1))
        written.append(out_file)
        bar.update()
    return written


def chain_config(path: str, work_dir: str, data_root: str,
                 backbone_from: str) -> Config:
    """A later stage's demo config: its own ``work_dir``, the dataset at
    ``data_root``, the backbone initialised from the CAM classifier's
    checkpoint ``backbone_from`` (the demo's stand-in for the ImageNet
    weights PSA starts from)."""
    cfg = load_config(path, work_dir=work_dir)
    cfg.data_root = data_root
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.model.backbone.init_cfg = dict(
        type='Pretrained', checkpoint=backbone_from, prefix='backbone.')
    return cfg


def run_wsss_demo(config: str,
                  aff_config: str,
                  seg_config: str,
                  work_dir: str,
                  data_dir: str,
                  max_epochs: Optional[int] = None,
                  scales=(1.0, 0.5, 1.5, 2.0),
                  train_scales=(1.0, ),
                  crf_alphas=DEMO_CRF_ALPHAS,
                  rw_alpha: float = DEMO_RW_ALPHA,
                  rw_logt: int = DEMO_RW_LOGT,
                  num_overlays: int = 8) -> dict:
    """PSA's whole pipeline on the built-in data: generate it (unless
    there), train the CAM classifier, make CAMs (and the la / ha CRF files
    of the training images), train AffinityNet on them, random-walk the
    CAMs, train the segmentation network on the walked labels of the
    training images; score CAMs, walked labels and the segmentation
    network on the held-out images; draw CAM overlays.

    Args:
        config: The CAM classifier's demo config
            (``configs/wsss/rn38_demo_cls.py``).
        aff_config: AffinityNet's (``configs/wsss/rn38_demo_aff.py``).
        seg_config: The segmentation network's
            (``configs/wsss/rn38_demo_pseudo.py``).
        work_dir: Checkpoints, logs, CAMs, labels and overlays go here.
        data_dir: Folder of the generated dataset.
        max_epochs: The classifier's training epochs instead of the
            config's.
        scales: CAM scales of the held-out images (PSA's by default).
        train_scales: CAM scales of the training images (the demo's
            default 1.0: they make only the CRF files and the walked
            labels the next networks learn from).
        crf_alphas: Background powers of the la and ha CRF files (PSA:
            4, 32).
        rw_alpha, rw_logt: The random walk's background power and
            squarings (PSA: 16, 8).
        num_overlays: How many held-out images to draw.

    Returns:
        dict with ``sweep`` (:class:`~mmrn38.wsss.evaluation.Sweep` of the
        held-out CAMs), ``rw_miou`` (walked labels) and ``seg_miou`` (the
        segmentation network), in %, ``classes`` (with background),
        ``checkpoint`` (the classifier's), ``aff_checkpoint``,
        ``seg_checkpoint``, ``cam_dir``, ``rw_dir``, ``overlay_dir``,
        ``overlays``, ``splits``, ``rw_params`` and ``seconds`` (per
        stage).
    """
    seconds = {}
    cfg = load_config(config, work_dir=work_dir)
    if max_epochs is not None:
        cfg.train_cfg.max_epochs = max_epochs
        cfg.train_cfg.val_interval = max_epochs
        cfg.param_scheduler.end = max_epochs
    spec = copy.deepcopy(cfg.synthetic_data.to_dict())
    num_classes = spec['num_classes']

    announce(f'[1/8] dataset: {spec["splits"]} images of '
             f'{spec["size"][0]}x{spec["size"][1]}, '
             f'{num_classes - 1} object classes, in {data_dir}')
    data_root = generate_data(spec, data_dir)
    set_data_root(cfg, data_root)

    announce(f'[2/8] training the CAM classifier (ResNet-38 width '
             f'{cfg.model.backbone.width}, image-level labels only) with '
             f'the mmengine Runner, logs in {work_dir}')
    checkpoint, seconds['classifier'], _ = train(copy.deepcopy(cfg))

    announce(f'[3/8] CAMs by PSA\'s procedure: the '
             f'{spec["splits"]["train"]} training images (scales '
             f'{list(train_scales)} + flips, and their la / ha CRF files) '
             f'and the {spec["splits"][HELD_OUT]} held-out images (scales '
             f'{list(scales)} + flips)')
    cam_dir = osp.join(work_dir, 'cams')
    crf_dirs = dict(
        la=osp.join(work_dir, 'crf_la'), ha=osp.join(work_dir, 'crf_ha'))
    start = time.time()
    make_cams(
        cfg,
        checkpoint,
        data_root,
        TRAIN,
        out_cam=cam_dir,
        out_la_crf=crf_dirs['la'],
        out_ha_crf=crf_dirs['ha'],
        scales=train_scales,
        low_alpha=crf_alphas[0],
        high_alpha=crf_alphas[1])
    make_cams(
        cfg, checkpoint, data_root, HELD_OUT, out_cam=cam_dir, scales=scales)
    seconds['cams'] = time.time() - start

    announce('[4/8] CAM pseudo-label mIoU of the held-out images against '
             'their hidden masks, background thresholds 0.05 ... 0.95')
    sweep: Sweep = evaluate_cams(data_root, HELD_OUT, cam_dir, num_classes)

    announce('[5/8] training AffinityNet on the CRF labels of the training '
             'images, backbone from the CAM classifier')
    aff_cfg = chain_config(aff_config, osp.join(work_dir, 'aff'), data_root,
                           checkpoint)
    aff_cfg.train_dataloader.dataset.la_crf_dir = crf_dirs['la']
    aff_cfg.train_dataloader.dataset.ha_crf_dir = crf_dirs['ha']
    aff_checkpoint, seconds['affinitynet'], _ = train(aff_cfg)

    announce('[6/8] random walk of the CAMs over the affinities (PSA\'s '
             'infer_aff.py), training and held-out images')
    rw_dir = osp.join(work_dir, 'rw')
    start = time.time()
    for split in (TRAIN, HELD_OUT):
        random_walk(
            aff_cfg,
            aff_checkpoint,
            data_root,
            split,
            cam_dir,
            out_rw=rw_dir,
            alpha=rw_alpha,
            logt=rw_logt,
            num_classes=num_classes)
    seconds['random walk'] = time.time() - start
    rw_miou = evaluate_labels(data_root, HELD_OUT, rw_dir, num_classes).miou

    announce('[7/8] training the segmentation network on the walked labels '
             'of the training images, backbone from the CAM classifier; '
             'testing it on the held-out masks')
    seg_cfg = chain_config(seg_config, osp.join(work_dir, 'seg'), data_root,
                           checkpoint)
    set_data_root(seg_cfg, data_root)
    seg_cfg.train_dataloader.dataset.data_prefix.seg_map_path = rw_dir
    seg_checkpoint, seconds['segmentation'], runner = train(seg_cfg)
    start = time.time()
    seg_miou = runner.test()['mIoU']
    seconds['segmentation test'] = time.time() - start

    announce(f'[8/8] drawing {num_overlays} held-out images: image | '
             f'mask | CAMs | pseudo-labels')
    overlay_dir = osp.join(work_dir, 'overlays')
    classes = ('background', ) + tuple(cfg.metainfo['classes'])
    overlays = write_cam_overlays(data_root, cam_dir,
                                  sweep.thresholds[sweep.best], classes,
                                  overlay_dir, num_overlays)
    return dict(
        sweep=sweep,
        rw_miou=rw_miou,
        seg_miou=seg_miou,
        classes=classes,
        checkpoint=checkpoint,
        aff_checkpoint=aff_checkpoint,
        seg_checkpoint=seg_checkpoint,
        cam_dir=cam_dir,
        rw_dir=rw_dir,
        overlay_dir=overlay_dir,
        overlays=overlays,
        splits=spec['splits'],
        rw_params=dict(alpha=rw_alpha, beta=8, logt=rw_logt),
        seconds=seconds)
