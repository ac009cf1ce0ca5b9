"""The training configs of configs/ that tests/test_configs.py (shrunk,
quick tier) and tests/test_configs_as_shipped.py (as shipped, slow tier)
train: for each, a tiny data set in its real on-disk layout, one validation
image (what is validated is the config's pipeline, not a score).
:func:`write_voc_affinity` writes the data of configs/wsss/rn38_voc_aff.py:
VOC images with make_cams.py's la / ha CRF files."""
import os
import os.path as osp
import shutil

import numpy as np
from PIL import Image

from mmrn38.synthetic import (write_ade20k, write_cityscapes, write_context,
                              write_voc)
from mmrn38.utils.palette import voc_palette


def write_voc_pseudo(root, splits=dict(train=4, val=1)):
    """VOC for configs/wsss/rn38_voc_pseudo.py: the images of aug.txt with
    pseudo-labels in ``SegmentationClassPseudo`` (VOC-palette PNGs as
    tools/wsss/random_walk.py writes them: the masks with their top and
    bottom rows unlabelled, 255) and no ``SegmentationClassAug`` (so
    training can read nothing else), val with its real masks."""
    data_root = write_voc(root, splits)
    pseudo = osp.join(data_root, 'SegmentationClassPseudo')
    os.makedirs(pseudo)
    real = osp.join(data_root, 'SegmentationClassAug')
    for name in sorted(os.listdir(real)):
        labels = np.array(Image.open(osp.join(real, name)))
        labels[:4] = labels[-4:] = 255
        image = Image.fromarray(labels, mode='L').convert('P')
        image.putpalette(voc_palette())
        image.save(osp.join(pseudo, name))
    shutil.rmtree(real)
    return data_root


SEG_CASES = {
    'rn38_voc.py':
    lambda root: write_voc(root, dict(train=4, val=1)),
    'rn38_context.py':
    lambda root: write_context(root, dict(train=4, val=1)),
    'rn38_context60.py':
    lambda root: write_context(root, dict(train=4, val=1)),
    'rn38_cityscapes.py':
    lambda root: write_cityscapes(root, dict(train=2, val=1)),
    'rn38_ade20k.py':
    lambda root: write_ade20k(root, dict(training=4, validation=1)),
    'wsss/rn38_voc_pseudo.py':
    write_voc_pseudo,
}
CLS_CASES = ['rn38_in1k.py', 'rn38-a_in1k.py']
# the ImageNet configs' batches cut to two images (four images per split)
BATCHES_OF_TWO = {
    f'{split}_dataloader.batch_size': 2
    for split in ('train', 'val', 'test')
}


def short_schedule(cfg, length):
    """The --cfg-options a user sets to train ``cfg`` for ``length``
    iterations (an iteration-based loop: validated and saved after the
    last) or ``length`` epochs (an epoch-based loop), logging every
    iteration."""
    if 'max_iters' in cfg.train_cfg:
        return {
            'train_cfg.max_iters': length,
            'train_cfg.val_interval': length,
            'default_hooks.checkpoint.interval': length,
            'default_hooks.logger.interval': 1,
        }
    return {
        'train_cfg.max_epochs': length,
        'default_hooks.logger.interval': 1,
    }


def write_crf_files(data_root, split, la_dir, ha_dir, seed=0):
    """la / ha files ``<id>.npy`` for the images of ``split``, as
    make_cams.py writes them: ``{0: bg, c: map}`` for the labels c of the
    mask, the mask's one-hot with noise, less background in the ha."""
    from mmrn38.wsss.data import read_mask, voc_split
    rng = np.random.default_rng(seed)
    for folder in (la_dir, ha_dir):
        os.makedirs(folder, exist_ok=True)
    for sample in voc_split(data_root, split):
        mask = read_mask(sample.mask_path)
        keys = [0] + [int(c) for c in np.unique(mask) if 0 < c < 255]
        la = np.stack([(mask == k) * 0.7 for k in keys]) + \
            rng.random((len(keys), ) + mask.shape) * 0.3
        ha = la.copy()
        ha[0] *= 0.5
        for folder, scores in ((la_dir, la), (ha_dir, ha)):
            np.save(
                osp.join(folder, f'{sample.name}.npy'),
                dict(zip(keys, scores.astype(np.float32))))


def write_voc_affinity(root, num_images, size):
    """VOC 2012 (``num_images`` in train_aug, ``size`` (h, w)) and its
    CRF files: ``(data_root, la_crf_dir, ha_crf_dir)``."""
    data_root = write_voc(root, dict(train=num_images), size)
    la_dir, ha_dir = osp.join(root, 'crf_la'), osp.join(root, 'crf_ha')
    write_crf_files(data_root, 'aug', la_dir, ha_dir)
    return data_root, la_dir, ha_dir
