"""Weakly-supervised semantic segmentation with ResNet-38: PSA's CAM
baseline (Ahn and Kwak, "Learning Pixel-level Semantic Affinity with
Image-level Supervision", CVPR 2018) in mmpretrain.

Importing it registers :class:`~mmrn38.models.heads.CAMHead` in mmpretrain's
MODELS and :class:`~mmrn38.datasets.voc_seg_cls.VOCSegClsDataset` in its
DATASETS (``custom_imports=dict(imports=['mmrn38', 'mmrn38.wsss'])``).
"""
from mmrn38.datasets.voc_seg_cls import VOCSegClsDataset
from mmrn38.models.heads import CAMHead
from .data import WSSSDataError

__all__ = ['CAMHead', 'VOCSegClsDataset', 'WSSSDataError']
