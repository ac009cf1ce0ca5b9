"""The affinity head of PSA's AffinityNet (Ahn and Kwak, CVPR 2018,
``network/resnet38_aff.py`` and ``train_aff.py``): features from three
backbone taps, affinities of the pairs of positions within a radius, and
the three-part affinity loss.

Pairs (PSA's ``get_indices_of_pairs``): on an ``h x w`` feature map every
position ``p`` of the "from" region (rows ``0 .. h - r``, columns ``r - 1
.. w - r``, ``r`` the radius) is paired with ``p + (dy, dx)`` for each of
the ``D`` offsets of :func:`pair_offsets` (the forward half of the disc of
radius ``r``; ``D = 34`` for ``r = 5``). With ``P`` "from" positions there
are ``D * P`` pairs, indexed ``d * P + p``.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmrn38.registry import MMSEG_MODELS, register

IGNORE_INDEX = 255


def pair_offsets(radius: int) -> List[Tuple[int, int]]:
    """The offsets ``(dy, dx)`` paired with each position: ``(0, 1) ..
    (0, r - 1)``, then for ``dy = 1 .. r - 1`` every ``|dx| < r`` with
    ``dx^2 + dy^2 < r^2``, in PSA's order."""
    if not isinstance(radius, int) or radius < 2:
        raise ValueError(f'radius must be an int >= 2, got {radius!r}')
    offsets = [(0, dx) for dx in range(1, radius)]
    offsets += [(dy, dx) for dy in range(1, radius)
                for dx in range(1 - radius, radius)
                if dx * dx + dy * dy < radius * radius]
    return offsets


