"""Convolution kernels chosen by measurement (the idea of
``torch.backends.cudnn.benchmark``), for the inference fast path.

Whether Winograd's algorithm (:mod:`.winograd_conv`) beats oneDNN's own
convolution depends on the CPU (AMX's bfloat16 tiles make oneDNN 1.7x
faster than Winograd F(2x2) at 512x512; on AVX-512 without AMX Winograd
wins), the thread count, the channels, the dilation, the dtype and the
feature map's size. :class:`AutotunedConv2d` times each candidate kernel
on the first input of each shape (interleaved runs, fastest run of
each) and keeps the fastest;
:class:`KernelChoices` remembers the decisions in memory and in a JSON
file (default ``~/.cache/mmrn38/kernel_choices.json``) under a key naming
the CPU model, its flags, the torch version and the thread count, so that
a second process on the same machine times nothing.
"""
import functools
import json
import os
import os.path as osp
import threading
import time
import warnings
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from ..utils.atomic_file import atomic_output
from .winograd_conv import WinogradConv2d

#: Where :class:`KernelChoices` keeps its decisions unless told otherwise
#: (the environment variable ``MMRN38_KERNEL_CHOICES`` names another file).
DEFAULT_CACHE = osp.join(
    osp.expanduser('~'), '.cache', 'mmrn38', 'kernel_choices.json')

#: Timed rounds (after one untimed run of each candidate); in each round
#: every candidate runs once, and each keeps its fastest round.
ROUNDS = 5


@functools.lru_cache()
def machine_key() -> str:
    """CPU model, all its flags, torch version and thread count: what the
    choices hold for."""
    model, flags = 'unknown CPU', ''
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                name, _, value = line.partition(':')
                name = name.strip()
                if name == 'model name' and model == 'unknown CPU':
                    model = value.strip()
                elif name == 'flags' and not flags:
                    flags = ' '.join(sorted(value.split()))
    except OSError:
        pass
    return (f'{model} | {flags} | torch {torch.__version__} | '
            f'{torch.get_num_threads()} threads')


def time_kernel(kernel: Callable[[Tensor], Tensor], x: Tensor) -> float:
    """Seconds of one ``kernel(x)`` under ``torch.no_grad``."""
    with torch.no_grad():
        start = time.perf_counter()
        kernel(x)
        return time.perf_counter() - start


def measure(candidates: Dict[str, Callable[[Tensor], Tensor]],
            x: Tensor,
            timer: Callable[[Callable, Tensor], float] = time_kernel,
            rounds: int = ROUNDS) -> Dict[str, float]:
    """Each candidate's fastest of ``rounds`` interleaved runs on ``x``
    after one untimed run: on a machine that other processes share, a busy
    moment then slows every candidate alike, and the minimum is the least
    disturbed run."""
    with torch.no_grad():
        for kernel in candidates.values():
            kernel(x)
    seconds = {name: float('inf') for name in candidates}
    for _ in range(rounds):
        for name, kernel in candidates.items():
            seconds[name] = min(seconds[name], timer(kernel, x))
    return seconds


