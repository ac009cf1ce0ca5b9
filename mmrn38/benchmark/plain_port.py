"""The plainest PyTorch port of ResNet-38 A1 at output stride 8 with the
"2 conv" head: the reference the fast path is measured against.

Written from the paper and ademxapp's ``rna`` network, in the style of
PSA's ``resnet38d`` port, without anything of mmrn38 (no mmcv layers, no
registry): ``nn.Conv2d``, ``nn.BatchNorm2d``, ``F.relu``. Same layers,
parameters and arithmetic as the ``rn38-os8`` case, so the two are timed on
equal work.
"""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmrn38.models.backbones import scaled_channels

EPS = 1.001e-5  # the original's BN eps


def _conv(cin, cout, kernel, stride=1, dilation=1, bias=False):
    return nn.Conv2d(cin, cout, kernel, stride, dilation * (kernel // 2),
                     dilation, bias=bias)


class BasicUnit(nn.Module):
    """``BN-ReLU -> conv 3x3 -> BN-ReLU -> conv 3x3`` + shortcut (a 1x1
    conv of the first BN-ReLU output where the shape changes)."""

    def __init__(self, cin, cmid, cout, stride=1, first_dilation=1,
                 dilation=1):
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(cin, eps=EPS)
        self.conv_branch2a = _conv(cin, cmid, 3, stride, first_dilation)
        self.bn_branch2b1 = nn.BatchNorm2d(cmid, eps=EPS)
        self.conv_branch2b1 = _conv(cmid, cout, 3, 1, dilation)
        self.conv_branch1 = _conv(cin, cout, 1, stride) if (
            cin != cout or stride != 1) else None

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.bn_branch2a(x))
        shortcut = x if self.conv_branch1 is None else self.conv_branch1(a)
        b = self.conv_branch2a(a)
        b = self.conv_branch2b1(F.relu(self.bn_branch2b1(b)))
        return shortcut + b


class BottleneckUnit(nn.Module):
    """``BN-ReLU -> 1x1 -> BN-ReLU -> 3x3 (dilation) -> BN-ReLU -> dropout
    -> 1x1`` + a 1x1 projection shortcut."""

    def __init__(self, cin, cmid1, cmid2, cout, dilation, dropout):
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(cin, eps=EPS)
        self.conv_branch2a = _conv(cin, cmid1, 1)
        self.bn_branch2b1 = nn.BatchNorm2d(cmid1, eps=EPS)
        self.conv_branch2b1 = _conv(cmid1, cmid2, 3, 1, dilation)
        self.bn_branch2b2 = nn.BatchNorm2d(cmid2, eps=EPS)
        self.dropout = nn.Dropout(dropout)
        self.conv_branch2b2 = _conv(cmid2, cout, 1)
        self.conv_branch1 = _conv(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = F.relu(self.bn_branch2a(x))
        shortcut = self.conv_branch1(a)
        b = self.conv_branch2a(a)
        b = self.conv_branch2b1(F.relu(self.bn_branch2b1(b)))
        b = self.conv_branch2b2(self.dropout(F.relu(self.bn_branch2b2(b))))
        return shortcut + b


class PlainResNet38Seg(nn.Module):
    """ResNet-38 A1, output stride 8, + 3x3 dilation-12 conv to 512 channels
    with ReLU + 3x3 dilation-12 classifier, logits upsampled bilinearly.

    Args:
        num_classes (int): Classes of the classifier.
        width (float): Multiplier of every channel count.
        dropouts (tuple[float, float]): Dropout in units 6a and 7a.
        norm_eval (bool): Keep BN layers in eval mode (frozen statistics)
            in train mode, as the segmentation configs.

    Input ``(N, 3, H, W)``; output ``(N, num_classes, H, W)`` logits.
    """

    def __init__(self, num_classes=21, width=1.0, dropouts=(0.3, 0.5),
                 norm_eval=True):
        super().__init__()
        self.norm_eval = norm_eval

        def c(channels):
            return scaled_channels(channels, width)

        self.conv1a = _conv(3, c(64), 3)
        units = []
        cin = c(64)
        # levels 2-5: (units, mid, out, stride, dilation of level)
        prev = 1
        for n, mid, out, stride, dilation in ((3, 128, 128, 2, 1),
                                              (3, 256, 256, 2, 1),
                                              (6, 512, 512, 2, 1),
                                              (3, 512, 1024, 1, 2)):
            for i in range(n):
                units.append(BasicUnit(
                    cin, c(mid), c(out), stride if i == 0 else 1,
                    prev if i == 0 else dilation, dilation))
                cin = c(out)
            prev = dilation
        units.append(BottleneckUnit(cin, c(512), c(1024), c(2048), 4,
                                    dropouts[0]))
        units.append(BottleneckUnit(c(2048), c(1024), c(2048), c(4096), 4,
                                    dropouts[1]))
        self.units = nn.Sequential(*units)
        self.bn7 = nn.BatchNorm2d(c(4096), eps=EPS)
        self.conv6a = _conv(c(4096), c(512), 3, dilation=12, bias=True)
        self.classifier = _conv(c(512), num_classes, 3, dilation=12,
                                bias=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[2:]
        x = self.units(self.conv1a(x))
        x = F.relu(self.bn7(x))
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
