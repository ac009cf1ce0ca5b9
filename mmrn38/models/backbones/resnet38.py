"""ResNet-38 of "Wider or Deeper: Revisiting the ResNet Model for Visual
Recognition" (Wu, Shen and van den Hengel, 2016), as in the original MXNet
code (ademxapp, "rna" models A and A1)."""
import contextlib
import functools
import warnings
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmrn38.registry import MMPRETRAIN_MODELS, MMSEG_MODELS, register
from .residual_units import PreActBasicUnit, PreActBottleneckUnit

NUM_LEVELS = 6  # levels 2..7; level 1 is the stem conv ``conv1a``


@contextlib.contextmanager
def _bn_stats_restored(module: nn.Module):
    """Restore the running statistics of ``module``'s training BN layers on
    exit (the checkpoint recomputation would update them a second time)."""
    buffers = [
        buf for m in module.modules()
        if isinstance(m, _BatchNorm) and m.training
        for buf in (m.running_mean, m.running_var, m.num_batches_tracked)
        if buf is not None
    ]
    saved = [buf.clone() for buf in buffers]
    try:
        yield
    finally:
        for buf, value in zip(buffers, saved):
            buf.copy_(value)


def _keep_bn_stats_contexts(module: nn.Module):
    """``context_fn`` of ``torch.utils.checkpoint``: nothing around the
    forward, :func:`_bn_stats_restored` around the recomputation."""
    return contextlib.nullcontext(), _bn_stats_restored(module)


# Units per level (2..7), channels of their convs and of the stem. Model A
# and A1 share them and differ only in how levels 2-6 down-sample: A1 by a
# stride-2 first conv of the level's first unit, A by a 3x3/2 max-pool.
RESNET38_LAYOUT = dict(
    stem_channels=64,
    units=(3, 3, 6, 3, 1, 1),
    channels=((128, 128), (256, 256), (512, 512), (512, 1024),
              (512, 1024, 2048), (1024, 2048, 4096)))


def scaled_channels(channels: int, width: float) -> int:
    """The channel count of a layer with ``channels`` at full width, in a
    network of ``width`` (e.g. 1/16): rounded, at least 1."""
    return max(1, int(round(channels * width)))


