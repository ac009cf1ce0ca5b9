"""The end-to-end demo of ``make demo`` (``tools/demo.py``): generate the
built-in dataset, train ResNet-38 + WiderHead with the Runner, test with and
without test-time augmentation, compare bfloat16 inference with float32,
draw predictions and the training curves.

Training and testing go through :func:`load_config`, :func:`prepare_train`,
:func:`prepare_test` and :func:`build_runner`, the path of ``tools/train.py``
and ``tools/test.py`` (``--tta``).
"""
import argparse
import copy
import json
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mmcv
import torch
from mmengine.config import Config
from mmengine.runner import Runner, find_latest_checkpoint
from mmengine.structures import PixelData

from .apis import (build_runner, draw_overlay, init_segmentor, load_config,
                   prepare_test, prepare_train, read_image, write_png)
from .apis.cli import call_with_args
from .synthetic import write_once, write_voc
from .utils.atomic_file import atomic_output

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def demo_parser(
    description: str,
    config: str,
    work_dir: str,
    data_root: str,
    work_dir_help: str,
    more_configs: Sequence[Tuple[str, str, str]] = ()
) -> argparse.ArgumentParser:
    """The demos' common options with their defaults: ``--config``, the
    options of the demo's further configs (``more_configs``: ``(option,
    default, help)`` each), ``--work-dir`` and ``--data-root`` (the
    generated dataset, made there unless complete); a demo adds its own
    and :func:`add_num_overlays`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--config', default=config, help='demo config')
    for option, default, help in more_configs:
        parser.add_argument(option, default=default, help=help)
    parser.add_argument('--work-dir', default=work_dir, help=work_dir_help)
    parser.add_argument(
        '--data-root',
        default=data_root,
        help='folder of the generated dataset (made unless complete)')
    return parser


def add_num_overlays(parser: argparse.ArgumentParser):
    """The demos' ``--num-overlays``: how many held-out images to draw."""
    parser.add_argument(
        '--num-overlays', type=int, default=8, help='held-out images to draw')


def call_demo(run: Callable[..., dict], args: argparse.Namespace,
              **changes) -> dict:
    """A demo's ``run`` function with the options ``args`` of
    :func:`demo_parser` and the demo's own (see
    :func:`~mmrn38.apis.cli.call_with_args`): the work and data folders
    made absolute, and ``changes``."""
    return call_with_args(
        run,
        args,
        work_dir=osp.abspath(args.work_dir),
        data_dir=osp.abspath(args.data_root),
        **changes)


def announce(step: str):
    """Print a step header that stands out in the Runner's log."""
    print(f'\n==> {step}', flush=True)


