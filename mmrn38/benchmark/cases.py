"""What the benchmark runs: the cases and how each is built.

A case is a segmentation network: a backbone and, on its last features, the
paper's "2 conv" head (3x3 dilation-12 conv to 512 channels + ReLU, 3x3
dilation-12 classifier, cross-entropy), the same head on every backbone so
that the backbones are what differs. Most cases are mmseg
``EncoderDecoder`` models built through mmseg's registry with
:class:`~mmrn38.models.WiderHead`; BN layers are plain ``BN``, frozen
(``norm_eval=True``, this project's segmentation configs) unless
``train_bn``. The ResNet-38 cases follow
``configs/_base_/models/rn38_a1_s8_wider.py`` (dropout 0.3 / 0.5 in units
6a / 7a, no OHEM); the ResNet-D8 ones mmseg's ``fcn_r50-d8.py`` backbone.
Two more: ``plain-port``, a plain PyTorch transcription of the same
ResNet-38 network (:mod:`.plain_port`), and ``rn38-os8-fast``, the
``rn38-os8`` segmentor through :func:`~mmrn38.optimize_for_inference`,
``rn38-os8-tuned``, the same with kernels chosen by timing (its
``autotune`` option), and ``rn38-os8-compiled``, the same with its
``compile`` option (inference only; the warm-up runs include the
compilation). ``rn38-os8-onnxruntime``
(and ``rn38-os8-openvino`` where OpenVINO is installed): the ``rn38-os8``
segmentor exported to ONNX (:func:`~mmrn38.deployment.export_onnx`,
``dynamic``) and run by that runtime on the CPU in float32, with PyTorch's
thread count (inference only; ``--bf16`` leaves them in float32).
``rn38-os8-int8``, where ``torchao`` is installed: the ``rn38-os8``
segmentor quantized to int8 by :func:`~mmrn38.deployment.int8.quantize_int8`
(calibrated on two random images of the benchmark's shape; the timed input
is the same kind of noise, so this measures speed, not accuracy) and
compiled by :func:`~mmrn38.deployment.int8.compile_int8` (CPU, inference
only; ``--bf16`` leaves it int8; building it includes the compilation).
"""
import copy
import dataclasses
import importlib.util
import os.path as osp
import tempfile
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from mmrn38.deployment.runtimes import runtime_available
from mmrn38.models.backbones import ResNet38, scaled_channels


@dataclasses.dataclass(frozen=True)
class BenchmarkCase:
    """A network to benchmark.

    Args:
        description (str): What the case is, for the table.
        backbone (dict, optional): The backbone's config (``BN`` layers;
            the benchmark sets ``norm_cfg`` and ``norm_eval``); None for the
            plain port.
        out_channels (int, optional): Channels of its last features at
            width 1; None for a ResNet38, whose own ``out_channels`` are
            read.
        width_keys (tuple[str]): Backbone arguments that scale with
            ``width`` (``'width'`` for ResNet38, channel counts for mmseg's
            ResNets).
        fast (bool): Run through :func:`~mmrn38.optimize_for_inference`
            (inference only: no training figures).
        compile (bool): With ``fast``, also its ``compile`` option.
        channels_last (bool): Model and inputs in ``channels_last`` memory
            format (``--channels-last`` does so for every case).
        runtime (str, optional): Run the exported ONNX file in this runtime
            of :data:`~mmrn38.deployment.RUNTIMES` (inference only).
        autotune (bool): With ``fast``, kernels chosen by timing
            (``optimize_for_inference(autotune=True)``; the warm-up runs
            include the timing where the choices are not cached yet).
        int8 (bool): Run the int8 graph of
            :mod:`mmrn38.deployment.int8` (CPU, inference only).
        winograd (bool): With ``fast``, the fast path's ``winograd``
            option (``False``: every convolution is oneDNN's).
    """
    description: str
    backbone: Optional[dict] = None
    out_channels: Optional[int] = None
    width_keys: Tuple[str, ...] = ('width', )
    fast: bool = False
    compile: bool = False
    channels_last: bool = False
    runtime: Optional[str] = None
    autotune: bool = False
    int8: bool = False
    winograd: bool = True

    @property
    def trains(self) -> bool:
        return not (self.fast or self.int8) and self.runtime is None


