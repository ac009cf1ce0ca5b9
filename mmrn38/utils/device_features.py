"""What the machine's CPU or GPU can do fast: the CPU flags that decide
whether bfloat16 pays, read from ``/proc/cpuinfo``.

oneDNN runs bfloat16 convolutions on native kernels only with AVX512-BF16
or AMX-BF16; on a CPU with AVX2 alone it falls back to reference kernels,
measured 32x *slower* than float32 for ResNet-38
(docs/en/user_guides/speed_and_memory.md). So bfloat16 is used only where
:func:`bf16_support` says so.

On GPUs from Ampere on, PyTorch lets cuDNN round float32 convolutions'
products to TF32 (10 mantissa bits) by default; :func:`full_float32` turns
that off where a procedure must compute what its original computed.
"""
import contextlib
import functools
from typing import Iterator, Tuple

import torch

CPU_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16')
"""The flags reported with every benchmark figure."""

BF16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')
"""Either one gives oneDNN native bfloat16 kernels."""


@functools.lru_cache()
def cpu_flags() -> Tuple[str, ...]:
    """Which of :data:`CPU_FLAGS` this CPU has, sorted (as ``grep -o
    'avx512_bf16\\|amx_bf16\\|avx512f\\|avx2' /proc/cpuinfo | sort -u``);
    empty where ``/proc/cpuinfo`` cannot be read (not Linux)."""
    try:
        with open('/proc/cpuinfo') as f:
            words = set(f.read().split())
    except OSError:
        return ()
    return tuple(sorted(flag for flag in CPU_FLAGS if flag in words))


def bf16_support(device='cpu') -> Tuple[bool, str]:
    """Whether bfloat16 autocast runs fast on ``device``, and why.

    Args:
        device (str | torch.device): ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ...

    Returns:
        ``(supported, reason)``; ``reason`` is one line naming the CPU flags
        or the GPU.
    """
    device = torch.device(device)
    if device.type == 'cuda':
        name = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported():
            return True, f'{name} supports bfloat16'
        return False, f'{name} has no native bfloat16'
    if device.type != 'cpu':
        return False, f'bfloat16 autocast is not checked on {device.type}'
    flags = cpu_flags()
    native = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if native:
        return True, f'the CPU has {" and ".join(native)}'
    return False, (f'the CPU has no {" or ".join(BF16_CPU_FLAGS)} (flags: '
                   f'{" ".join(flags) or "unknown"}), so oneDNN would run '
                   f'reference bfloat16 kernels, many times slower than '
                   f'float32')


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """cuDNN's float32 convolutions without TF32 rounding inside the block
    (``torch.backends.cudnn.allow_tf32``, on by default; no effect on CPU).

    The original procedures ran float32 on GPUs without TF32: on an H100,
    PSA's CAMs (normalised to 1) moved by up to 6.9e-3 with TF32 on.
    """
    cudnn = torch.backends.cudnn
    allow_tf32 = cudnn.allow_tf32
    cudnn.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32 = allow_tf32
