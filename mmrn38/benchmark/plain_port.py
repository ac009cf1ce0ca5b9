"""The plainest PyTorch port of ResNet-38 A1: the reference network that
the fast path is measured against and that the tests compare with.

Written from the paper and ademxapp's ``rna`` network as PSA's
``resnet38d`` ports it, with PSA's module names (``conv1a``, ``b2``,
``b2_1`` ... ``b7``, ``bn7``; ``bn_branch2a``, ``conv_branch2a`` ... in a
unit), so that its state dict reads like a PSA file. Its arithmetic uses
nothing of mmrn38 (no mmcv layers, no registry): ``nn.Conv2d``,
``nn.BatchNorm2d``, ``F.relu``. Only its plan, the units, channels, strides
and dilations of each level, is read from
:class:`~mmrn38.models.ResNet38`'s ``arch_settings`` and
``stride_settings``. With the "2 conv" head (:class:`PlainResNet38Seg`) it
has the layers, parameters and arithmetic of the benchmark's ``rn38-os8``
case, so the two are timed on equal work.
"""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmrn38.models.backbones import ResNet38, scaled_channels

EPS = 1.001e-5  # the original's BN eps


def _conv(cin, cout, kernel, stride=1, dilation=1, bias=False):
    return nn.Conv2d(
        cin,
        cout,
        kernel,
        stride,
        dilation * (kernel // 2),
        dilation,
        bias=bias)


class BasicUnit(nn.Module):
    """``BN-ReLU -> conv 3x3 -> BN-ReLU -> conv 3x3`` + shortcut (a 1x1
    conv of the first BN-ReLU output where the shape changes).

    Input ``(N, cin, H, W)``; output ``(N, cout, H / stride, W / stride)``.
    """

    def __init__(self,
                 cin,
                 cmid,
                 cout,
                 stride=1,
                 first_dilation=1,
                 dilation=1,
                 eps=EPS):
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(cin, eps=eps)
        self.conv_branch2a = _conv(cin, cmid, 3, stride, first_dilation)
        self.bn_branch2b1 = nn.BatchNorm2d(cmid, eps=eps)
        self.conv_branch2b1 = _conv(cmid, cout, 3, 1, dilation)
        self.conv_branch1 = _conv(
            cin, cout, 1, stride) if (cin != cout or stride != 1) else None

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.bn_branch2a(x))
        shortcut = x if self.conv_branch1 is None else self.conv_branch1(a)
        b = self.conv_branch2a(a)
        b = self.conv_branch2b1(F.relu(self.bn_branch2b1(b)))
        return shortcut + b


class BottleneckUnit(nn.Module):
    """``BN-ReLU -> 1x1 (stride) -> BN-ReLU -> 3x3 (dilation) -> BN-ReLU ->
    1x1`` + a 1x1 projection shortcut, with dropout before the last 1x1
    (``'original'``) or channel dropout before both the 3x3 and the last
    1x1 (``'psa'``, PSA's ``ResBlock_bot``).

    Input ``(N, cin, H, W)``; output ``(N, cout, H / stride, W / stride)``.
    """

    def __init__(self,
                 cin,
                 cmid1,
                 cmid2,
                 cout,
                 stride=1,
                 dilation=1,
                 dropout=0.,
                 dropout_layout='original',
                 eps=EPS):
        super().__init__()
        psa = dropout_layout == 'psa'
        self.bn_branch2a = nn.BatchNorm2d(cin, eps=eps)
        self.conv_branch2a = _conv(cin, cmid1, 1, stride)
        self.bn_branch2b1 = nn.BatchNorm2d(cmid1, eps=eps)
        self.dropout_2b1 = nn.Dropout2d(dropout) if psa else nn.Identity()
        self.conv_branch2b1 = _conv(cmid1, cmid2, 3, 1, dilation)
        self.bn_branch2b2 = nn.BatchNorm2d(cmid2, eps=eps)
        self.dropout_2b2 = (nn.Dropout2d if psa else nn.Dropout)(dropout)
        self.conv_branch2b2 = _conv(cmid2, cout, 1)
        self.conv_branch1 = _conv(cin, cout, 1, stride)

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.bn_branch2a(x))
        shortcut = self.conv_branch1(a)
        b = self.conv_branch2a(a)
        b = self.dropout_2b1(F.relu(self.bn_branch2b1(b)))
        b = self.conv_branch2b1(b)
        b = self.dropout_2b2(F.relu(self.bn_branch2b2(b)))
        return shortcut + self.conv_branch2b2(b)


