"""The segmentation classifiers of "Wider or Deeper" ("1 conv" / "2 conv")."""
from typing import Optional

import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_conv_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.utils import SampleList
from torch import Tensor

from mmrn38.registry import MMSEG_MODELS, register


class ConvAct(nn.Module):
    """A conv followed by an activation, without normalisation.

    Unlike mmcv's ``ConvModule`` it does not initialise itself, so the
    head's ``init_cfg`` decides (the parameter names, ``conv.weight`` /
    ``conv.bias``, are the same).
    """

    def __init__(self, conv: nn.Module, activate: nn.Module):
        super().__init__()
        self.conv = conv
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        return self.activate(self.conv(x))


@register(MMSEG_MODELS)
class WiderHead(BaseDecodeHead):
    """Dilated-conv classifier of the paper's segmentation networks.

    ``num_convs=2`` ("2 conv", the released models): a 3x3 conv with bias to
    ``channels`` (512; ``conv6a`` in the original) and ReLU, then the 3x3
    classifier with bias (``linear{K}``). ``num_convs=1`` ("1 conv"): the
    classifier alone, reading the backbone features. Both convs use
    ``dilation`` (12) with padding that keeps the size. Dropout
    (``dropout_ratio``) comes before the classifier.

    Training labels: by default mmseg's rule (scores upsampled to the label
    map). With ``label_stride=s`` the original's rule (ademxapp's
    ``issegm/data.py``): the scores stay at stride ``s`` and the labels are
    taken from the full-resolution map at stride ``s`` with offset ``s // 2``
    (``label[s//2::s, s//2::s]``), the pixel at each score's centre.

    Args:
        num_convs (int): 1 or 2.
        kernel_size (int): Kernel size of both convs (odd).
        dilation (int): Dilation of both convs.
        label_stride (int, optional): Stride of the scores with respect to
            the label map for the original's label sampling; None for mmseg's
            upsampling of the scores.
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels``,
            ``channels``, ``num_classes``, ``dropout_ratio``, ``loss_decode``,
            ``sampler`` ...). With ``num_convs=1`` ``channels`` must equal
            ``in_channels``, as in mmseg's ``FCNHead`` with no convs.

    Shapes:
        input: the backbone's tuple; ``in_index`` picks ``(N, in_channels,
        h, w)``. Output: ``(N, num_classes, h, w)`` scores. With
        ``label_stride=s`` the label maps ``(H, W)`` of a batch must give
        ``h = ceil((H - s // 2) / s)`` rows (``H = s * h`` does).
    """

    def __init__(self,
                 num_convs: int = 2,
                 kernel_size: int = 3,
                 dilation: int = 12,
                 label_stride: Optional[int] = None,
                 **kwargs):
        if num_convs not in (1, 2):
            raise ValueError(f'num_convs must be 1 or 2, got {num_convs!r}')
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size!r}')
        if dilation < 1:
            raise ValueError(f'dilation must be >= 1, got {dilation!r}')
        if label_stride is not None and label_stride < 1:
            raise ValueError(
                f'label_stride must be >= 1 or None, got {label_stride!r}')
        super().__init__(**kwargs)
        if num_convs == 1 and self.in_channels != self.channels:
            raise ValueError(
                f'WiderHead with num_convs=1 classifies the backbone features '
                f'directly: channels ({self.channels}) must equal in_channels '
                f'({self.in_channels})')
        self.num_convs = num_convs
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.label_stride = label_stride
        padding = dilation * (kernel_size // 2)
        if num_convs == 2:
            self.conv = ConvAct(
                build_conv_layer(
                    self.conv_cfg,
                    self.in_channels,
                    self.channels,
                    kernel_size,
                    padding=padding,
                    dilation=dilation,
                    bias=True), build_activation_layer(self.act_cfg))
        else:
            self.conv = None
        self.conv_seg = nn.Conv2d(
            self.channels,
            self.out_channels,
            kernel_size,
            padding=padding,
            dilation=dilation)

    def forward(self, inputs) -> Tensor:
        """Tuple of backbone outputs -> ``(N, num_classes, h, w)``."""
        x = self._transform_inputs(inputs)
        if self.conv is not None:
            x = self.conv(x)
        return self.cls_seg(x)

    def _stack_batch_gt(self, batch_data_samples: SampleList) -> Tensor:
        """The samples' labels ``(N, 1, H, W)``; with ``label_stride=s``
        those at the scores' positions, ``(N, 1, h, w)`` (see the class
        docstring)."""
        seg_label = super()._stack_batch_gt(batch_data_samples)
        if self.label_stride is None:
            return seg_label
        offset = self.label_stride // 2
        return seg_label[..., offset::self.label_stride,
                         offset::self.label_stride]

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        """Losses of ``(N, K, h, w)`` scores against the samples' labels:
        mmseg's :meth:`BaseDecodeHead.loss_by_feat`, which resizes the
        scores to the labels' size. With ``label_stride`` the labels are
        sampled at the scores' positions (:meth:`_stack_batch_gt`), so the
        sizes must agree and the resize is the identity.

        Raises:
            ValueError: With ``label_stride``, labels that do not give the
                scores' size.
        """
        if self.label_stride is not None:
            stride = self.label_stride
            size = tuple(
                len(range(stride // 2, n, stride))
                for n in batch_data_samples[0].gt_sem_seg.shape)
            if size != tuple(seg_logits.shape[2:]):
                raise ValueError(
                    f'labels of size {size} taken at stride {stride} do not '
                    f'match the scores of size {tuple(seg_logits.shape[2:])}'
                    f': pad the inputs to a multiple of {stride} '
                    f'(data_preprocessor size or size_divisor)')
        return super().loss_by_feat(seg_logits, batch_data_samples)
