"""The original's online bootstrapping of the softmax loss ("OHEM").

ademxapp trains its segmentation networks with a softmax whose gradient only
flows through the hardest pixels (``OhemSoftmax`` in its
``util/symbol/layer.py``): among the valid pixels of the whole batch on one
device, those whose probability of the true class is at most a threshold.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmrn38.registry import MMSEG_MODELS, register


@register(MMSEG_MODELS)
class BootstrappedCrossEntropyLoss(nn.Module):
    """Softmax cross-entropy averaged over the hard pixels of the batch.

    Over all pixels whose label is not ``ignore_index``: ``p`` is the softmax
    probability of the true class; the threshold is ``thresh``, raised to
    the ``min_kept``-th smallest ``p`` when that is larger; pixels with
    ``p <= threshold`` are kept (all valid pixels when there are at most
    ``min_kept``). The loss is the mean cross-entropy over the kept pixels,
    so its gradient with respect to the scores is ``(p - onehot) / kept``,
    exactly the original's.

    Args:
        thresh (float): Probability threshold. Default: 0.6.
        min_kept (int): At least this many pixels are kept. Default: 256.
        loss_weight (float): Weight of the loss. Default: 1.0.
        loss_name (str): Name in the loss dict; mmseg adds ``loss_*`` names
            to the total. Default: ``'loss_ce'``.

    Shapes:
        cls_score: ``(N, C, h, w)`` scores; label: ``(N, h, w)`` class indices
        at the same positions (see ``WiderHead(label_stride=8)``).
    """

    def __init__(self,
                 thresh: float = 0.6,
                 min_kept: int = 256,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce'):
        super().__init__()
        if not 0 < thresh <= 1:
            raise ValueError(f'thresh must be in (0, 1], got {thresh!r}')
        if min_kept < 0:
            raise ValueError(f'min_kept must be >= 0, got {min_kept!r}')
        self.thresh = thresh
        self.min_kept = min_kept
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight=None,
                ignore_index: int = 255,
                **kwargs) -> Tensor:
        if weight is not None:
            raise ValueError('BootstrappedCrossEntropyLoss takes no pixel '
                             'weights (the original has none)')
        if cls_score.shape[2:] != label.shape[1:]:
            raise ValueError(
                f'scores {tuple(cls_score.shape)} and labels '
                f'{tuple(label.shape)} must have the same spatial size')
        scores = cls_score.permute(0, 2, 3, 1).reshape(-1, cls_score.size(1))
        label = label.reshape(-1)
        valid = label != ignore_index
        scores, label = scores[valid], label[valid].long()
        log_prob = F.log_softmax(scores.float(), dim=1)
        nll = -log_prob.gather(1, label[:, None])[:, 0]
        if label.numel() > self.min_kept:
            with torch.no_grad():
                prob = (-nll).exp()
                threshold = torch.tensor(
                    self.thresh, dtype=prob.dtype, device=prob.device)
                if self.min_kept > 0:
                    kth = prob.kthvalue(self.min_kept).values
                    threshold = torch.maximum(threshold, kth)
                kept = prob <= threshold
            nll = nll[kept]
        loss = nll.sum() / max(1, nll.numel())
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        return self._loss_name
