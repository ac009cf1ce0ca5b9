"""Measuring the benchmark's cases (:mod:`.cases`).

:func:`run_benchmark` measures each case in a fresh process
(:func:`measure_case`), on random images ``(batch, 3, H, W)`` and random
labels:

- ``params``: parameters of backbone and head;
- ``flops``: forward FLOPs of one batch (``torch.utils.flop_counter``: a
  multiply-add counts 2);
- ``train_s``: seconds per training step (forward, loss, backward, SGD
  step with momentum through mmengine's ``OptimWrapper``, or with ``amp``
  ``AmpOptimWrapper`` (float16 on CUDA) or
  :class:`~mmrn38.engine.CPUAmpOptimWrapper` (bfloat16 on CPU)); not for
  inference-only cases;
- ``peak_bytes``: peak tensor memory of one training step beyond what was
  allocated before it (parameters, momenta, the batch): on CUDA
  ``max_memory_allocated`` minus ``memory_allocated`` before the step, on
  CPU the same quantity from :class:`TensorMemoryTracker`;
- ``peak_rss_bytes`` (CPU, Linux): the process's peak resident memory
  during that step minus its resident memory before it (the kernel's
  high-water mark, reset through ``/proc/self/clear_refs``), which also
  sees memory that kernels allocate for themselves.
- ``train_oom``: True where the training step ran out of device memory
  (then no ``train_s`` and memory figures: a case too large for the device
  is a result, not a failed run).

On CUDA cuDNN picks its kernels by timing them
(``torch.backends.cudnn.benchmark``), as mmseg's ``default_runtime.py``
(``env_cfg.cudnn_benchmark=True``) trains; the warm-up runs include that.

and then times inference of all cases in one more process, interleaved
(:func:`measure_inference`: each round runs every case once), so that the
ratios between cases see the same machine load:

- ``infer_s``: seconds per inference batch (logits at input size,
  ``torch.no_grad``);
- ``infer_bf16_s`` / ``bf16_agreement`` (``bf16=True``): the same under
  ``torch.autocast(dtype=torch.bfloat16)``, and the share of pixels whose
  argmax equals the case's float32 one;
- ``onednn`` (CPU): per mode, the oneDNN kernels one more inference ran
  and the instruction set each used, read from oneDNN's verbose output
  (:mod:`.onednn`);
- ``plan`` (fast-path cases): per mode, which kernel computes the 3x3
  convolutions (``model.inference_plan``, after the timed runs).

Times are medians of ``repeats`` runs (rounds) after ``warmup`` runs; the
memory step is a separate step after the timed ones.
"""
import concurrent.futures
import dataclasses
import multiprocessing
import os
import platform
import statistics
import time
from typing import List, Optional, Sequence, Tuple

import torch
from torch.utils.flop_counter import FlopCounterMode

from mmrn38.utils.device_features import cpu_flags
from mmrn38.utils.memory_tracker import TensorMemoryTracker
from .cases import CASES, BenchmarkSettings, CaseRunner
from .onednn import onednn_kernels


