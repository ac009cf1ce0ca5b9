"""VOC 2012 images with PSA's la / ha CRF label files: the training data of
AffinityNet (PSA's ``VOC12AffDataset``; imported by :mod:`mmrn38.wsss`)."""
import os.path as osp
from typing import List

from mmengine import list_from_file
from mmengine.dataset import BaseDataset
from mmseg.datasets import PascalVOCDataset

from mmrn38.registry import MMSEG_DATASETS, register


@register(MMSEG_DATASETS)
class VOCAffinityDataset(BaseDataset):
    """The images of a VOC split with their CRF label files.

    Args:
        data_root (str): The ``VOC2012`` folder (``JPEGImages/<id>.jpg``,
            ``ImageSets/Segmentation/<split>.txt``).
        la_crf_dir (str): Folder of the la files ``<id>.npy`` (make_cams.py
            ``--out-la-crf``), as given (not joined with ``data_root``).
        ha_crf_dir (str): Folder of the ha files (``--out-ha-crf``).
        split (str): The list (``'aug'``: mmseg's train_aug, PSA's
            ``train_aug.txt``).
        **kwargs: The other arguments of mmengine's ``BaseDataset``
            (``pipeline`` ...).

    Each item has ``img_path``, ``la_crf_path`` and ``ha_crf_path``; the
    pipeline reads them (:class:`~mmrn38.datasets.transforms.affinity.
    LoadCRFScores`).
    """
    METAINFO = PascalVOCDataset.METAINFO

    def __init__(self,
                 data_root: str,
                 la_crf_dir: str,
                 ha_crf_dir: str,
                 split: str = 'aug',
                 **kwargs):
        self.la_crf_dir, self.ha_crf_dir = la_crf_dir, ha_crf_dir
        self.split = split
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        """One item per image of the split.

        Raises:
            WSSSDataError: A missing list, or images or CRF files missing
                (counted in one line).
        """
        from mmrn38.wsss.data import WSSSDataError, _short
        list_file = osp.join(self.data_root, 'ImageSets', 'Segmentation',
                             f'{self.split}.txt')
        if not osp.isfile(list_file):
            raise WSSSDataError(f'no split list {list_file}')
        names = [
            line.split()[0] for line in list_from_file(list_file)
            if line.strip()
        ]
        if not names:
            raise WSSSDataError(f'{list_file} lists no images')
        data_list, problems = [], []
        folders = (('img_path', osp.join(self.data_root, 'JPEGImages'),
                    '.jpg'), ('la_crf_path', self.la_crf_dir, '.npy'),
                   ('ha_crf_path', self.ha_crf_dir, '.npy'))
        for name in names:
            data_list.append({
                key: osp.join(folder, name + ext)
                for key, folder, ext in folders
            })
        for key, folder, ext in folders:
            missing = [
                name for name, item in zip(names, data_list)
                if not osp.isfile(item[key])
            ]
            if missing:
                problems.append(f'{len(missing)} of {len(names)} files '
                                f'missing from {folder} '
                                f'({_short(missing)})')
        if problems:
            raise WSSSDataError(f'{list_file}: ' + '; '.join(problems))
        return data_list