class PlainResNet38(nn.Module):
    """ResNet-38 A1 up to ``bn7`` + ReLU, with PSA's module names.

    Args:
        width (float): Multiplier of every channel count.
        out_stride (int): 8, 16 or 32 (``ResNet38.stride_settings``).
        dropouts (tuple[float, float]): Dropout in units 6a and 7a.
        dropout_layout (str): ``'original'`` or ``'psa'`` (see
            :class:`BottleneckUnit`).
        eps (float): BN eps (PSA's port keeps PyTorch's 1e-5).

    Attributes:
        out_channels (int): Channels of the output.

    Input ``(N, 3, H, W)``; output ``(N, out_channels, ceil(H / s),
    ceil(W / s))`` with ``s = out_stride``.
    """

    def __init__(self,
                 width=1.0,
                 out_stride=8,
                 dropouts=(0.3, 0.5),
                 dropout_layout='original',
                 eps=EPS):
        super().__init__()
        plan = ResNet38.arch_settings['A1']
        strides, dilations = ResNet38.stride_settings[out_stride]

        def c(channels):
            return scaled_channels(channels, width)

        self.conv1a = _conv(3, c(plan['stem_channels']), 3)
        self.blocks = []
        cin, prev = c(plan['stem_channels']), 1
        bottleneck_dropouts = iter(dropouts)
        for level, (num_units, channels, stride, dilation) in enumerate(
                zip(plan['units'], plan['channels'], strides, dilations),
                start=2):
            *mid, out = [c(n) for n in channels]
            for i in range(num_units):
                # a level's first unit strides, its first conv at the
                # dilation of the level before
                first = i == 0
                if len(mid) == 1:
                    unit = BasicUnit(cin, mid[0], out, stride if first else 1,
                                     prev if first else dilation, dilation,
                                     eps)
                else:
                    unit = BottleneckUnit(cin, *mid, out,
                                          stride if first else 1, dilation,
                                          next(bottleneck_dropouts),
                                          dropout_layout, eps)
                name = f'b{level}' if first else f'b{level}_{i}'
                self.add_module(name, unit)
                self.blocks.append(name)
                cin = out
            prev = dilation
        self.bn7 = nn.BatchNorm2d(cin, eps=eps)
        self.out_channels = cin

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1a(x)
        for name in self.blocks:
            x = getattr(self, name)(x)
        return F.relu(self.bn7(x))


class PlainResNet38Seg(PlainResNet38):
    """:class:`PlainResNet38` + 3x3 dilation-12 conv to 512 channels with
    ReLU (``conv6a``) + 3x3 dilation-12 classifier, logits upsampled
    bilinearly.

    Args:
        num_classes (int): Classes of the classifier.
        width (float): Multiplier of every channel count.
        out_stride (int): 8, 16 or 32.
        dropouts (tuple[float, float]): Dropout in units 6a and 7a.
        norm_eval (bool): Keep BN layers in eval mode (frozen statistics)
            in train mode, as the segmentation configs.

    Input ``(N, 3, H, W)``; output ``(N, num_classes, H, W)`` logits.
    """

    def __init__(self,
                 num_classes=21,
                 width=1.0,
                 out_stride=8,
                 dropouts=(0.3, 0.5),
                 norm_eval=True):
        super().__init__(width, out_stride, dropouts)
        self.norm_eval = norm_eval
        self.conv6a = _conv(
            self.out_channels,
            scaled_channels(512, width),
            3,
            dilation=12,
            bias=True)
        self.classifier = _conv(
            scaled_channels(512, width),
            num_classes,
            3,
            dilation=12,
            bias=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[2:]
        x = super().forward(x)
        x = self.classifier(F.relu(self.conv6a(x)))
        return F.interpolate(x, size, mode='bilinear', align_corners=False)

    def train(self, mode=True):
        """Train mode, BN layers in eval mode with ``norm_eval``."""
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self