def affinity_pair_indices(radius: int,
                          size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
    """Flat indices of the pairs on an ``(h, w)`` map, as PSA's
    ``get_indices_of_pairs``.

    Args:
        radius (int): Pairs are closer than ``radius`` (PSA: 5).
        size (tuple[int, int]): ``(h, w)`` of the feature map.

    Returns:
        tuple[Tensor, Tensor]: ``ind_from`` ``(P,)`` and ``ind_to``
        ``(D * P,)`` (int64 indices into ``h * w``); pair ``d * P + p``
        joins ``ind_from[p]`` and ``ind_to[d * P + p]``. A map smaller than
        ``radius`` rows or ``2 * radius - 1`` columns has no pairs (where
        PSA's slicing fails).
    """
    h, w = size
    r = radius - 1
    offsets = pair_offsets(radius)
    rows, cols = max(h - r, 0), max(w - 2 * r, 0)
    grid = torch.arange(h * w).view(h, w)
    ind_from = grid[:rows, r:r + cols].reshape(-1)
    ind_to = torch.cat([
        grid[dy:dy + rows, r + dx:r + dx + cols].reshape(-1)
        for dy, dx in offsets
    ])
    return ind_from, ind_to


def _by_offset(values: Tensor, num_from: int) -> Tensor:
    """``(..., D * P)`` values of the pairs -> ``(..., D, P)``."""
    return values.view(*values.shape[:-1],
                       values.shape[-1] // max(num_from, 1), num_from)


def pairwise_affinities(feats: Tensor, ind_from: Tensor,
                        ind_to: Tensor) -> Tensor:
    """``exp(-mean_c |f_i - f_j|)`` for the pairs ``(i, j)``.

    Args:
        feats (Tensor): ``(B, C, h, w)`` features.
        ind_from (Tensor): ``(P,)`` indices of :func:`affinity_pair_indices`.
        ind_to (Tensor): ``(D * P,)`` indices.

    Returns:
        Tensor: ``(B, D, P)`` affinities in ``(0, 1]``.
    """
    x = feats.flatten(2)
    ind_from, ind_to = ind_from.to(x.device), ind_to.to(x.device)
    f_from = x[:, :, ind_from].unsqueeze(2)
    f_to = _by_offset(x[:, :, ind_to], len(ind_from))
    return torch.exp(-torch.mean(torch.abs(f_to - f_from), dim=1))


def affinity_labels(label: Tensor, ind_from: Tensor,
                    ind_to: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """PSA's ``ExtractAffinityLabelInRadius``: pair labels from a label map
    (0 background, ``IGNORE_INDEX`` = 255 ignored).

    Args:
        label (Tensor): ``(B, h, w)`` integer labels.
        ind_from (Tensor), ind_to (Tensor): As
            :func:`affinity_pair_indices` for ``(h, w)``.

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``(B, D, P)`` float masks of the
        background pairs (both background), foreground pairs (the same
        foreground class, neither ignored) and negative pairs (different
        labels, neither ignored).
    """
    flat = label.flatten(1)
    ind_from, ind_to = ind_from.to(flat.device), ind_to.to(flat.device)
    label_from = flat[:, ind_from].unsqueeze(1)
    label_to = _by_offset(flat[:, ind_to], len(ind_from))
    valid = (label_to < IGNORE_INDEX) & (label_from < IGNORE_INDEX)
    same = label_to == label_from
    bg = same & (label_from == 0)
    fg = same & (label_from != 0) & valid
    neg = ~same & valid
    return bg.float(), fg.float(), neg.float()


def affinity_loss_terms(aff: Tensor, bg: Tensor, fg: Tensor,
                        neg: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """PSA's three loss terms (``train_aff.py``), each averaged over its
    pairs in the whole batch: ``-log(aff)`` on background and foreground
    pairs, ``-log(1 - aff)`` on negative pairs (with PSA's 1e-5 guards).

    Args:
        aff (Tensor): ``(B, D, P)`` affinities.
        bg (Tensor), fg (Tensor), neg (Tensor): ``(B, D, P)`` pair masks of
            :func:`affinity_labels`.

    Returns:
        tuple[Tensor, Tensor, Tensor]: The scalar background, foreground
        and negative terms.
    """
    pos_log = torch.log(aff + 1e-5)
    bg_loss = torch.sum(-bg * pos_log) / (torch.sum(bg) + 1e-5)
    fg_loss = torch.sum(-fg * pos_log) / (torch.sum(fg) + 1e-5)
    neg_loss = torch.sum(-neg * torch.log(1. + 1e-5 - aff)) / (
        torch.sum(neg) + 1e-5)
    return bg_loss, fg_loss, neg_loss


@register(MMSEG_MODELS)
class AffinityHead(BaseModule):
    """PSA's affinity features and loss.

    Each of the three taps goes through a bias-free 1x1 conv and ELU
    (``f8_3``, ``f8_4``, ``f8_5``: 512 -> 64, 1024 -> 128, 4096 -> 256 at
    full width); the concatenation (448 channels) through a bias-free 1x1
    conv and ELU (``f9``). Affinities of the pairs within ``radius`` are
    ``exp(-mean_c |f_i - f_j|)`` of these features; the loss is
    ``bg / 4 + fg / 4 + neg / 2`` of :func:`affinity_loss_terms` on the
    pair labels of :func:`affinity_labels`.

    Args:
        in_channels (Sequence[int]): Channels of the three taps.
        channels (Sequence[int]): Output channels of ``f8_3``, ``f8_4``,
            ``f8_5``; ``f9`` keeps their sum.
        radius (int): Pairs are closer than this (PSA: 5).
        loss_weights (Sequence[float]): Weights of the background,
            foreground and negative terms (PSA: 1/4, 1/4, 1/2).
        init_cfg (dict | list[dict]): PSA's: ``kaiming_normal_`` (fan-in,
            gain sqrt 2) for ``f8_*``, Xavier-uniform with gain 4 for
            ``f9``.

    Shapes:
        input: a tuple of three ``(B, in_channels[i], h, w)`` maps;
        :meth:`forward` returns ``(B, sum(channels), h, w)`` features.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 4096),
                 channels: Sequence[int] = (64, 128, 256),
                 radius: int = 5,
                 loss_weights: Sequence[float] = (0.25, 0.25, 0.5),
                 init_cfg: Optional[dict] = dict(
                     type='Kaiming',
                     layer='Conv2d',
                     mode='fan_in',
                     nonlinearity='relu',
                     distribution='normal',
                     override=dict(
                         type='Xavier',
                         name='f9',
                         gain=4,
                         distribution='uniform'))):
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 3 or len(channels) != 3:
            raise ValueError(f'AffinityHead takes three taps: in_channels '
                             f'and channels of length 3, got {in_channels!r} '
                             f'and {channels!r}')
        if len(loss_weights) != 3:
            raise ValueError(f'loss_weights: 3 weights (bg, fg, neg), got '
                             f'{loss_weights!r}')
        pair_offsets(radius)  # checks the radius
        self.in_channels = tuple(in_channels)
        self.channels = tuple(channels)
        self.out_channels = sum(channels)
        self.radius = radius
        self.loss_weights = tuple(loss_weights)
        self.f8_3 = nn.Conv2d(in_channels[0], channels[0], 1, bias=False)
        self.f8_4 = nn.Conv2d(in_channels[1], channels[1], 1, bias=False)
        self.f8_5 = nn.Conv2d(in_channels[2], channels[2], 1, bias=False)
        self.f9 = nn.Conv2d(
            self.out_channels, self.out_channels, 1, bias=False)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Three taps ``(B, in_channels[i], h, w)`` -> features
        ``(B, sum(channels), h, w)``."""
        x = torch.cat([
            F.elu(conv(x))
            for conv, x in zip((self.f8_3, self.f8_4, self.f8_5), inputs)
        ],
                      dim=1)
        return F.elu(self.f9(x))

    def affinities(self, feats: Tensor) -> Tensor:
        """Features ``(B, C, h, w)`` -> pair affinities ``(B, D, P)``."""
        return pairwise_affinities(
            feats, *affinity_pair_indices(self.radius, feats.shape[2:]))

    def loss_by_feat(self, feats: Tensor, label: Tensor) -> dict:
        """The weighted loss terms.

        Args:
            feats (Tensor): ``(B, C, h, w)`` features of :meth:`forward`.
            label (Tensor): ``(B, h, w)`` labels at the features' stride
                (0 background, classes, 255 ignored).

        Returns:
            dict: ``loss_bg``, ``loss_fg``, ``loss_neg`` (weighted; their
            sum is PSA's loss) and the pair counts ``count_bg``,
            ``count_fg``, ``count_neg`` of the batch.
        """
        if label.shape != (feats.shape[0], ) + feats.shape[2:]:
            raise ValueError(f'affinity labels of shape '
                             f'{tuple(label.shape)} for features '
                             f'{tuple(feats.shape)}: expected (B, h, w) '
                             f'at the features\' stride')
        indices = affinity_pair_indices(self.radius, feats.shape[2:])
        masks = affinity_labels(label, *indices)
        terms = affinity_loss_terms(
            pairwise_affinities(feats, *indices), *masks)
        losses = {}
        for name, weight, term, mask in zip(('bg', 'fg', 'neg'),
                                            self.loss_weights, terms, masks):
            losses[f'loss_{name}'] = weight * term
            losses[f'count_{name}'] = mask.sum().detach()
        return losses
