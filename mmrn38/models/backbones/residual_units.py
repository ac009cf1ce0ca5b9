"""Pre-activation residual units of ResNet-38 (ademxapp's "rna" units).

Every unit is ``BN -> ReLU -> conv`` repeated; the projection shortcut of a
unit that changes shape reads the BN-ReLU output of the unit (not its raw
input), exactly as the original MXNet network does.

Module names map one to one onto the original parameter names of unit ``u``
(``u`` = ``2a``, ``4b3``, ``6a`` ...):

=============  ======================  ======================
mmrn38         original (MXNet)        PSA port (PyTorch)
=============  ======================  ======================
``norm1``      ``bn{u}_branch2a``      ``bn_branch2a``
``conv1``      ``res{u}_branch2a``     ``conv_branch2a``
``norm2``      ``bn{u}_branch2b1``     ``bn_branch2b1``
``conv2``      ``res{u}_branch2b1``    ``conv_branch2b1``
``norm3``      ``bn{u}_branch2b2``     ``bn_branch2b2``
``conv3``      ``res{u}_branch2b2``    ``conv_branch2b2``
``shortcut``   ``res{u}_branch1``      ``conv_branch1``
=============  ======================  ======================
"""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import Tensor


class PreActUnit(nn.Module):
    """Base of the two unit kinds: the shared input stage and shortcut.

    Args:
        in_channels (int): Channels of the unit's input.
        out_channels (int): Channels of the unit's output.
        stride (int): Stride of the unit (applied by the strided conv of the
            residual branch and by the projection shortcut).
        pool (dict, optional): Model A: a 3x3 max-pool before the unit,
            ``dict(stride=s, dilation=d)`` (padding ``d``), instead of a
            strided conv; ``stride`` must be 1 then. ademxapp's pools are
            3x3/2 with padding 1; at a level that trades its stride for
            dilation the pool keeps stride 1 and takes the dilation of the
            level before.
        norm_cfg (dict): Config of the norm layers.
        conv_cfg (dict, optional): Config of the conv layers.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 pool: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 conv_cfg: Optional[dict] = None):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        if pool is not None and stride != 1:
            raise ValueError('a unit down-samples either by its pool or by '
                             'its stride, not both')
        self.pool = None if pool is None else nn.MaxPool2d(
            kernel_size=3,
            stride=pool['stride'],
            padding=pool['dilation'],
            dilation=pool['dilation'])
        self.norm1 = build_norm_layer(norm_cfg, in_channels)[1]
        if in_channels != out_channels or stride != 1:
            self.shortcut = build_conv_layer(
                conv_cfg, in_channels, out_channels, 1, stride=stride,
                bias=False)
        else:
            self.shortcut = None

    def _conv(self, in_channels, out_channels, kernel_size, stride=1,
              dilation=1):
        """A bias-free conv keeping the spatial size (up to ``stride``)."""
        return build_conv_layer(
            self.conv_cfg, in_channels, out_channels, kernel_size,
            stride=stride, padding=dilation * (kernel_size // 2),
            dilation=dilation, bias=False)

    def _norm(self, channels):
        return build_norm_layer(self.norm_cfg, channels)[1]

    def residual(self, x_act: Tensor) -> Tensor:
        """The residual branch after ``norm1`` + ReLU."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H', W')."""
        if self.pool is not None:
            x = self.pool(x)
        x_act = torch.relu(self.norm1(x))
        identity = x if self.shortcut is None else self.shortcut(x_act)
        return identity + self.residual(x_act)


class PreActBasicUnit(PreActUnit):
    """Two 3x3 convs (units of levels 2 to 5).

    ``BN-ReLU -> conv1 3x3 (stride, first_dilation) -> BN-ReLU ->
    conv2 3x3 (dilation)``, plus the shortcut.

    Args:
        mid_channels (int): Output channels of ``conv1``.
        first_dilation (int): Dilation of ``conv1``. When a level trades its
            stride for dilation, its first unit's first conv keeps the
            dilation of the level before.
        dilation (int): Dilation of ``conv2``.
        (the others as in :class:`PreActUnit`)
    """

    def __init__(self, in_channels, mid_channels, out_channels, stride=1,
                 first_dilation=1, dilation=1, **kwargs):
        super().__init__(in_channels, out_channels, stride, **kwargs)
        self.conv1 = self._conv(in_channels, mid_channels, 3, stride,
                                first_dilation)
        self.norm2 = self._norm(mid_channels)
        self.conv2 = self._conv(mid_channels, out_channels, 3, 1, dilation)

    def residual(self, x_act: Tensor) -> Tensor:
        x = self.conv1(x_act)
        return self.conv2(torch.relu(self.norm2(x)))


class PreActBottleneckUnit(PreActUnit):
    """1x1 -> 3x3 -> 1x1 bottleneck (units 6a and 7a).

    ``BN-ReLU -> conv1 1x1 (stride) -> BN-ReLU -> conv2 3x3 (dilation) ->
    BN-ReLU -> dropout -> conv3 1x1``, plus the shortcut. As everywhere in
    ademxapp, the stride sits on the unit's first conv (``branch2a``), here
    the 1x1 one.

    Args:
        mid_channels (tuple[int, int]): Output channels of ``conv1`` and
            ``conv2``.
        first_dilation (int): Unused by the 1x1 ``conv1``; accepted so that
            both unit kinds share one signature.
        dilation (int): Dilation of the 3x3 ``conv2``.
        dropout (float): Dropout probability before ``conv3`` (the paper uses
            0.3 in 6a and 0.5 in 7a).
        (the others as in :class:`PreActUnit`)
    """

    def __init__(self, in_channels, mid_channels, out_channels, stride=1,
                 first_dilation=1, dilation=1, dropout=0., **kwargs):
        super().__init__(in_channels, out_channels, stride, **kwargs)
        bottleneck_channels, wide_channels = mid_channels
        self.conv1 = self._conv(in_channels, bottleneck_channels, 1, stride)
        self.norm2 = self._norm(bottleneck_channels)
        self.conv2 = self._conv(bottleneck_channels, wide_channels, 3, 1,
                                dilation)
        self.norm3 = self._norm(wide_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv3 = self._conv(wide_channels, out_channels, 1)

    def residual(self, x_act: Tensor) -> Tensor:
        x = self.conv1(x_act)
        x = self.conv2(torch.relu(self.norm2(x)))
        x = torch.relu(self.norm3(x))
        return self.conv3(self.dropout(x))