def _resnet38(description_extra='',
              fast=False,
              compile=False,
              channels_last=False,
              runtime=None,
              autotune=False,
              int8=False,
              winograd=True,
              **kwargs) -> BenchmarkCase:
    options = ', '.join(f'{k}={v}' for k, v in kwargs.items()
                        if k != 'out_stride')
    return BenchmarkCase(
        description=f'ResNet-38 A1, OS {kwargs["out_stride"]}' +
        (f', {options}' if options else '') + description_extra,
        backbone=dict(
            type='ResNet38',
            arch='A1',
            out_indices=(5, ),
            dropouts=(0.3, 0.5),
            **kwargs),
        fast=fast,
        compile=compile,
        channels_last=channels_last,
        runtime=runtime,
        autotune=autotune,
        int8=int8,
        winograd=winograd)


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
    'rn38-os8':
    _resnet38(out_stride=8),
    'plain-port':
    BenchmarkCase(
        description='ResNet-38 A1, OS 8, plain PyTorch transcription'),
    'rn38-os8-fast':
    _resnet38(', optimize_for_inference', fast=True, out_stride=8),
    'rn38-os8-onednn':
    _resnet38(
        ', optimize_for_inference(winograd=False)',
        fast=True,
        winograd=False,
        out_stride=8),
    'rn38-os8-tuned':
    _resnet38(
        ', optimize_for_inference(autotune=True)',
        fast=True,
        autotune=True,
        out_stride=8),
    'rn38-os8-compiled':
    _resnet38(
        ', optimize_for_inference(compile=True)',
        fast=True,
        compile=True,
        out_stride=8),
    'rn38-os8-onnxruntime':
    _resnet38(', ONNX Runtime', runtime='onnxruntime', out_stride=8),
    'rn38-os8-cl':
    _resnet38(', channels_last', channels_last=True, out_stride=8),
    'rn38-os8-lean':
    _resnet38(out_stride=8, memory_lean=True),
    'rn38-os8-cp':
    _resnet38(out_stride=8, with_cp=True),
    'rn38-os8-lean-cp':
    _resnet38(out_stride=8, memory_lean=True, with_cp=True),
    'rn38-os16':
    _resnet38(out_stride=16),
    'r101-d8':
    _resnet_d8(101),
    'r50-d8':
    _resnet_d8(50),
}
"""The cases by name; ``rn38-os8`` is the default reference."""
if runtime_available('openvino'):
    CASES['rn38-os8-openvino'] = _resnet38(
        ', OpenVINO', runtime='openvino', out_stride=8)
if importlib.util.find_spec('torchao') is not None:
    CASES['rn38-os8-int8'] = _resnet38(
        ', int8 (torchao PT2E, inductor)', int8=True, out_stride=8)

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
        amp (bool): Train with mixed precision: ``AmpOptimWrapper``
            (float16 autocast and loss scaling) on CUDA,
            :class:`~mmrn38.engine.CPUAmpOptimWrapper` (bfloat16 autocast)
            on CPU.
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


def _last_channels(case: BenchmarkCase, backbone: dict, width: float) -> int:
    """Channels of the last features of ``backbone`` (the case's, at
    ``width``): a ResNet38's own ``out_channels``, read from a build on the
    meta device (its arch settings, no memory)."""
    if case.out_channels is not None:
        return scaled_channels(case.out_channels, width)
    with torch.device('meta'):
        return ResNet38(**{
            k: v
            for k, v in backbone.items() if k != 'type'
        }).out_channels[-1]


def segmentor_config(case: BenchmarkCase, settings: BenchmarkSettings) -> dict:
    """The mmseg ``EncoderDecoder`` config of ``case``."""

    def scale(channels):
        return scaled_channels(channels, settings.width)

    norm_cfg = dict(type='BN', requires_grad=True)
    backbone = dict(
        case.backbone, norm_cfg=norm_cfg, norm_eval=not settings.train_bn)
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
            in_channels=_last_channels(case, backbone, settings.width),
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
    """Build and initialise an mmseg case through ``mmseg.registry.MODELS``
    (without the fast path)."""
    import mmseg.models  # noqa: F401  (registers EncoderDecoder, ResNetV1c)
    from mmengine.logging import MMLogger
    from mmseg.registry import MODELS

    import mmrn38  # noqa: F401  (registers ResNet38, WiderHead)

    if case.backbone is None:
        raise ValueError(f'{case.description} is not an mmseg segmentor')
    # the current logger: keeps init_weights' per-parameter report quiet
    MMLogger.get_instance('mmrn38-benchmark', log_level='WARNING')
    model = MODELS.build(segmentor_config(case, settings))
    model.init_weights()
    return model