class KernelChoices:
    """Decisions ``shape key -> kernel name`` for this machine
    (:func:`machine_key`), in memory and in the JSON file ``path``.

    The file maps machine keys to ``{shape key: {'choice': name,
    'seconds': {name: s}}}``. It is read once and rewritten atomically
    after every new decision (other machines' entries kept); a file that
    cannot be read or parsed is ignored with a warning (and replaced on the
    next decision).

    Args:
        path (str, optional): The JSON file (default
            :data:`DEFAULT_CACHE`); ``''`` keeps decisions in memory only.
        timer (callable): ``timer(kernel, x) -> seconds`` of one run
            (default :func:`time_kernel`), called by :func:`measure`.
    """

    def __init__(self,
                 path: Optional[str] = None,
                 timer: Callable[[Callable, Tensor], float] = time_kernel):
        self.path = default_cache() if path is None else path
        self.timer = timer
        self.machine = machine_key()
        self._lock = threading.Lock()
        self._all = self._read()
        self.entries: Dict[str, dict] = self._all.setdefault(self.machine, {})

    def _read(self) -> dict:
        if not self.path or not osp.exists(self.path):
            return {}
        try:
            with open(self.path) as f:
                data = json.load(f)
            if not isinstance(data, dict) or not all(
                    isinstance(v, dict) for v in data.values()):
                raise ValueError('not a mapping of machines to choices')
            return data
        except (OSError, ValueError) as error:
            warnings.warn(f'kernel choices: ignoring {self.path} '
                          f'({error})')
            return {}

    def choose(self, key: str, candidates: Dict[str, Callable[[Tensor],
                                                              Tensor]],
               x: Tensor) -> str:
        """The name of the fastest of ``candidates`` on ``x``: the stored
        decision for ``key`` where there is one among them, else timed
        (:func:`measure`) and the decision stored."""
        with self._lock:
            known = self.entries.get(key)
            if known is not None and known.get('choice') in candidates:
                return known['choice']
            seconds = measure(candidates, x, self.timer)
            choice = min(seconds, key=seconds.get)
            self.entries[key] = dict(choice=choice, seconds=seconds)
            self._write()
            return choice

    def _write(self):
        if not self.path:
            return
        with atomic_output(self.path) as tmp, open(tmp, 'w') as f:
            json.dump(self._all, f, indent=1, sort_keys=True)


_SHARED: Dict[str, KernelChoices] = {}


def default_cache() -> str:
    """``$MMRN38_KERNEL_CHOICES`` or :data:`DEFAULT_CACHE`."""
    return os.environ.get('MMRN38_KERNEL_CHOICES') or DEFAULT_CACHE


def shared_choices(path: Optional[str] = None) -> KernelChoices:
    """One :class:`KernelChoices` per file in this process."""
    path = default_cache() if path is None else path
    if path not in _SHARED:
        _SHARED[path] = KernelChoices(path)
    return _SHARED[path]


def winograd_name(tile: int, dtype: torch.dtype) -> str:
    """E.g. ``'Winograd F(4x4) float32'``."""
    return f'Winograd F({tile}x{tile}) {str(dtype)[6:]}'


def kernel_name(module: nn.Module) -> str:
    """``'oneDNN float32'``, ``'Winograd F(2x2) bfloat16'`` ...: what
    computes ``module``'s convolution, in which dtype."""
    if isinstance(module, WinogradConv2d):
        return winograd_name(module.output_tile,
                             module.transformed_weight.dtype)
    return f'oneDNN {str(module.weight.dtype)[6:]}'


def plan_summary(plan: dict) -> str:
    """``model.inference_plan`` in one line: how many convolutions (at
    each input size) each kernel computes, e.g. ``Winograd F(4x4) float32
    x20, oneDNN float32 x9``."""
    counts: Dict[str, int] = {}
    for sizes in plan.values():
        for kernel in sizes.values():
            counts[kernel] = counts.get(kernel, 0) + 1
    return ', '.join(f'{k} x{n}' for k, n in sorted(
        counts.items(), key=lambda kv: -kv[1])) or 'no 3x3 conv run yet'


def frozen_conv_copy(cls: type,
                     conv: nn.Conv2d,
                     dtype: Optional[torch.dtype] = None,
                     padding_mode: str = 'zeros') -> nn.Conv2d:
    """A ``cls`` (an ``nn.Conv2d`` subclass) with ``conv``'s geometry and
    its parameters, detached, cast to ``dtype`` (kept where ``None``) and not
    trainable; built on the meta device, so nothing is initialised twice."""
    new = cls(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
        padding_mode,
        device='meta')
    for name, param in conv.named_parameters(recurse=False):
        value = param.detach()
        setattr(
            new, name,
            nn.Parameter(
                value if dtype is None else value.to(dtype),
                requires_grad=False))
    return new


