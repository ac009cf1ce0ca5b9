"""VOC 2012 (mmseg's layout) as mmpretrain's multi-label dataset for
weakly-supervised segmentation (needs mmpretrain; imported by
:mod:`mmrn38.wsss`, not by ``import mmrn38``)."""
from typing import List, Optional

import numpy as np
from mmpretrain.datasets import MultiLabelDataset
from mmpretrain.datasets.categories import VOC2007_CATEGORIES

from mmrn38.registry import MMPRETRAIN_DATASETS, register


@register(MMPRETRAIN_DATASETS)
class VOCSegClsDataset(MultiLabelDataset):
    """VOC 2012 (mmseg's layout) as a multi-label classification dataset
    whose labels come from the segmentation masks.

    Args:
        data_root (str): The ``VOC2012`` folder.
        split (str): ``ImageSets/Segmentation/<split>.txt`` (``'aug'``:
            mmseg's ``train_aug`` list of 10,582 images with
            ``SegmentationClassAug``).
        metainfo (dict, optional): ``classes``, the K foreground classes
            (default: the 20 of VOC, in label order 1 .. 20).
        **kwargs: The other arguments of mmpretrain's ``BaseDataset``
            (``pipeline``, ``test_mode`` ...).

    Each item has ``img_path`` and ``gt_label`` (indices ``c - 1`` of the
    foreground labels ``c`` in the mask).
    """
    METAINFO = {'classes': VOC2007_CATEGORIES}

    def __init__(self,
                 data_root: str,
                 split: str = 'aug',
                 metainfo: Optional[dict] = None,
                 **kwargs):
        self.split = split
        super().__init__(
            ann_file='', metainfo=metainfo, data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One item per image of the split: ``img_path`` and ``gt_label``.

        Raises:
            WSSSDataError: A missing list, image or mask, or a bad label.
        """
        # mmrn38.wsss imports this module: imported here, not circularly
        from mmrn38.wsss.data import image_labels, read_mask, voc_split
        num_classes = len(self.CLASSES)
        data_list = []
        for sample in voc_split(self.data_root, self.split):
            labels = image_labels(
                read_mask(sample.mask_path), num_classes, sample.mask_path)
            data_list.append(
                dict(
                    img_path=sample.img_path,
                    gt_label=np.flatnonzero(labels).tolist()))
        return data_list
