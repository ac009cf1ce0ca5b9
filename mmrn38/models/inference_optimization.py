"""The inference fast path: :func:`optimize_for_inference`.

What it does to a model holding ResNet-38 backbones, each step measured
faster on CPU and exact to float32 rounding
(docs/en/user_guides/speed_and_memory.md):

1. eval mode;
2. every BN that directly follows a conv inside a pre-activation unit is
   folded into that conv (``conv1 -> norm2`` and, in the bottleneck units
   6a / 7a, ``conv2 -> norm3``) with torch's ``fuse_conv_bn_eval``; the BN
   becomes ``nn.Identity``. The other BNs (each unit's ``norm1``, ``bn7``)
   read a residual sum that the shortcut also reads and feed a ReLU: there
   is no conv to fold them into;
3. on CPU, the backbone's 3x3 convolutions with 256 or more channels
   (dilation up to 4) computed with Winograd's minimal filtering,
   F(4x4, 3x3) in float32 and F(2x2, 3x3) in bfloat16
   (:mod:`.winograd_conv`: 4x / 2.25x fewer multiplications; oneDNN has
   no Winograd kernels);
4. parameters in ``channels_last`` memory format (oneDNN's native layout:
   every conv then runs without layout conversions);
5. optionally bfloat16 autocast around the model's forward, only where
   :func:`~mmrn38.utils.device_features.bf16_support` says the hardware
   has native bfloat16; the other convolutions then keep their weights in
   bfloat16 (:class:`BFloat16Conv2d`): the same numbers autocast would
   compute, without casting every weight on every call (6 % of the time of
   a 256x256 forward);
6. on CPU with ``autotune``, every 3x3 stride-1 conv's kernel (oneDNN or
   Winograd) chosen by timing, per input shape
   (:mod:`.conv_autotune`); without it, in bfloat16 on AMX, no Winograd;
7. on CPU with ``channels_last``, oneDNN's convolutions on weights packed
   once into its blocked layout (:class:`PrepackedConv2d`);
8. optionally each ResNet38 compiled (``module.compile``: inductor, with
   ``freezing``: weights as constants, BN-ReLU-add and Winograd's tile
   copies fused into few kernels). It pays on a fixed input size: it
   compiles once per input size (about 40 s for 256x256 on 2 cores with an
   empty cache) and recompiles for a new one.

``mmcv.cnn.fuse_conv_bn`` is not used: it pairs a BN with the last conv
*registered* before it in the same parent, across other children. In
``ResNet38`` that pairs the stem conv ``conv1a`` with ``bn7`` (the six levels
lie between them), and inside a unit it relies on ``shortcut`` being
registered before ``conv1``.
"""
import logging
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.flop_counter import conv_flop_count, register_flop_formula

from ..utils.device_features import bf16_support, cpu_flags
from .backbones import PreActBottleneckUnit, ResNet38
from .backbones.residual_units import PreActUnit
from .conv_autotune import (AutotunedConv2d, frozen_conv_copy, kernel_name,
                            shared_choices)
from .winograd_conv import WinogradConv2d, is_winograd_compatible, pays_off


def fold_unit_norms(unit: PreActUnit) -> int:
    """Fold the BNs that directly follow a conv in ``unit`` (eval mode)
    into that conv.

    Returns:
        The number of BNs folded (0 where they were already folded or keep
        no running statistics).
    """
    pairs = [('conv1', 'norm2')]
    if isinstance(unit, PreActBottleneckUnit):
        pairs.append(('conv2', 'norm3'))
    folded = 0
    for conv_name, norm_name in pairs:
        conv, norm = getattr(unit, conv_name), getattr(unit, norm_name)
        if not isinstance(norm, _BatchNorm) or norm.running_mean is None:
            continue
        setattr(unit, conv_name, fuse_conv_bn_eval(conv, norm))
        setattr(unit, norm_name, nn.Identity())
        folded += 1
    # memory_lean's recomputation needs the BN layers; inference keeps
    # nothing for backward anyway
    unit.memory_lean = False
    return folded


def _replace_modules(module: nn.Module, selected, replacement) -> int:
    """Replace each submodule ``child`` of ``module`` for which
    ``selected(child)`` holds by ``replacement(child)``; returns how many
    were replaced."""
    replaced = 0
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if selected(child):
                setattr(parent, name, replacement(child))
                replaced += 1
    return replaced


def use_winograd_convs(module: nn.Module, bf16: bool = False) -> int:
    """Replace the convolutions in ``module`` for which Winograd pays off
    on this CPU (:func:`~mmrn38.models.winograd_conv.pays_off`) by
    :class:`~mmrn38.models.winograd_conv.WinogradConv2d`: F(4x4, 3x3) in
    float32, or F(2x2, 3x3) in bfloat16 with ``bf16``.

    Returns:
        The number of convolutions replaced.
    """
    flags = cpu_flags()
    return _replace_modules(
        module, lambda conv: pays_off(conv, bf16, flags),
        lambda conv: WinogradConv2d(conv, 2, torch.bfloat16)
        if bf16 else WinogradConv2d(conv, 4, torch.float32))


