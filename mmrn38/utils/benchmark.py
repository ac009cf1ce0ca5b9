"""Speed and memory of ResNet-38 against mmseg's ResNet-D8 networks.

The library behind ``tools/benchmark.py``. A case is a segmentor built
through mmseg's registry: a backbone, and on its last features the paper's
"2 conv" :class:`~mmrn38.models.WiderHead` (3x3 dilation-12 conv to 512
channels + ReLU, 3x3 dilation-12 classifier, cross-entropy), the same head on
every backbone so that the backbones are what differs. BN layers are plain
``BN``; frozen (``norm_eval=True``, this project's segmentation configs)
unless ``train_bn``. The ResNet-38 cases follow
``configs/_base_/models/rn38_a1_s8_wider.py`` (dropout 0.3 / 0.5 in units
6a / 7a, no OHEM); the ResNet-D8 ones mmseg's ``fcn_r50-d8.py`` backbone.

Each case runs in a fresh process (:func:`run_benchmark`), on random images
``(batch, 3, H, W)`` and random labels, and measures (:func:`measure_case`):

- ``params``: parameters of backbone and head;
- ``flops``: forward FLOPs of one batch (``torch.utils.flop_counter``: a
  multiply-add counts 2);
- ``infer_s``: seconds per inference batch (``encode_decode``: logits at
  input size, ``torch.no_grad``);
- ``infer_bf16_s`` / ``bf16_agreement`` (``bf16=True``): the same under
  ``torch.autocast(dtype=torch.bfloat16)``, and the share of pixels whose
  argmax equals the float32 one;
- ``train_s``: seconds per training step (forward, loss, backward, SGD
  step with momentum through mmengine's ``OptimWrapper``, or
  ``AmpOptimWrapper`` with ``amp``);
- ``peak_bytes``: peak tensor memory of one training step beyond what was
  allocated before it (parameters, momenta, the batch): on CUDA
  ``max_memory_allocated`` minus ``memory_allocated`` before the step, on
  CPU the same quantity from :class:`TensorMemoryTracker`;
- ``peak_rss_bytes`` (CPU, Linux): the process's peak resident memory
  during that step minus its resident memory before it (the kernel's
  high-water mark, reset through ``/proc/self/clear_refs``), which also
  sees memory that kernels allocate for themselves.

Times are medians of ``repeats`` runs after ``warmup`` runs; the memory step
is a separate step after the timed ones.
"""
import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import platform
import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch.utils.flop_counter import FlopCounterMode

from .atomic_file import atomic_output
from .memory_tracker import TensorMemoryTracker


@dataclasses.dataclass(frozen=True)
class BenchmarkCase:
    """A backbone to benchmark.

    Args:
        description (str): What the case is, for the table.
        backbone (dict): The backbone's config (``BN`` layers; the
            benchmark sets ``norm_cfg`` and ``norm_eval``).
        out_channels (int): Channels of its last features at width 1.
        width_keys (tuple[str]): Backbone arguments that scale with
            ``width`` (``'width'`` for ResNet38, channel counts for mmseg's
            ResNets).
    """
    description: str
    backbone: dict
    out_channels: int
    width_keys: Tuple[str, ...]


def _resnet38(**kwargs) -> BenchmarkCase:
    options = ', '.join(f'{k}={v}' for k, v in kwargs.items()
                        if k != 'out_stride')
    return BenchmarkCase(
        description=f'ResNet-38 A1, OS {kwargs["out_stride"]}' +
        (f', {options}' if options else ''),
        backbone=dict(
            type='ResNet38',
            arch='A1',
            out_indices=(5, ),
            dropouts=(0.3, 0.5),
            **kwargs),
        out_channels=4096,
        width_keys=('width', ))


def _resnet_d8(depth: int) -> BenchmarkCase:
    return BenchmarkCase(
        description=f'mmseg ResNetV1c-{depth}-D8',
        backbone=dict(
            type='ResNetV1c',
            depth=depth,
            num_stages=4,
            out_indices=(3, ),
            dilations=(1, 1, 2, 4),
            strides=(1, 2, 1, 1),
            style='pytorch',
            contract_dilation=True),
        out_channels=2048,
        width_keys=('stem_channels', 'base_channels'))


