"""Weakly-supervised semantic segmentation with ResNet-38: PSA's CAM
baseline (Ahn and Kwak, "Learning Pixel-level Semantic Affinity with
Image-level Supervision", CVPR 2018) in mmpretrain.

Importing it registers :class:`~mmrn38.models.heads.CAMHead` in mmpretrain's
MODELS and :class:`~mmrn38.datasets.voc_seg_cls.VOCSegClsDataset` in its
DATASETS, and PSA's AffinityNet
(:class:`~mmrn38.models.segmentors.affinity_net.AffinityNet`,
:class:`~mmrn38.models.heads.AffinityHead`) in mmseg's MODELS with its
data (:class:`~mmrn38.datasets.voc_affinity.VOCAffinityDataset`,
``LoadCRFScores``, ``AffinityLabelFromCRF``) in mmseg's DATASETS and
TRANSFORMS (``custom_imports=dict(imports=['mmrn38', 'mmrn38.wsss'])``).
"""
from mmrn38.datasets.transforms.affinity import (AffinityLabelFromCRF,
                                                 LoadCRFScores)
from mmrn38.datasets.voc_affinity import VOCAffinityDataset
from mmrn38.datasets.voc_seg_cls import VOCSegClsDataset
from mmrn38.models.heads import AffinityHead, CAMHead
from mmrn38.models.segmentors.affinity_net import AffinityNet
from .data import WSSSDataError

__all__ = [
    'AffinityHead', 'AffinityLabelFromCRF', 'AffinityNet', 'CAMHead',
    'LoadCRFScores', 'VOCAffinityDataset', 'VOCSegClsDataset', 'WSSSDataError'
]