class BFloat16Conv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose parameters are stored in bfloat16, for
    bfloat16 inference: it computes what the float32 conv computes under
    bfloat16 autocast (which rounds the weights the same way, on every
    call), bit for bit.

    Input ``(N, C_in, H, W)`` of any floating dtype (cast to bfloat16);
    output ``(N, C_out, H', W')`` in bfloat16 under autocast and in the
    input's dtype otherwise, as :class:`.WinogradConv2d`.
    """

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> 'BFloat16Conv2d':
        """The bfloat16 copy of ``conv`` (no longer trainable)."""
        return frozen_conv_copy(cls, conv, torch.bfloat16, conv.padding_mode)

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x.to(torch.bfloat16))
        return out if torch.is_autocast_enabled(x.device.type) else \
            out.to(x.dtype)


class PrepackedConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (float32 or bfloat16 weights) whose weights are
    reordered into oneDNN's blocked layout for the input shape at hand
    (``torch.ops.mkldnn._reorder_convolution_weight``, as inductor's
    ``freezing`` does for its one input shape) and run by
    ``torch.ops.mkldnn._convolution_pointwise``: the plain conv reorders its
    weights on every call (measured 5 to 30 % of a ResNet-38 conv's time on
    AVX-512). The layout oneDNN picks depends on the input's shape, so the
    weights are packed again when the shape changes (weights packed for
    another shape ran up to 40x slower than the plain conv: 1024->2048 1x1
    at 8x8 packed for 32x32, Intel AVX-512, issue 26); the packing for the
    latest shape is kept. Same numbers bit for bit. The plain weights stay
    (the module's parameters, for ``state_dict`` and
    :class:`~.conv_autotune.AutotunedConv2d`); the packed copy is an
    attribute. CPU only, inference only.

    Input ``(N, C_in, H, W)`` of any floating dtype (cast to the weights'
    dtype, ``channels_last``); output ``(N, C_out, H', W')``
    ``channels_last``, in the weights' dtype under autocast and in the
    input's dtype otherwise, as :class:`BFloat16Conv2d` (float32 weights
    under autocast: ``nn.Conv2d``'s forward, autocast's casts).
    """

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> 'PrepackedConv2d':
        """The prepacked copy of ``conv`` (an ``nn.Conv2d`` or
        :class:`BFloat16Conv2d` on the CPU), packed for a nominal
        ``(1, C_in, 32, 32)`` input (which raises ``RuntimeError`` where
        oneDNN cannot pack these weights)."""
        new = frozen_conv_copy(cls, conv)
        new.pack((1, conv.in_channels, 32, 32))
        return new

    def pack(self, input_shape: Tuple[int, ...]):
        """Reorder the weights into oneDNN's layout for inputs of
        ``input_shape`` (``packed``, ``packed_shape``)."""
        self.packed = torch.ops.mkldnn._reorder_convolution_weight(
            self.weight.contiguous(memory_format=torch.channels_last),
            list(self.padding), list(self.stride), list(self.dilation),
            self.groups, list(input_shape))
        self.packed_shape = tuple(input_shape)

    def forward(self, x: Tensor) -> Tensor:
        autocast = torch.is_autocast_enabled(x.device.type)
        if autocast and self.weight.dtype == torch.float32:
            return super().forward(x)  # autocast's own casts, as nn.Conv2d
        if tuple(x.shape) != self.packed_shape:
            self.pack(tuple(x.shape))
        out = torch.ops.mkldnn._convolution_pointwise(
            x.to(self.weight.dtype).contiguous(
                memory_format=torch.channels_last), self.packed, self.bias,
            list(self.padding), list(self.stride), list(self.dilation),
            self.groups, 'none', [None], '')
        return out if autocast else out.to(x.dtype)


@register_flop_formula(torch.ops.mkldnn._convolution_pointwise)
def _prepacked_conv_flops(x_shape,
                          w_shape,
                          *args,
                          out_shape=None,
                          **kwargs) -> int:
    """:class:`PrepackedConv2d`'s FLOPs for ``torch.utils.flop_counter``
    (a convolution's)."""
    return conv_flop_count(x_shape, w_shape, out_shape, transposed=False)