class AutotunedConv2d(nn.Module):
    """A 3x3 stride-1 convolution that runs, for each input shape, the
    fastest of its candidate kernels on this machine, chosen by
    :class:`KernelChoices` on the first input of that shape.

    Candidates: oneDNN's convolution (``direct``: the conv as given, or its
    bfloat16 copy) and Winograd F(4x4, 3x3) (float32 only: bfloat16's
    mantissa does not survive its transforms) and F(2x2, 3x3)
    (:class:`~.winograd_conv.WinogradConv2d`). A Winograd kernel is built
    (its weights transformed) only to be timed or where it was chosen;
    those not chosen are dropped again.

    Args:
        direct (nn.Conv2d): oneDNN's convolution, as it will run (float32,
            or :class:`~.inference_optimization.BFloat16Conv2d`).
        dtype (torch.dtype): float32 or bfloat16: what the kernels compute
            in.
        choices (KernelChoices): Where decisions are looked up and stored.
        plan (dict, optional): ``plan[name][HxW] = kernel name`` is filled
            in as decisions are made (``model.inference_plan``).
        name (str): This conv's name in the model, for ``plan``.

    Input ``(N, C_in, H, W)``; output ``(N, C_out, H, W)`` as the chosen
    kernel returns it.
    """

    def __init__(self,
                 direct: nn.Conv2d,
                 dtype: torch.dtype,
                 choices: KernelChoices,
                 plan: Optional[dict] = None,
                 name: str = ''):
        super().__init__()
        self.direct = direct
        self.dtype = dtype
        self.tiles = (4, 2) if dtype == torch.float32 else (2, )
        self.choices = choices
        self.plan = {} if plan is None else plan
        self.name = name
        # kernel name -> module, for the kernels chosen so far
        self.kernels = nn.ModuleDict()
        self.chosen: Dict[Tuple[int, ...], str] = {}

    def _winograd(self, tile: int) -> WinogradConv2d:
        source = frozen_conv_copy(nn.Conv2d, self.direct, torch.float32)
        return WinogradConv2d(source, tile, self.dtype)

    def _candidate(self, name: str) -> nn.Module:
        if name in self.kernels:
            return self.kernels[name]
        if name == kernel_name(self.direct):
            return self.direct
        for tile in self.tiles:
            if name == winograd_name(tile, self.dtype):
                return self._winograd(tile)
        raise KeyError(name)

    def candidate_names(self):
        """The names (:func:`kernel_name`) of the candidates."""
        return [kernel_name(self.direct)
                ] + [winograd_name(m, self.dtype) for m in self.tiles]

    def shape_key(self, x: Tensor) -> str:
        """What a decision holds for: channels, dilation, dtype, input
        shape and device."""
        conv = self.direct
        return (f'conv3x3 {conv.in_channels}->{conv.out_channels} '
                f'dilation {conv.dilation[0]} {str(self.dtype)[6:]} '
                f'input {"x".join(map(str, x.shape))} {x.device.type}')

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(x.shape)
        name = self.chosen.get(shape)
        if name is None:
            names = self.candidate_names()
            known = self.choices.entries.get(self.shape_key(x), {})
            if known.get('choice') in names:  # built only if needed
                names = [known['choice']]
            candidates = {n: self._candidate(n) for n in names}
            name = self.choices.choose(self.shape_key(x), candidates, x)
            if name != kernel_name(self.direct):
                self.kernels[name] = candidates[name]
            self.chosen[shape] = name
            self.plan.setdefault(self.name,
                                 {})['x'.join(map(str, shape[2:]))] = name
        kernel = self.kernels[name] if name in self.kernels else \
            self.direct
        return kernel(x)


__all__ = [
    'AutotunedConv2d', 'DEFAULT_CACHE', 'KernelChoices', 'default_cache',
    'kernel_name', 'machine_key', 'measure', 'plan_summary', 'shared_choices',
    'time_kernel', 'winograd_name'
]