@register(MMSEG_MODELS, MMPRETRAIN_MODELS)
class ResNet38(BaseModule):
    """ResNet-38 backbone (Model A or A1 of the paper).

    Layout at ``width=1`` (channels; ``a`` is the first unit of a level):

    ====== ====================== ======= ===============================
    level  units                  unit    channels (mid -> out)
    ====== ====================== ======= ===============================
    1      ``conv1a`` 3x3         conv    64
    2      2a, 2b1, 2b2           basic   128 -> 128
    3      3a, 3b1, 3b2           basic   256 -> 256
    4      4a, 4b1 ... 4b5        basic   512 -> 512
    5      5a, 5b1, 5b2           basic   512 -> 1024
    6      6a                     bottle  512, 1024 -> 2048
    7      7a, then ``bn7`` + ReLU bottle 1024, 2048 -> 4096
    ====== ====================== ======= ===============================

    Model A1 down-samples with a stride-2 first conv in units 2a, 3a, 4a,
    5a (3x3) and 6a (the 1x1 ``res6a_branch2a``, as ademxapp); Model A
    instead puts a 3x3/2 max-pool (padding 1) before them. Output stride 32
    keeps all five; 16 replaces the stride of level 6 with dilation 2
    (levels 6-7); 8 also that of level 5 (dilation 2 in level 5, 4 in levels
    6-7). In Model A1 the first conv of the first unit of a dilated level
    keeps the dilation of the level before; in Model A the pool keeps it
    (stride 1, padding and dilation of the level before) and the unit's
    convs all take the new one, as ademxapp does.

    Args:
        arch (str | dict): ``'A1'`` or ``'A'``, or a dict with ``units``
            (units per level, 6 ints), ``channels`` (per level a tuple
            ``(mid, out)`` for basic units or ``(mid1, mid2, out)`` for
            bottleneck units), ``stem_channels`` and ``downsample``
            (``'conv'`` or ``'pool'``).
        out_stride (int): 8, 16 or 32.
        width (float): Multiplier of every channel count (``1/16`` gives the
            ``_div16`` reference networks).
        in_channels (int): Channels of the input image.
        out_indices (Sequence[int]): Outputs to return, 0 = level 2 ...
            5 = level 7 after ``bn7`` + ReLU.
        dropouts (Sequence[float]): Dropout probability before the last 1x1
            conv of each bottleneck unit (6a, 7a); the paper uses 0.3, 0.5.
        dropout_layout (str): ``'original'`` (default): element-wise dropout
            before the last 1x1 conv of 6a / 7a, as the paper; ``'psa'``:
            channel dropout (``Dropout2d``) before both the 3x3 and the last
            1x1 conv of 6a / 7a, as PSA's ``resnet38d`` (WSSS). Not with
            ``memory_lean``.
        pool_padding (int): Padding of Model A's 3x3/2 max-pools: 1 (MXNet
            1.x, default) or 0 with floor rounding, as ademxapp's
            ``--pool-top-infer-style caffe`` builds them to evaluate the
            released Model A. Pools made stride 1 by dilation keep a padding
            of their dilation either way, as in ademxapp.
        norm_cfg (dict): Norm layers; the original's BN eps is 1.001e-5.
        conv_cfg (dict, optional): Conv layers.
        norm_eval (bool): Keep BN layers in eval mode (frozen statistics)
            while training, as the paper does when fine-tuning segmentation.
        frozen_stages (int): -1 freezes nothing, 0 the stem ``conv1a``,
            ``k`` the stem and levels 2 .. k+1 (6 includes ``bn7``).
        with_cp (bool): Checkpoint each unit's activations (recompute the
            whole unit in backward) to save memory. The recomputation leaves
            BN running statistics as the forward left them.
        memory_lean (bool): Store no BN-ReLU output for backward: each
            ``BN -> ReLU -> conv`` stage keeps only its input and recomputes
            the BN-ReLU output in backward (see
            :class:`~mmrn38.models.backbones.residual_units.BNReLUConvs`).
            Outputs, gradients and BN running statistics equal the plain
            mode's; about half the activation memory for a few elementwise
            passes. Combines with ``with_cp``. Needs BN layers (in train
            mode plain ``BN``; ``SyncBN`` with ``norm_eval=True``) and plain
            convs.
        pretrained (str, optional): Deprecated path of a checkpoint;
            mmseg's ``EncoderDecoder`` passes it in. Use ``init_cfg``.
        init_cfg (dict | list[dict], optional): Initialisation config.

    Shapes:
        input ``(N, in_channels, H, W)``; output ``i`` is
        ``(N, out_channels[i], ceil(H / s_i), ceil(W / s_i))`` with ``s_i``
        the stride of its level (2, 4, 8, then capped at ``out_stride``).
    """

    arch_settings = {
        'A1': dict(RESNET38_LAYOUT, downsample='conv'),
        'A': dict(RESNET38_LAYOUT, downsample='pool'),
    }
    # per output stride: (strides, dilations) of levels 2..7
    stride_settings = {
        32: ((2, 2, 2, 2, 2, 1), (1, 1, 1, 1, 1, 1)),
        16: ((2, 2, 2, 2, 1, 1), (1, 1, 1, 1, 2, 2)),
        8: ((2, 2, 2, 1, 1, 1), (1, 1, 1, 2, 4, 4)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'A1',
                 out_stride: int = 8,
                 width: float = 1.0,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (5, ),
                 dropouts: Sequence[float] = (0.3, 0.5),
                 dropout_layout: str = 'original',
                 pool_padding: int = 1,
                 norm_cfg: dict = dict(
                     type='BN', eps=1.001e-5, requires_grad=True),
                 conv_cfg: Optional[dict] = None,
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 memory_lean: bool = False,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[Union[dict, list]] = None):
        settings = self._arch_settings(arch)
        if out_stride not in self.stride_settings:
            raise ValueError(f'out_stride must be one of '
                             f'{sorted(self.stride_settings)}, '
                             f'got {out_stride!r}')
        if not isinstance(width, (int, float)) or width <= 0:
            raise ValueError(f'width must be a positive number, got {width!r}')
        out_indices = tuple(out_indices)
        if not out_indices or any(
                not isinstance(i, int) or not 0 <= i < NUM_LEVELS
                for i in out_indices):
            raise ValueError(f'out_indices must be a non-empty sequence of '
                             f'ints in [0, {NUM_LEVELS - 1}], got '
                             f'{out_indices!r}')
        if not isinstance(frozen_stages, int) or \
                not -1 <= frozen_stages <= NUM_LEVELS:
            raise ValueError(f'frozen_stages must be an int in '
                             f'[-1, {NUM_LEVELS}], got {frozen_stages!r}')
        if pool_padding not in (0, 1):
            raise ValueError(f'pool_padding must be 0 or 1, got '
                             f'{pool_padding!r}')
        if pool_padding != 1 and settings['downsample'] != 'pool':
            raise ValueError('pool_padding applies to an arch that '
                             'down-samples by pools (Model A)')
        if dropout_layout not in ('original', 'psa'):
            raise ValueError(f'dropout_layout must be "original" or "psa", '
                             f'got {dropout_layout!r}')
        init_cfg = self._resolve_init_cfg(pretrained, init_cfg)
        super().__init__(init_cfg=init_cfg)

        self.arch = arch
        self.out_stride = out_stride
        self.width = width
        self.out_indices = out_indices
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp
        self.memory_lean = memory_lean

        def scale(c):
            return scaled_channels(c, width)

        stem_channels = scale(settings['stem_channels'])
        self.conv1a = build_conv_layer(
            conv_cfg, in_channels, stem_channels, 3, padding=1, bias=False)

        strides, dilations = self.stride_settings[out_stride]
        bottleneck_dropouts = iter(dropouts)
        self.level_names = []
        level_channels = []
        channels, prev_dilation = stem_channels, 1
        for level, (num_units, plan, stride, dilation) in enumerate(
                zip(settings['units'], settings['channels'], strides,
                    dilations),
                start=2):
            *mid, out = [scale(c) for c in plan]
            if len(mid) == 1:
                unit_type, extra = PreActBasicUnit, dict()
                mid = mid[0]
            else:
                unit_type = PreActBottleneckUnit
                extra = dict(
                    dropout=next(bottleneck_dropouts, 0.),
                    dropout_layout=dropout_layout)
            # the first unit of a level down-samples (stride 2) or, past the
            # output stride, trades that for a larger dilation
            downsamples = stride == 2 or dilation != prev_dilation
            if settings['downsample'] == 'pool' and downsamples:
                # Model A: ademxapp's pool before the unit (stride 1 and the
                # old dilation where dilated), all its convs at the new
                # dilation
                first = dict(
                    stride=1,
                    first_dilation=dilation,
                    pool=dict(
                        stride=stride,
                        dilation=prev_dilation,
                        padding=pool_padding
                        if stride == 2 else prev_dilation))
            else:
                # Model A1: the unit's first conv strides and keeps the old
                # dilation
                first = dict(stride=stride, first_dilation=prev_dilation)
            units = []
            for i in range(num_units):
                position = first if i == 0 else dict(first_dilation=dilation)
                units.append(
                    unit_type(
                        channels if i == 0 else out,
                        mid,
                        out,
                        dilation=dilation,
                        norm_cfg=norm_cfg,
                        conv_cfg=conv_cfg,
                        memory_lean=memory_lean,
                        **position,
                        **extra))
            name = f'level{level}'
            self.add_module(name, nn.Sequential(*units))
            self.level_names.append(name)
            level_channels.append(out)
            channels, prev_dilation = out, dilation
        # bn7: the final pre-activation norm of the network
        self.final_norm = build_norm_layer(norm_cfg, channels)[1]
        self.out_channels = tuple(level_channels[i] for i in out_indices)
        self._freeze_stages()

    @classmethod
    def _arch_settings(cls, arch):
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise ValueError(f'unknown ResNet38 arch {arch!r}; expected '
                                 f'one of {sorted(cls.arch_settings)} or a '
                                 f'dict')
            return cls.arch_settings[arch]
        if not isinstance(arch, dict):
            raise ValueError(f'arch must be a str or a dict, got {arch!r}')
        required = {'units', 'channels', 'stem_channels', 'downsample'}
        if set(arch) != required:
            raise ValueError(f'a custom arch needs exactly the keys '
                             f'{sorted(required)}, got {sorted(arch)}')
        if len(arch['units']) != NUM_LEVELS or \
                len(arch['channels']) != NUM_LEVELS:
            raise ValueError(f'a custom arch gives units and channels for '
                             f'{NUM_LEVELS} levels (2..7)')
        if any(len(c) not in (2, 3) for c in arch['channels']):
            raise ValueError('each level\'s channels are (mid, out) or '
                             '(mid1, mid2, out)')
        if arch['downsample'] not in ('conv', 'pool'):
            raise ValueError(f'downsample must be "conv" or "pool", got '
                             f'{arch["downsample"]!r}')
        return arch

    @staticmethod
    def _resolve_init_cfg(pretrained, init_cfg):
        if pretrained is not None and init_cfg is not None:
            raise ValueError('init_cfg and pretrained cannot be both set')
        if isinstance(pretrained, str):
            warnings.warn('ResNet38: pretrained is deprecated, use '
                          'init_cfg=dict(type="Pretrained", checkpoint=...)')
            return dict(type='Pretrained', checkpoint=pretrained)
        if pretrained is not None:
            raise TypeError(f'pretrained must be a str or None, got '
                            f'{type(pretrained).__name__}')
        if init_cfg is None:
            # the original's: MXNet's Xavier (gaussian, fan-in, magnitude 2)
            # = N(0, 2 / fan_in); BN gamma 1, beta 0
            return [
                dict(
                    type='Kaiming',
                    layer='Conv2d',
                    mode='fan_in',
                    nonlinearity='relu',
                    distribution='normal'),
                dict(
                    type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
            ]
        return init_cfg

    def levels(self):
        """The six level modules (levels 2..7), in order."""
        return [getattr(self, name) for name in self.level_names]

    def _run_unit(self, unit: nn.Module, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(
                unit,
                x,
                use_reentrant=False,
                context_fn=functools.partial(_keep_bn_stats_contexts, unit))
        return unit(x)

    def forward(self, x: Tensor) -> tuple:
        """(N, C, H, W) -> tuple of the selected level outputs."""
        x = self.conv1a(x)
        outs = []
        for i, level in enumerate(self.levels()):
            for unit in level:
                x = self._run_unit(unit, x)
            if i == NUM_LEVELS - 1:
                x = torch.relu(self.final_norm(x))
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _frozen_modules(self):
        if self.frozen_stages < 0:
            return []
        modules = [self.conv1a] + self.levels()[:self.frozen_stages]
        if self.frozen_stages == NUM_LEVELS:
            modules.append(self.final_norm)
        return modules

    def _freeze_stages(self):
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        """Set train mode, keeping frozen stages and (with ``norm_eval``)
        every BN layer in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