def prepack_convs(module: nn.Module) -> int:
    """Replace every plain ``nn.Conv2d`` and :class:`BFloat16Conv2d` (zero
    padding given as numbers) in ``module`` by its
    :class:`PrepackedConv2d`, where oneDNN can pack its weights (not
    bfloat16 ones where its kernels are capped below AVX-512, e.g.
    ``ONEDNN_MAX_CPU_ISA=AVX2``); returns how many were replaced."""

    def packed(conv):
        try:
            return PrepackedConv2d.from_conv(conv)
        except RuntimeError:  # "bf16 path needs the cpu support ..."
            return conv

    before = sum(type(m) is PrepackedConv2d for m in module.modules())
    _replace_modules(
        module, lambda child: type(child) in (nn.Conv2d, BFloat16Conv2d) and
        child.padding_mode == 'zeros' and not isinstance(child.padding, str),
        packed)
    return sum(type(m) is PrepackedConv2d for m in module.modules()) - before


def use_bfloat16_convs(module: nn.Module) -> int:
    """Replace every plain ``nn.Conv2d`` in ``module`` by its
    :class:`BFloat16Conv2d`.

    Returns:
        The number of convolutions replaced.
    """
    return _replace_modules(module, lambda child: type(child) is nn.Conv2d,
                            BFloat16Conv2d.from_conv)


def use_autotuned_convs(module: nn.Module,
                        bf16: bool = False,
                        cache: Optional[str] = None,
                        plan: Optional[dict] = None) -> int:
    """Replace every 3x3 stride-1 convolution in ``module`` that Winograd
    can compute by an :class:`~.conv_autotune.AutotunedConv2d` that picks
    oneDNN or Winograd by timing them on each new input shape.

    Args:
        module (nn.Module): Changed in place.
        bf16 (bool): The kernels compute in bfloat16 (oneDNN's kernel with
            bfloat16 weights, Winograd F(2x2)), else in float32 (oneDNN,
            F(4x4), F(2x2)).
        cache (str, optional): The decisions' JSON file (default
            ``~/.cache/mmrn38/kernel_choices.json``, ``''``: none).
        plan (dict, optional): Filled in with ``{conv name: {HxW: kernel
            name}}`` as decisions are made.

    Returns:
        The number of convolutions replaced.
    """
    choices = shared_choices(cache)
    replaced = 0
    for parent_name, parent in list(module.named_modules()):
        for name, child in list(parent.named_children()):
            if not is_winograd_compatible(child):
                continue
            direct = BFloat16Conv2d.from_conv(child) if bf16 else child
            full_name = f'{parent_name}.{name}' if parent_name else name
            setattr(
                parent, name,
                AutotunedConv2d(direct,
                                torch.bfloat16 if bf16 else torch.float32,
                                choices, plan, full_name))
            replaced += 1
    return replaced


def _rule_plan(module: nn.Module, plan: dict):
    """``plan[name] = {'any size': kernel}`` for the 3x3 stride-1 convs
    that the rule-based choice left as they are or replaced."""
    for name, child in module.named_modules():
        if isinstance(child,
                      WinogradConv2d) or (isinstance(child, nn.Conv2d)
                                          and child.kernel_size == (3, 3)
                                          and child.stride == (1, 1)):
            plan[name] = {'any size': kernel_name(child)}


def _autocast_hooks(module: nn.Module, device_type: str):
    """Run ``module``'s forward under bfloat16 autocast (hooks, so that the
    model keeps its type, its ``test_step`` and its config)."""
    active: List[torch.autocast] = []

    def enter(_module, _args):
        context = torch.autocast(device_type, dtype=torch.bfloat16)
        context.__enter__()
        active.append(context)

    def leave(_module, _args, _output):
        active.pop().__exit__(None, None, None)

    module.register_forward_pre_hook(enter)
    module.register_forward_hook(leave, always_call=True)