def _int8_graph(model, settings: BenchmarkSettings):
    """The compiled int8 graph of a copy of ``model`` (an int8 case),
    calibrated on two random batches of the benchmark's shape."""
    from mmrn38.deployment.int8 import compile_int8, quantize_int8
    if settings.device != 'cpu':
        raise ValueError(f'the int8 case runs on the CPU, not on '
                         f'{settings.device!r}')
    generator = torch.Generator().manual_seed(1)
    calibration = [
        torch.rand(settings.batch, 3, *settings.size, generator=generator) *
        255 for _ in range(2)
    ]
    graph = compile_int8(quantize_int8(copy.deepcopy(model), calibration))
    with torch.no_grad():
        graph(calibration[0])  # compiles
    return graph


class CaseRunner:
    """A built case and its two calls, the same for every kind of case.

    Args:
        case (BenchmarkCase): What to build.
        settings (BenchmarkSettings): Size, width, device, layout ...

    Attributes:
        model (nn.Module): The network, on ``settings.device``.
        bf16_model (nn.Module): The network for bfloat16 autocast: for a
            fast case its own copy through ``optimize_for_inference(...,
            bf16=True)``, else ``model``.
        params (int): Parameters of the network as built (the fast path
            keeps some weights as transformed buffers).
        session (RuntimeSession, optional): The exported network in its
            runtime, for a ``runtime`` case.
        int8_graph (callable, optional): The compiled int8 graph, for an
            ``int8`` case.
    """

    def __init__(self, case: BenchmarkCase, settings: BenchmarkSettings):
        from mmrn38.benchmark.plain_port import PlainResNet38Seg
        device = torch.device(settings.device)
        self.plain = case.backbone is None
        if self.plain:
            model = PlainResNet38Seg(
                settings.num_classes,
                settings.width,
                norm_eval=not settings.train_bn)
        else:
            model = build_segmentor(case, settings)
        model = model.to(device)
        self.channels_last = settings.channels_last or case.channels_last
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        # before the fast path turns the 3x3 weights into buffers
        self.params = sum(p.numel() for p in model.parameters())
        bf16_model = None
        if case.fast:
            from mmrn38 import optimize_for_inference
            if settings.bf16:
                # the fast path picks its kernels for bfloat16 (Winograd
                # F(2x2) instead of F(4x4)) when asked for it
                bf16_model = optimize_for_inference(
                    copy.deepcopy(model),
                    bf16=True,
                    compile=case.compile,
                    winograd=case.winograd,
                    autotune=case.autotune)
            model = optimize_for_inference(
                model,
                compile=case.compile,
                winograd=case.winograd,
                autotune=case.autotune)
        self.model = model
        self.bf16_model = model if bf16_model is None else bf16_model
        self.session = None
        if case.runtime is not None:
            from mmrn38.deployment import RuntimeSession, export_onnx
            with tempfile.TemporaryDirectory() as tmp:
                path = export_onnx(
                    model,
                    osp.join(tmp, 'model.onnx'),
                    shape=settings.size,
                    batch=settings.batch,
                    dynamic=True)
                self.session = RuntimeSession(
                    path, case.runtime, threads=torch.get_num_threads())
        self.int8_graph = None
        if case.int8:
            self.int8_graph = _int8_graph(model, settings)

    def _layout(self, images):
        return images.contiguous(memory_format=torch.channels_last) if \
            self.channels_last else images

    def infer(self, images, metas, bf16=False, exported=True):
        """``(N, 3, H, W)`` images -> ``(N, num_classes, H, W)`` logits
        (``bf16``: of the model prepared for bfloat16 autocast, which the
        caller turns on; ``exported=False``: of the PyTorch model even for
        a ``runtime`` or ``int8`` case, whose FLOPs PyTorch cannot
        count)."""
        if self.session is not None and exported:
            logits = self.session(images.contiguous().cpu().numpy())
            return torch.from_numpy(logits).to(images.device)
        if self.int8_graph is not None and exported:
            with torch.autocast('cpu', enabled=False):  # int8 under --bf16
                return self.int8_graph(images.contiguous())
        model = self.bf16_model if bf16 else self.model
        images = self._layout(images)
        if self.plain:
            return model(images)
        return model.encode_decode(images, metas)

    def loss(self, images, samples):
        """The training loss (a scalar) of images and their data samples
        (``gt_sem_seg`` labels)."""
        images = self._layout(images)
        if self.plain:
            labels = torch.cat([s.gt_sem_seg.data for s in samples])
            return F.cross_entropy(
                self.model(images), labels.long(), ignore_index=255)
        losses = self.model.loss(images, samples)
        return self.model.parse_losses(losses)[0]