CASES: Dict[str, BenchmarkCase] = {
    'rn38-os8': _resnet38(out_stride=8),
    'rn38-os8-lean': _resnet38(out_stride=8, memory_lean=True),
    'rn38-os8-cp': _resnet38(out_stride=8, with_cp=True),
    'rn38-os8-lean-cp': _resnet38(out_stride=8, memory_lean=True,
                                  with_cp=True),
    'rn38-os16': _resnet38(out_stride=16),
    'r101-d8': _resnet_d8(101),
    'r50-d8': _resnet_d8(50),
}
"""The cases by name; ``rn38-os8`` is the default reference."""

HEAD_CHANNELS = 512  # WiderHead's conv6a
STEM_CHANNELS = 64  # ResNetV1c's stem and base channels at width 1


@dataclasses.dataclass(frozen=True)
class BenchmarkSettings:
    """How to run the cases.

    Args:
        size (tuple[int, int]): Input height and width.
        batch (int): Images per batch.
        repeats (int): Timed runs; the median is reported.
        warmup (int): Untimed runs before them.
        device (str): ``'cpu'`` or ``'cuda'`` (or ``'cuda:1'`` ...).
        bf16 (bool): Also time bfloat16-autocast inference.
        channels_last (bool): Model and inputs in ``channels_last`` format.
        amp (bool): Train through ``AmpOptimWrapper`` (float16 autocast and
            loss scaling on CUDA, bfloat16 autocast on CPU).
        train_bn (bool): Train BN layers (``norm_eval=False``) instead of
            freezing them.
        width (float): Multiplier of every channel count (tests use 1/16).
        num_classes (int): Classes of the head.
    """
    size: Tuple[int, int] = (512, 512)
    batch: int = 1
    repeats: int = 3
    warmup: int = 1
    device: str = 'cpu'
    bf16: bool = False
    channels_last: bool = False
    amp: bool = False
    train_bn: bool = False
    width: float = 1.0
    num_classes: int = 21