def optimize_for_inference(model: nn.Module,
                           bf16: bool = False,
                           channels_last: bool = True,
                           device: Optional[Union[str, torch.device]] = None,
                           compile: bool = False,
                           winograd: bool = True,
                           autotune: bool = False,
                           kernel_cache: Optional[str] = None,
                           prepack: bool = True):
    """Make a model holding ResNet-38 backbones ready for fast inference.

    Folds BN into the convs it follows, computes the wide 3x3 convs with
    Winograd's algorithm on CPU, converts parameters to ``channels_last``
    and puts the model in eval mode (see the module docstring). Float32
    outputs equal the plain model's to float32 rounding. The model is
    changed in place and can no longer be trained.

    Args:
        model (nn.Module): An mmseg segmentor, an mmpretrain classifier, a
            TTA model around either, a model wrapper (DDP) or a bare
            :class:`~mmrn38.models.ResNet38`, already on its device and with
            its weights loaded.
        bf16 (bool): ``True``: run the forward under bfloat16 autocast
            where the hardware has native bfloat16 (AVX512-BF16 or AMX on
            CPU, a bf16-capable GPU), else stay in float32 and log one line
            saying why; ``False``: float32. Under autocast outputs are
            bfloat16 and predicted classes may differ from float32 on a few
            pixels; the convolutions' weights are then kept in bfloat16.
            (In the Runner, ``test_cfg=dict(type='TestLoop', fp16=True)``
            already runs ``test_step`` under mmengine's ``autocast``:
            bfloat16 on CPU, float16 on CUDA, whatever the hardware. This
            switch is for calls outside the Runner too, such as mmseg's
            ``inference_model``, and only where bfloat16 is native.)
        channels_last (bool): Convert the parameters to ``channels_last``.
        device (str | torch.device, optional): Where the model runs, for the
            bfloat16 check (default: the device of its parameters).
        compile (bool): Compile each ResNet38 with ``module.compile``
            (``torch.compile``'s inductor with ``freezing``); only for
            inference under ``torch.no_grad``, best on one input size.

        winograd (bool): On CPU, compute the backbone's 3x3 convolutions
            with 256 or more channels and dilation up to 4 with Winograd's
            algorithm (:class:`~mmrn38.models.winograd_conv.WinogradConv2d`:
            F(4x4, 3x3) in float32, F(2x2, 3x3) with ``bf16``), compiled
            too with ``compile``; in bfloat16 on CPUs with AMX, none (the
            rule of :func:`~mmrn38.models.winograd_conv.pays_off`).
        autotune (bool): With ``winograd`` on CPU, choose instead for each
            3x3 stride-1 convolution of the model (backbone and head) and
            each input shape between oneDNN's kernel and the Winograd
            variants by timing them once on this machine, on the first
            input of that shape
            (:class:`~mmrn38.models.conv_autotune.AutotunedConv2d`; a few
            seconds on a first 512x512 forward); decisions are kept in
            ``kernel_cache`` so that later processes time nothing. Not
            with ``compile``.
        kernel_cache (str, optional): The decisions' JSON file (default
            ``~/.cache/mmrn38/kernel_choices.json``; ``''``: in memory
            only).
        prepack (bool): On CPU with ``channels_last``, run oneDNN's
            convolutions on weights reordered once into its blocked layout
            (:class:`PrepackedConv2d`; the plain weights are kept too).

    Returns:
        ``model``, in eval mode. Its attribute ``inference_bf16`` tells
        whether bfloat16 autocast is on, ``inference_plan`` which kernel
        computes each 3x3 stride-1 conv: ``{name: {'HxW' or 'any size':
        kernel name}}`` (with ``autotune``, filled in by each new input
        size).

    Raises:
        ValueError: the model holds no ResNet38, ``bf16`` is not a bool,
            or ``autotune`` with ``compile``.
    """
    if not isinstance(bf16, bool):
        raise ValueError(f'bf16 must be True or False, got {bf16!r}')
    if autotune and compile:
        raise ValueError('optimize_for_inference: autotune times kernels '
                         'in eager mode; it cannot be combined with '
                         'compile')
    inner = model.module if is_model_wrapper(model) else model
    if not any(isinstance(m, ResNet38) for m in inner.modules()):
        raise ValueError(f'optimize_for_inference: {type(inner).__name__} '
                         f'holds no ResNet38 backbone')
    inner.eval()
    if device is None:
        device = next(inner.parameters()).device
    device = torch.device(device)
    use_bf16 = False
    if bf16:
        use_bf16, reason = bf16_support(device)
        if not use_bf16:
            print_log(
                f'bfloat16 off, float32 kept: {reason}',
                logger='current',
                level=logging.WARNING)
    backbones = [m for m in inner.modules() if isinstance(m, ResNet38)]
    for unit in inner.modules():
        if isinstance(unit, PreActUnit):
            fold_unit_norms(unit)
    plan: dict = {}
    tuned = winograd and autotune and device.type == 'cpu'
    if tuned:
        use_autotuned_convs(inner, use_bf16, kernel_cache, plan)
    elif winograd and device.type == 'cpu':
        for backbone in backbones:
            use_winograd_convs(backbone, bf16=use_bf16)
    if use_bf16:
        use_bfloat16_convs(inner)
    if channels_last:
        inner.to(memory_format=torch.channels_last)
        if prepack and device.type == 'cpu' and not compile:
            prepack_convs(inner)
    if compile:
        for backbone in backbones:
            backbone.compile(options=dict(freezing=True))
    if use_bf16:
        # a TTA model calls its segmentor's test_step, not its forward
        target = inner.module if isinstance(inner, BaseTTAModel) else inner
        _autocast_hooks(target, device.type)
    if not tuned:
        _rule_plan(inner, plan)
    inner.inference_bf16 = use_bf16
    inner.inference_plan = plan
    return model
