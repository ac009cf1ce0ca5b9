"""The class-activation-map classifier of PSA (Ahn and Kwak, CVPR 2018),
``network/resnet38_cls.py``, as an mmpretrain multi-label head."""
from typing import Optional, Sequence

import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import MultiLabelClsHead
from torch import Tensor

from mmrn38.registry import MMPRETRAIN_MODELS, register


@register(MMPRETRAIN_MODELS)
class CAMHead(MultiLabelClsHead):
    """Dropout2d -> global average pooling -> bias-free 1x1 conv, whose
    weights also give class activation maps (CAMs).

    Training: ``logits = fc(mean_hw(dropout2d(x)))`` with the multi-label
    soft-margin loss of PSA's ``train_cls.py``. mmpretrain's
    ``MultiLabelClsHead`` divides its loss by the batch size only, so the
    default loss is its sigmoid cross-entropy with ``loss_weight =
    1 / num_classes``, which equals ``F.multilabel_soft_margin_loss``.

    CAMs (:meth:`cams`): ``relu(conv2d(x, fc.weight))``, the class scores of
    every position before pooling (PSA's ``forward_cam``; no dropout).

    Args:
        num_classes (int): Foreground classes (20 for VOC).
        in_channels (int): Channels of the last backbone output (4096).
        dropout_ratio (float): Channel dropout before pooling (0.5 in PSA).
        loss (dict, optional): Loss config; None: the soft-margin
            equivalent above.
        thr (float, optional), topk (int, optional): Positive predictions,
            as in ``MultiLabelClsHead`` (default ``thr=0.5``).
        init_cfg (dict): Xavier-uniform ``fc``, as PSA's ``fc8``.

    Shapes:
        input: a tuple whose last item is ``(N, in_channels, h, w)``;
        :meth:`forward` returns ``(N, num_classes)`` logits, :meth:`cams`
        ``(N, num_classes, h, w)``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_ratio: float = 0.5,
                 loss: Optional[dict] = None,
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 init_cfg: Optional[dict] = dict(
                     type='Xavier', layer='Conv2d', distribution='uniform')):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f'num_classes must be a positive int, got '
                             f'{num_classes!r}')
        if loss is None:
            loss = dict(
                type='CrossEntropyLoss',
                use_sigmoid=True,
                loss_weight=1.0 / num_classes)
        super().__init__(loss=loss, thr=thr, topk=topk, init_cfg=init_cfg)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.dropout = nn.Dropout2d(dropout_ratio) if dropout_ratio > 0 \
            else nn.Identity()
        self.fc = nn.Conv2d(in_channels, num_classes, 1, bias=False)

    def pre_logits(self, feats: Sequence[Tensor]) -> Tensor:
        """Last feature map, dropped out and average-pooled:
        ``(N, C, h, w)`` -> ``(N, C, 1, 1)``."""
        x = self.dropout(feats[-1])
        return x.mean(dim=(2, 3), keepdim=True)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """``(N, C, h, w)`` (last of ``feats``) -> logits ``(N, K)``."""
        return self.fc(self.pre_logits(feats)).flatten(1)

    def cams(self, feats: Sequence[Tensor]) -> Tensor:
        """Class activation maps ``relu(conv2d(x, fc.weight))``:
        ``(N, C, h, w)`` (last of ``feats``) -> ``(N, K, h, w)``."""
        return F.relu(F.conv2d(feats[-1], self.fc.weight))
