"""The segmentation classifiers of "Wider or Deeper" ("1 conv" / "2 conv")."""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from ..registry import register_seg_head


@register_seg_head
class WiderHead(BaseDecodeHead):
    """Dilated-conv classifier of the paper's segmentation networks.

    ``num_convs=2`` ("2 conv", the released models): a 3x3 conv with bias to
    ``channels`` (512; ``conv6a`` in the original) and ReLU, then the 3x3
    classifier with bias (``linear{K}``). ``num_convs=1`` ("1 conv"): the
    classifier alone, reading the backbone features. Both convs use
    ``dilation`` (12) with padding that keeps the size. Dropout
    (``dropout_ratio``) comes before the classifier.

    Args:
        num_convs (int): 1 or 2.
        kernel_size (int): Kernel size of both convs (odd).
        dilation (int): Dilation of both convs.
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels``,
            ``channels``, ``num_classes``, ``dropout_ratio``, ``loss_decode``,
            ``sampler`` ...). With ``num_convs=1`` ``channels`` must equal
            ``in_channels``, as in mmseg's ``FCNHead`` with no convs.

    Shapes:
        input: the backbone's tuple; ``in_index`` picks ``(N, in_channels,
        h, w)``. Output: ``(N, num_classes, h, w)`` scores.
    """

    def __init__(self, num_convs: int = 2, kernel_size: int = 3,
                 dilation: int = 12, **kwargs):
        if num_convs not in (1, 2):
            raise ValueError(f'num_convs must be 1 or 2, got {num_convs!r}')
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size!r}')
        if dilation < 1:
            raise ValueError(f'dilation must be >= 1, got {dilation!r}')
        super().__init__(**kwargs)
        if num_convs == 1 and self.in_channels != self.channels:
            raise ValueError(
                f'WiderHead with num_convs=1 classifies the backbone features '
                f'directly: channels ({self.channels}) must equal in_channels '
                f'({self.in_channels})')
        self.num_convs = num_convs
        self.kernel_size = kernel_size
        self.dilation = dilation
        padding = dilation * (kernel_size // 2)
        if num_convs == 2:
            self.conv = ConvModule(
                self.in_channels, self.channels, kernel_size,
                padding=padding, dilation=dilation, bias=True,
                conv_cfg=self.conv_cfg, norm_cfg=None, act_cfg=self.act_cfg)
        else:
            self.conv = None
        self.conv_seg = nn.Conv2d(
            self.channels, self.out_channels, kernel_size, padding=padding,
            dilation=dilation)

    def forward(self, inputs) -> Tensor:
        """Tuple of backbone outputs -> ``(N, num_classes, h, w)``."""
        x = self._transform_inputs(inputs)
        if self.conv is not None:
            x = self.conv(x)
        return self.cls_seg(x)