def dataset_spec(cfg: Config, num_images: Optional[int] = None) -> dict:
    """The config's ``synthetic_data`` (``write_voc`` arguments); with
    ``num_images``, that many images split 4:1 into train and val."""
    spec = copy.deepcopy(cfg.synthetic_data.to_dict())
    if num_images is not None:
        if num_images < 2:
            raise ValueError(f'--num-images must be at least 2 (one train, '
                             f'one held-out), got {num_images}')
        val = max(1, num_images // 5)
        spec['splits'] = dict(train=num_images - val, val=val)
    return spec


def set_data_root(cfg: Config, data_root: str) -> Config:
    """Point the train, val and test sets at ``data_root``."""
    for loader in DATALOADERS:
        cfg[loader].dataset.data_root = data_root
    cfg.data_root = data_root
    return cfg


def generate_data(spec: dict, data_dir: str) -> str:
    """The built-in VOC-layout dataset of ``spec`` (``write_voc``
    arguments) in ``data_dir``, generated unless already complete there;
    returns its ``data_root``."""
    start = time.time()
    data_root = write_once(data_dir, write_voc, **spec)
    print(f'ready in {time.time() - start:.1f} s: {data_root}', flush=True)
    return data_root


def train(cfg: Config) -> Tuple[str, float, Runner]:
    """Train ``cfg`` as ``tools/train.py`` does; returns the last
    checkpoint of its ``work_dir``, the seconds it took and the Runner."""
    start = time.time()
    runner = build_runner(prepare_train(cfg))
    runner.train()
    seconds = time.time() - start
    checkpoint = find_latest_checkpoint(cfg.work_dir)
    print(f'trained in {seconds:.0f} s: {checkpoint}', flush=True)
    return checkpoint, seconds, runner


def set_max_iters(cfg: Config, max_iters: int) -> Config:
    """Shorten or lengthen the schedule, keeping where the lr starts
    decaying, how often it validates and logs, in proportion."""
    old = cfg.train_cfg.max_iters

    def scaled(n):
        return max(1, round(n * max_iters / old))

    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = scaled(cfg.train_cfg.val_interval)
    cfg.default_hooks.logger.interval = scaled(
        cfg.default_hooks.logger.interval)
    for scheduler in cfg.param_scheduler:
        scheduler.begin = min(scaled(scheduler.begin), max_iters - 1) \
            if scheduler.begin else 0
        scheduler.end = min(scaled(scheduler.end), max_iters)
    return cfg


def read_scalars(path: str) -> Dict[str, List[tuple]]:
    """The training loss and validation mIoU from mmengine's
    ``vis_data/scalars.json`` (one JSON object per line, ``step`` = iter).

    Returns:
        ``{'loss': [(iter, loss), ...], 'mIoU': [(iter, mIoU), ...]}``
    """
    curves = dict(loss=[], mIoU=[])
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            for key, points in curves.items():
                if key in record:
                    points.append((record['step'], record[key]))
    return curves


def plot_curves(curves: Dict[str, List[tuple]], out_file: str):
    """Training loss and validation mIoU against the iteration, side by
    side, as a PNG written through a temporary file."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for ax, key, label, style in ((ax_loss, 'loss', 'training loss', '-'),
                                  (ax_miou, 'mIoU', 'held-out mIoU (%)',
                                   'o-')):
        if curves[key]:
            steps, values = zip(*curves[key])
            ax.plot(steps, values, style)
        ax.set_xlabel('iteration')
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    ax_miou.set_ylim(0, 100)
    fig.suptitle('ResNet-38 + WiderHead on the built-in dataset')
    fig.tight_layout()
    try:
        with atomic_output(out_file) as tmp:
            fig.savefig(tmp, format='png')
    finally:
        plt.close(fig)


def held_out_files(cfg: Config) -> List[Tuple[str, str]]:
    """``(image, label map)`` paths of the config's test split."""
    dataset = cfg.test_dataloader.dataset
    with open(osp.join(dataset.data_root, dataset.ann_file)) as f:
        names = f.read().split()
    return [(osp.join(dataset.data_root, dataset.data_prefix.img_path,
                      name + dataset.img_suffix),
             osp.join(dataset.data_root, dataset.data_prefix.seg_map_path,
                      name + dataset.seg_map_suffix)) for name in names]


def compare_bf16(model, images: List[str]) -> dict:
    """Segment ``images`` with mmseg's ``inference_model``: the plain model
    in float32, then :func:`~mmrn38.optimize_for_inference`'s fast path in
    float32 and, where the CPU has native bfloat16 (AVX512-BF16 or AMX),
    under bfloat16 autocast. Elsewhere bfloat16 is not run (oneDNN's
    reference kernels are many times slower than float32).

    ``model`` itself is not changed (the fast paths run on copies).

    Returns:
        dict with ``fp32_s``, ``fast_s`` and ``bf16_s`` (seconds for all
        images, each timed after one untimed warm-up image; ``bf16_s`` None
        where bfloat16 was not run), ``fast_agreement`` and ``agreement``
        (share of pixels whose predicted class equals the plain float32 one,
        for the float32 fast path and for bfloat16; ``agreement`` None
        where not run) and ``bf16_reason`` (one line: why bfloat16 ran or
        not).
    """
    from mmseg.apis import inference_model

    from mmrn38.models.inference_optimization import optimize_for_inference
    from mmrn38.utils.device_features import bf16_support
    bf16_ok, reason = bf16_support(next(model.parameters()).device)
    arrays = [read_image(path) for path in images]
    runs = dict(fp32=model, fast=optimize_for_inference(copy.deepcopy(model)))
    if bf16_ok:
        runs['bf16'] = optimize_for_inference(copy.deepcopy(model), bf16=True)
    predictions, seconds = {}, {}
    for name, run in runs.items():
        inference_model(run, arrays[0])
        start = time.perf_counter()
        predictions[name] = [
            inference_model(run, a).pred_sem_seg.data for a in arrays
        ]
        seconds[name] = time.perf_counter() - start
    total = sum(p.numel() for p in predictions['fp32'])

    def agreement(name):
        if name not in predictions:
            return None
        return sum(
            int((a == b).sum())
            for a, b in zip(predictions['fp32'], predictions[name])) / total

    return dict(
        fp32_s=seconds['fp32'],
        fast_s=seconds['fast'],
        bf16_s=seconds.get('bf16'),
        fast_agreement=agreement('fast'),
        agreement=agreement('bf16'),
        bf16_reason=reason)


def write_val_overlays(model, files: List[Tuple[str, str]],
                       out_dir: str) -> List[str]:
    """Overlays (image | ground truth | prediction) of held-out ``(image,
    label map)`` files, predicted with mmseg's inference API."""
    from mmengine.utils import ProgressBar
    from mmseg.apis import inference_model
    written = []
    bar = ProgressBar(len(files))
    for image_file, label_file in files:
        name = osp.splitext(osp.basename(image_file))[0]
        image = read_image(image_file)
        label = mmcv.imread(label_file, flag='unchanged')
        result = inference_model(model, image)
        out_file = osp.join(out_dir, f'{name}.png')
        write_png(
            out_file,
            draw_overlay(
                image,
                result.pred_sem_seg,
                model.dataset_meta,
                ground_truth=PixelData(data=torch.from_numpy(label)[None])))
        written.append(out_file)
        bar.update()
    return written


def run_demo(config: str,
             work_dir: str,
             data_dir: str,
             max_iters: Optional[int] = None,
             num_images: Optional[int] = None,
             num_overlays: int = 8) -> dict:
    """Generate the data (unless there), train, test without and with TTA,
    compare bfloat16 inference with float32, write overlays and the
    curves.

    Args:
        config: The demo config (``configs/rn38_demo.py``).
        work_dir: Checkpoints, logs, overlays and the plot go here.
        data_dir: Folder of the generated dataset.
        max_iters: Training iterations instead of the config's.
        num_images: Images to generate instead of the config's split sizes.
        num_overlays: How many held-out images to draw.

    Returns:
        dict with ``metrics`` and ``metrics_tta`` (``aAcc``, ``mIoU``,
        ``mAcc`` in %), ``bf16`` (:func:`compare_bf16`), ``checkpoint``,
        ``overlays`` (their folder: ``overlay_dir``), ``plot``,
        ``data_root``, ``splits`` and ``train_seconds``.
    """
    cfg = load_config(config, work_dir=work_dir)
    spec = dataset_spec(cfg, num_images)

    announce(f'[1/6] dataset: {spec["splits"]} images of '
             f'{spec["size"][0]}x{spec["size"][1]}, '
             f'{spec["num_classes"]} classes, in {data_dir}')
    data_root = generate_data(spec, data_dir)

    def demo_cfg(phase):
        """A fresh copy of the demo config for one Runner."""
        phase_cfg = set_data_root(copy.deepcopy(cfg), data_root)
        if max_iters is not None:
            set_max_iters(phase_cfg, max_iters)
        # one Visualizer per Runner: each writes into its own log folder
        phase_cfg.visualizer.name = f'rn38_demo_{phase}'
        return phase_cfg

    announce(f'[2/6] training ResNet-38 (width {cfg.model.backbone.width}) '
             f'+ WiderHead with the mmengine Runner, logs in {work_dir}')
    checkpoint, train_seconds, runner = train(demo_cfg('train'))
    scalars = osp.join(runner.log_dir, 'vis_data', 'scalars.json')

    metrics = {}
    for tta in (False, True):
        announce(f'[{3 + tta}/6] testing on the held-out split'
                 f'{" with multi-scale + flip TTA" if tta else ""}')
        phase_cfg = prepare_test(
            demo_cfg('test_tta' if tta else 'test'), checkpoint, tta=tta)
        metrics[tta] = build_runner(phase_cfg).test()

    held_out_cfg = set_data_root(copy.deepcopy(cfg), data_root)
    model = init_segmentor(copy.deepcopy(held_out_cfg), checkpoint)
    files = held_out_files(held_out_cfg)
    announce('[5/6] the inference fast path (float32, and bfloat16 '
             'autocast where the CPU has it) against plain float32 on the '
             'held-out images')
    bf16 = compare_bf16(model, [image for image, _ in files])
    print(
        f'{len(files)} images: plain float32 {bf16["fp32_s"]:.2f} s, '
        f'fast path float32 {bf16["fast_s"]:.2f} s (same class on '
        f'{100 * bf16["fast_agreement"]:.2f} % of the pixels)',
        flush=True)
    if bf16['bf16_s'] is None:
        print(
            f'bfloat16 not run, float32 kept: {bf16["bf16_reason"]}',
            flush=True)
    else:
        print(
            f'fast path bfloat16 ({bf16["bf16_reason"]}): '
            f'{bf16["bf16_s"]:.2f} s, same class on '
            f'{100 * bf16["agreement"]:.2f} % of the pixels',
            flush=True)

    announce(f'[6/6] drawing {num_overlays} held-out predictions and the '
             f'training curves')
    overlay_dir = osp.join(work_dir, 'overlays')
    overlays = write_val_overlays(model, files[:num_overlays], overlay_dir)
    plot = osp.join(work_dir, 'curves.png')
    plot_curves(read_scalars(scalars), plot)
    return dict(
        metrics=metrics[False],
        metrics_tta=metrics[True],
        bf16=bf16,
        checkpoint=checkpoint,
        overlays=overlays,
        overlay_dir=overlay_dir,
        plot=plot,
        data_root=data_root,
        splits=spec['splits'],
        train_seconds=train_seconds)