def segmentor_config(case: BenchmarkCase,
                     settings: BenchmarkSettings) -> dict:
    """The mmseg ``EncoderDecoder`` config of ``case``."""

    def scale(channels):
        return max(1, int(round(channels * settings.width)))

    norm_cfg = dict(type='BN', requires_grad=True)
    backbone = dict(case.backbone, norm_cfg=norm_cfg,
                    norm_eval=not settings.train_bn)
    for key in case.width_keys:
        backbone[key] = settings.width if key == 'width' else scale(
            STEM_CHANNELS)
    if backbone['type'] == 'ResNet38':
        backbone['norm_cfg'] = dict(norm_cfg, eps=1.001e-5)
    return dict(
        type='EncoderDecoder',
        backbone=backbone,
        decode_head=dict(
            type='WiderHead',
            in_channels=scale(case.out_channels),
            in_index=0,
            channels=scale(HEAD_CHANNELS),
            num_convs=2,
            kernel_size=3,
            dilation=12,
            dropout_ratio=0.0,
            num_classes=settings.num_classes,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def build_segmentor(case: BenchmarkCase, settings: BenchmarkSettings):
    """Build and initialise ``case`` through ``mmseg.registry.MODELS``."""
    import mmseg.models  # noqa: F401  (registers EncoderDecoder, ResNetV1c)
    from mmengine.logging import MMLogger
    from mmseg.registry import MODELS

    import mmrn38  # noqa: F401  (registers ResNet38, WiderHead)

    # the current logger: keeps init_weights' per-parameter report quiet
    MMLogger.get_instance('mmrn38-benchmark', log_level='WARNING')
    model = MODELS.build(segmentor_config(case, settings))
    model.init_weights()
    return model


def _batch(settings: BenchmarkSettings, device: torch.device):
    """Random images (N, 3, H, W) and their data samples with random
    labels."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    generator = torch.Generator().manual_seed(0)
    h, w = settings.size
    images = torch.randn(settings.batch, 3, h, w, generator=generator)
    labels = torch.randint(0, settings.num_classes, (settings.batch, 1, h, w),
                           generator=generator)
    samples = []
    for label in labels:
        sample = SegDataSample(
            metainfo=dict(img_shape=(h, w), pad_shape=(h, w),
                          ori_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=label.to(device))
        samples.append(sample)
    if settings.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images.to(device), samples


def _sync(device: torch.device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _median_seconds(fn, settings: BenchmarkSettings,
                    device: torch.device) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup``
    runs."""
    times = []
    for i in range(settings.warmup + settings.repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        if i >= settings.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rss_bytes(field: str) -> int:
    """``VmRSS`` or ``VmHWM`` (peak) of this process, in bytes."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        return False
    return True


def _step_memory(step, device: torch.device) -> Tuple[int, Optional[int]]:
    """Peak tensor bytes and peak-RSS bytes of ``step()`` beyond what was
    there before it (RSS: CPU on Linux only, else ``None``)."""
    if device.type == 'cuda':
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        return torch.cuda.max_memory_allocated(device) - before, None
    rss = _reset_peak_rss()
    rss_before = _rss_bytes('VmRSS') if rss else None
    with TensorMemoryTracker() as tracker:
        step()
    return tracker.peak, (_rss_bytes('VmHWM') - rss_before if rss else None)


def _optim_wrapper(model, settings: BenchmarkSettings,
                   device: torch.device):
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    if not settings.amp:
        return OptimWrapper(optimizer)
    dtype = 'float16' if device.type == 'cuda' else 'bfloat16'
    return AmpOptimWrapper(optimizer=optimizer, dtype=dtype)


def measure_case(name: str, settings: BenchmarkSettings) -> dict:
    """Measure case ``name`` of :data:`CASES` in this process; see the
    module docstring for the keys of the returned dict."""
    case = CASES[name]
    device = torch.device(settings.device)
    torch.manual_seed(0)
    model = build_segmentor(case, settings).to(device)
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    images, samples = _batch(settings, device)
    metas = [s.metainfo for s in samples]
    result = dict(
        case=name,
        description=case.description,
        params=sum(p.numel() for p in model.parameters()))

    model.eval()
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            logits = model.encode_decode(images, metas)
        result['flops'] = counter.get_total_flops()

        def infer():
            model.encode_decode(images, metas)

        result['infer_s'] = _median_seconds(infer, settings, device)
        if settings.bf16:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                result['infer_bf16_s'] = _median_seconds(
                    infer, settings, device)
                logits_bf16 = model.encode_decode(images, metas)
            result['bf16_agreement'] = (logits.argmax(1) == logits_bf16.argmax(
                1)).float().mean().item()
        del logits

    model.train()
    optim_wrapper = _optim_wrapper(model, settings, device)

    def train_step():
        with optim_wrapper.optim_context(model):
            losses = model.loss(images, samples)
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    result['train_s'] = _median_seconds(train_step, settings, device)
    result['peak_bytes'], result['peak_rss_bytes'] = _step_memory(
        train_step, device)
    return result


def machine_info(device: str) -> dict:
    """CPU model, threads, device name and library versions."""
    import mmengine
    import mmseg
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    info = dict(
        cpu=cpu,
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__,
        mmengine=mmengine.__version__,
        mmseg=mmseg.__version__,
        device=device)
    if device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
    return info


def run_benchmark(names: Sequence[str],
                  settings: BenchmarkSettings,
                  progress: bool = True) -> dict:
    """Measure the cases ``names``, each in a fresh process, in turn.

    Returns a report: ``settings``, ``machine`` (:func:`machine_info`),
    ``loadavg_before`` / ``loadavg_after`` (1, 5 and 15 min load averages)
    and ``results`` (a list of :func:`measure_case` dicts).
    """
    from mmengine.utils import ProgressBar
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise ValueError(f'unknown cases {unknown}; known: {list(CASES)}')
    report = dict(
        settings=dataclasses.asdict(settings),
        machine=machine_info(settings.device),
        loadavg_before=os.getloadavg(),
        results=[])
    bar = ProgressBar(len(names)) if progress else None
    # one process per case: memory and caches of one case cannot affect the
    # next, and each peak-RSS mark starts from that case's own process
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context('spawn'),
            max_tasks_per_child=1) as pool:
        for name in names:
            report['results'].append(
                pool.submit(measure_case, name, settings).result())
            if bar is not None:
                bar.update()
    report['loadavg_after'] = os.getloadavg()
    return report


def _mib(n):
    return n / 2**20


COLUMNS = (
    # header, key, value -> number shown, format, ratio of the shown value
    ('params (M)', 'params', lambda v: v / 1e6, '{:.2f}'),
    ('GFLOPs', 'flops', lambda v: v / 1e9, '{:.1f}'),
    ('infer img/s', 'infer_s', None, '{:.3g}'),
    ('bf16 img/s', 'infer_bf16_s', None, '{:.3g}'),
    ('bf16 argmax =', 'bf16_agreement', lambda v: 100 * v, '{:.2f} %'),
    ('train s/step', 'train_s', lambda v: v, '{:.3g}'),
    ('peak MiB', 'peak_bytes', _mib, '{:.0f}'),
    ('peak RSS MiB', 'peak_rss_bytes', _mib, '{:.0f}'),
)


def format_table(report: dict, reference: Optional[str] = None) -> str:
    """The report as a Markdown table; each number is followed by its ratio
    to the ``reference`` case (default: the first)."""
    settings = report['settings']
    results = report['results']
    by_name = {r['case']: r for r in results}
    reference = reference or results[0]['case']
    if reference not in by_name:
        raise ValueError(f'reference {reference!r} is not among the cases '
                         f'{list(by_name)}')
    ref = by_name[reference]
    batch = settings['batch']

    def shown(result, key, transform):
        value = result.get(key)
        if value is None:
            return None
        if transform is None:  # seconds per batch -> images per second
            return batch / value
        return transform(value)

    columns = [c for c in COLUMNS if any(r.get(c[1]) is not None
                                         for r in results)]
    header = ['case', 'backbone'] + [c[0] for c in columns]
    rows = []
    for result in results:
        row = [result['case'], result['description']]
        for _, key, transform, fmt in columns:
            value = shown(result, key, transform)
            ref_value = shown(ref, key, transform)
            if value is None:
                row.append('-')
            elif key == 'bf16_agreement' or not ref_value:
                row.append(fmt.format(value))
            else:
                row.append(f'{fmt.format(value)} ({value / ref_value:.2f}x)')
        rows.append(row)
    h, w = settings['size']
    machine = report['machine']
    title = (f'{h}x{w}, batch {batch}, {settings["device"]} '
             f'({machine.get("gpu", machine["cpu"])}, '
             f'{machine["torch_threads"]} threads), torch {machine["torch"]}; '
             f'median of {settings["repeats"]} after {settings["warmup"]} '
             f'warm-up; channels_last={settings["channels_last"]}, '
             f'amp={settings["amp"]}, BN '
             f'{"trained" if settings["train_bn"] else "frozen"}, '
             f'width {settings["width"]:g}; ratios to {reference}; load '
             f'{report["loadavg_before"][0]:.2f} before, '
             f'{report["loadavg_after"][0]:.2f} after')
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = [title, '']
    for i, row in enumerate([header] + rows):
        lines.append('| ' + ' | '.join(
            str(x).ljust(n) for x, n in zip(row, widths)) + ' |')
        if i == 0:
            lines.append('|' + '|'.join('-' * (n + 2) for n in widths) + '|')
    return '\n'.join(lines)


def dump_json(report: dict, path: str):
    """Write ``report`` to ``path`` atomically (a temporary file in the same
    folder, then a rename)."""
    with atomic_output(path) as tmp, open(tmp, 'w') as f:
        json.dump(report, f, indent=2)


__all__: List[str] = [
    'BenchmarkCase', 'BenchmarkSettings', 'CASES', 'build_segmentor',
    'dump_json', 'format_table', 'machine_info', 'measure_case',
    'run_benchmark', 'segmentor_config'
]
