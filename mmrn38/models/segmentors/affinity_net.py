"""PSA's AffinityNet (Ahn and Kwak, CVPR 2018, ``network/resnet38_aff.py``)
as an mmengine model built from mmseg parts."""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmseg.structures import SegDataSample
from torch import Tensor

from mmrn38.registry import MMSEG_MODELS, register
from ..backbones import ResNet38
from ..heads.affinity_head import (affinity_pair_indices, pair_offsets,
                                   pairwise_affinities)

# backbone outputs read: the outputs of levels 4 and 5 and of level 7
# after bn7 + ReLU
TAP_INDICES = (2, 3, 5)


def _bn_relu(norm: nn.Module, x: Tensor) -> Tensor:
    """``relu(norm(x))`` without a second update of a training BN's
    running statistics (the unit that owns ``norm`` makes the first)."""
    if norm.training and isinstance(norm, nn.modules.batchnorm._BatchNorm):
        x = F.batch_norm(x, None, None, norm.weight, norm.bias, True, 0.,
                         norm.eps)
        return F.relu(x)
    return F.relu(norm(x))


@register(MMSEG_MODELS)
class AffinityNet(BaseModel):
    """ResNet-38 with PSA's affinity head.

    The head reads PSA's three taps of ``resnet38d`` (``forward_as_dict``):

    - ``conv4``: BN-ReLU of the output of level 4 (the pre-activation of
      unit 5a, ``b5``'s ``bn_branch2a``);
    - ``conv5``: BN-ReLU of the output of level 5 (unit 6a's
      ``bn_branch2a``);
    - ``conv6``: the output of level 7 after ``bn7`` + ReLU.

    The backbone returns the outputs of levels 4, 5 and 7
    (``out_indices=(2, 3, 5)``); the BN-ReLU of units 5a and 6a is applied
    to the first two here, with the backbone's own layers.

    Args:
        backbone (dict): A ``ResNet38`` config with ``out_indices=(2, 3,
            5)`` (PSA: A1, output stride 8, ``dropout_layout='psa'``).
        head (dict): An :class:`~mmrn38.models.heads.AffinityHead` config.
        data_preprocessor (dict, optional): mmseg's ``SegDataPreProcessor``
            config (built in mmseg's registry).
        init_cfg (dict, optional): Initialisation config.

    Shapes (``s`` the backbone's output stride, ``h = ceil(H / s)``,
    ``w = ceil(W / s)``):
        inputs ``(B, 3, H, W)``; features ``(B, C, h, w)`` (``C = 448`` at
        full width); affinities ``(B, D, P)`` (see
        :mod:`mmrn38.models.heads.affinity_head`); dense affinities
        ``(B, h * w, h * w)``.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MMSEG_MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MMSEG_MODELS.build(backbone)
        if not isinstance(self.backbone, ResNet38) or \
                self.backbone.out_indices != TAP_INDICES:
            raise ValueError(f'AffinityNet needs a ResNet38 backbone with '
                             f'out_indices={TAP_INDICES} (levels 4, 5, 7), '
                             f'got {type(self.backbone).__name__} with '
                             f'{getattr(self.backbone, "out_indices", None)}')
        self.head = MMSEG_MODELS.build(head)

    def extract_feat(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """PSA's taps ``conv4``, ``conv5``, ``conv6``: ``(B, 3, H, W)`` ->
        ``(B, C4, h, w)``, ``(B, C5, h, w)``, ``(B, C7, h, w)``."""
        level4, level5, conv6 = self.backbone(inputs)
        levels = self.backbone.levels()
        conv4 = _bn_relu(levels[3][0].norm1, level4)
        conv5 = _bn_relu(levels[4][0].norm1, level5)
        return conv4, conv5, conv6

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None,
                mode: str = 'tensor') -> Union[dict, Tensor]:
        """``'tensor'``: the affinity features ``(B, C, h, w)``;
        ``'loss'``: the loss dict of
        :meth:`~mmrn38.models.heads.AffinityHead.loss_by_feat`, labels from
        the samples' ``gt_sem_seg`` (``(1, H, W)``, constant on each
        ``s x s`` block, read at the block corners)."""
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs))
        if mode == 'loss':
            feats = self.head(self.extract_feat(inputs))
            return self.head.loss_by_feat(
                feats, self._stride_labels(data_samples, feats))
        raise ValueError(f'AffinityNet: mode must be "loss" or "tensor", '
                         f'got {mode!r} (affinities have no prediction)')

    def _stride_labels(self, data_samples: List[SegDataSample],
                       feats: Tensor) -> Tensor:
        """``(B, h, w)`` labels read off the samples' ``gt_sem_seg``."""
        if not data_samples:
            raise ValueError('AffinityNet: mode "loss" needs data samples '
                             'with gt_sem_seg')
        stride = self.backbone.out_stride
        label = torch.stack(
            [s.gt_sem_seg.data[0, ::stride, ::stride] for s in data_samples])
        return label.to(feats.device)

    def affinities(self, inputs: Tensor) -> Tensor:
        """PSA's ``forward(x)``: ``(B, 3, H, W)`` -> ``(B, D, P)``."""
        return self.head.affinities(self.forward(inputs))

    def dense_affinity(self, inputs: Tensor) -> Tensor:
        """PSA's ``forward(x, to_dense=True)``: the symmetric affinity
        matrix of all positions, ones on the diagonal, the affinities of
        PSA's pairs (:func:`affinity_pair_indices`) and zero elsewhere
        (positions at least the radius apart, and the pairs whose first
        position in raster order lies in the last ``radius - 1`` rows or
        in the first or last ``radius - 1`` columns, which PSA leaves
        out).

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` normalised images (PSA's
                ``infer_aff.py`` pads them to multiples of 8).

        Returns:
            Tensor: ``(B, N, N)``, ``N = h * w``, row/column ``y * w + x``.
        """
        feats = self.forward(inputs)
        b, _, h, w = feats.shape
        ind_from, ind_to = (
            i.to(feats.device)
            for i in affinity_pair_indices(self.head.radius, (h, w)))
        aff = pairwise_affinities(feats, ind_from, ind_to).flatten(1)
        rows = ind_from.repeat(len(pair_offsets(self.head.radius)))
        dense = feats.new_zeros(b, h * w, h * w)
        dense[:, rows, ind_to] = aff
        dense[:, ind_to, rows] = aff
        diagonal = torch.arange(h * w, device=feats.device)
        dense[:, diagonal, diagonal] = 1.
        return dense
