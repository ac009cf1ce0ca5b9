"""The training configs of configs/ that tests/test_configs.py (shrunk,
quick tier) and tests/test_configs_as_shipped.py (as shipped, slow tier)
train: for each, a tiny data set in its real on-disk layout, one validation
image (what is validated is the config's pipeline, not a score)."""
from mmrn38.synthetic import (write_ade20k, write_cityscapes, write_context,
                              write_voc)

SEG_CASES = {
    'rn38_voc.py': lambda root: write_voc(root, dict(train=4, val=1)),
    'rn38_context.py': lambda root: write_context(root, dict(train=4, val=1)),
    'rn38_context60.py':
    lambda root: write_context(root, dict(train=4, val=1)),
    'rn38_cityscapes.py':
    lambda root: write_cityscapes(root, dict(train=2, val=1)),
    'rn38_ade20k.py':
    lambda root: write_ade20k(root, dict(training=4, validation=1)),
}
CLS_CASES = ['rn38_in1k.py', 'rn38-a_in1k.py']
