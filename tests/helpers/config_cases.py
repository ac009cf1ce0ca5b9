"""The training configs of configs/ that tests/test_configs.py (shrunk,
quick tier) and tests/test_configs_as_shipped.py (as shipped, slow tier)
train: for each, a tiny data set in its real on-disk layout, one validation
image (what is validated is the config's pipeline, not a score)."""
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
    'rn38_voc.py': lambda root: write_voc(root, dict(train=4, val=1)),
    'rn38_context.py': lambda root: write_context(root, dict(train=4, val=1)),
    'rn38_context60.py':
    lambda root: write_context(root, dict(train=4, val=1)),
    'rn38_cityscapes.py':
    lambda root: write_cityscapes(root, dict(train=2, val=1)),
    'rn38_ade20k.py':
    lambda root: write_ade20k(root, dict(training=4, validation=1)),
    'wsss/rn38_voc_pseudo.py': write_voc_pseudo,
}
CLS_CASES = ['rn38_in1k.py', 'rn38-a_in1k.py']