def _batch(settings: BenchmarkSettings, device: torch.device):
    """Random images (N, 3, H, W) and their data samples with random
    labels."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    generator = torch.Generator().manual_seed(0)
    h, w = settings.size
    images = torch.randn(settings.batch, 3, h, w, generator=generator)
    labels = torch.randint(
        0,
        settings.num_classes, (settings.batch, 1, h, w),
        generator=generator)
    samples = []
    for label in labels:
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=label.to(device))
        samples.append(sample)
    if settings.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images.to(device), samples


def _prepare_device(device: torch.device):
    """cuDNN's kernels chosen by timing on CUDA (mmseg's ``env_cfg``)."""
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True


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


def _optim_wrapper(model, settings: BenchmarkSettings, device: torch.device):
    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    from mmrn38.engine import CPUAmpOptimWrapper
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    if not settings.amp:
        return OptimWrapper(optimizer)
    if device.type == 'cpu':
        return CPUAmpOptimWrapper(optimizer)
    return AmpOptimWrapper(optimizer=optimizer, dtype='float16')


def measure_case(name: str, settings: BenchmarkSettings) -> dict:
    """Parameters, FLOPs, training step time and memory of case ``name``
    of :data:`CASES`, in this process (see the module docstring)."""
    case = CASES[name]
    device = torch.device(settings.device)
    _prepare_device(device)
    torch.manual_seed(0)
    runner = CaseRunner(case, settings)
    model = runner.model
    images, samples = _batch(settings, device)
    metas = [s.metainfo for s in samples]
    result = dict(
        case=name, description=case.description, params=runner.params)
    model.eval()
    if case.autotune:
        # the kernels are timed on the first forward: not under the
        # counter, whose dispatch overhead would skew the timing and whose
        # count would include every candidate
        with torch.no_grad():
            runner.infer(images, metas, exported=False)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        runner.infer(images, metas, exported=False)
    result['flops'] = counter.get_total_flops()
    if not case.trains:
        return result

    model.train()
    optim_wrapper = _optim_wrapper(model, settings, device)

    def train_step():
        with optim_wrapper.optim_context(model):
            loss = runner.loss(images, samples)
        optim_wrapper.update_params(loss)

    try:
        result['train_s'] = _median_seconds(train_step, settings, device)
        result['peak_bytes'], result['peak_rss_bytes'] = _step_memory(
            train_step, device)
    except torch.OutOfMemoryError:
        result['train_oom'] = True
    return result


def measure_inference(names: Sequence[str],
                      settings: BenchmarkSettings) -> List[dict]:
    """Inference times of the cases ``names``, all built in this process
    and run interleaved: ``warmup`` + ``repeats`` rounds, each running every
    case once (and once under bfloat16 autocast with ``settings.bf16``).

    Returns:
        One dict per case: ``infer_s`` (median seconds per batch), with
        ``bf16`` also ``infer_bf16_s`` and ``bf16_agreement`` (share of
        pixels whose argmax equals the case's float32 one).
    """
    device = torch.device(settings.device)
    _prepare_device(device)
    images, samples = _batch(settings, device)
    metas = [s.metainfo for s in samples]
    runners = []
    for name in names:
        torch.manual_seed(0)
        runners.append(CaseRunner(CASES[name], settings))
        runners[-1].model.eval()
        runners[-1].bf16_model.eval()
    modes = ['fp32'] + (['bf16'] if settings.bf16 else [])
    times = [{mode: [] for mode in modes} for _ in runners]
    labels = [{} for _ in runners]
    with torch.no_grad():
        for i in range(settings.warmup + settings.repeats):
            for runner, case_times, case_labels in zip(runners, times, labels):
                for mode in modes:
                    with torch.autocast(
                            device.type,
                            dtype=torch.bfloat16,
                            enabled=mode == 'bf16'):
                        _sync(device)
                        start = time.perf_counter()
                        logits = runner.infer(
                            images, metas, bf16=mode == 'bf16')
                        _sync(device)
                    if i >= settings.warmup:
                        case_times[mode].append(time.perf_counter() - start)
                    case_labels[mode] = logits.argmax(1)
    results = []
    for runner, case_times, case_labels in zip(runners, times, labels):
        result = dict(infer_s=statistics.median(case_times['fp32']))
        result.update(_kernels(runner, modes, images, metas, device))
        if settings.bf16:
            result['infer_bf16_s'] = statistics.median(case_times['bf16'])
            result['bf16_agreement'] = (
                case_labels['fp32'] == case_labels['bf16']
            ).float().mean().item()
        results.append(result)
    return results


def _kernels(runner: CaseRunner, modes: Sequence[str], images, metas,
             device: torch.device) -> dict:
    """``onednn`` (CPU, PyTorch models) and ``plan`` (fast path) of a case,
    per mode (see the module docstring)."""
    from mmrn38.models.conv_autotune import plan_summary
    result = dict(onednn={}, plan={})
    for mode in modes:
        bf16 = mode == 'bf16'
        model = runner.bf16_model if bf16 else runner.model
        plan = getattr(model, 'inference_plan', None)
        if plan is not None:
            result['plan'][mode] = plan_summary(plan)
        if device.type != 'cpu' or runner.session is not None:
            continue

        def infer():
            with torch.no_grad(), torch.autocast(
                    'cpu', dtype=torch.bfloat16, enabled=bf16):
                runner.infer(images, metas, bf16=bf16)

        result['onednn'][mode] = onednn_kernels(infer)
    return {key: value for key, value in result.items() if value}


#: Environment variables that cap the instruction set of PyTorch's CPU
#: kernels (oneDNN's convolutions, MKL's matrix products, ATen's own loops)
#: below what the CPU has: with them one machine measures another kind's
#: kernels (e.g. AVX2 only on an AVX-512 machine).
KERNEL_ISA_LIMITS = ('ONEDNN_MAX_CPU_ISA', 'DNNL_MAX_CPU_ISA',
                     'MKL_ENABLE_INSTRUCTIONS', 'ATEN_CPU_CAPABILITY')


def machine_info(device: str) -> dict:
    """CPU model and flags (:func:`~mmrn38.utils.device_features.cpu_flags`),
    the kernels' instruction set limits in force (:data:`KERNEL_ISA_LIMITS`),
    threads, device name and library versions."""
    import mmengine
    import mmseg
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(
                line.split(':', 1)[1].strip() for line in f
                if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    info = dict(
        cpu=cpu,
        cpu_flags=list(cpu_flags()),
        kernel_isa_limits={
            name: os.environ[name]
            for name in KERNEL_ISA_LIMITS if os.environ.get(name)
        },
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
    """Measure the cases ``names``: each in a fresh process in turn
    (:func:`measure_case`), then their inference interleaved in one more
    (:func:`measure_inference`).

    Returns a report: ``settings``, ``machine`` (:func:`machine_info`),
    ``loadavg_before`` / ``loadavg_after`` (1, 5 and 15 min load averages)
    and ``results`` (a dict per case: :func:`measure_case`'s and
    :func:`measure_inference`'s figures).
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
    bar = ProgressBar(len(names) + 1) if progress else None
    # one process per job: memory and caches of one case cannot affect the
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
        timings = pool.submit(measure_inference, names, settings).result()
        if bar is not None:
            bar.update()
    for result, timing in zip(report['results'], timings):
        result.update(timing)
    report['loadavg_after'] = os.getloadavg()
    return report


__all__ = [
    'machine_info', 'measure_case', 'measure_inference', 'run_benchmark'
]
