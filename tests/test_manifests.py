"""The full-size network against the released files' names and shapes
(tests/data/mxnet/manifests/: every array of the original
``ilsvrc-cls_rna-a*_cls1000`` and ``voc_rna-a1_cls21_s8`` files, listed as
``arg:|aux:<name> <shape>``), independently of the converter: the same
parameter count, the same multiset of parameter and BN-statistics shapes."""
import os.path as osp
from collections import Counter

import pytest
from rn38_testing import REPO

from mmrn38 import ResNet38

MANIFESTS = osp.join(REPO, 'tests', 'data', 'mxnet', 'manifests')


def read_manifest(name):
    """{'arg:...' / 'aux:...' name: shape tuple} of one released file."""
    entries = {}
    with open(osp.join(MANIFESTS, name)) as f:
        for line in f:
            key, shape = line.split()
            entries[key] = tuple(int(d) for d in shape.split('x'))
    return entries


def numel(shape):
    out = 1
    for d in shape:
        out *= d
    return out


def split_head(entries):
    """Backbone entries, and the head's (linear*, conv6a*)."""
    head_prefixes = ('arg:linear', 'arg:conv6a')
    head = {k: v for k, v in entries.items() if k.startswith(head_prefixes)}
    return {k: v for k, v in entries.items() if k not in head}, head


@pytest.mark.parametrize('manifest, arch', [
    ('ilsvrc-cls_rna-a1_cls1000.txt', 'A1'),
    ('ilsvrc-cls_rna-a_cls1000.txt', 'A'),
    ('voc_rna-a1_cls21_s8.txt', 'A1'),
])
def test_full_size_backbone_has_the_released_structure(manifest, arch):
    backbone, head = split_head(read_manifest(manifest))
    model = ResNet38(arch=arch)
    params = [tuple(p.shape) for p in model.parameters()]
    stats = [
        tuple(b.shape) for name, b in model.named_buffers()
        if name.endswith(('running_mean', 'running_var'))
    ]
    args = [s for k, s in backbone.items() if k.startswith('arg:')]
    auxs = [s for k, s in backbone.items() if k.startswith('aux:')]
    assert Counter(params) == Counter(args)
    assert Counter(stats) == Counter(auxs)
    assert sum(map(numel, params)) == sum(map(numel, args)) == 105_070_912
    # the released classifiers' linear layer reads bn7's 4096 channels
    if 'ilsvrc' in manifest:
        assert head == {
            'arg:linear1000_weight': (1000, 4096),
            'arg:linear1000_bias': (1000, )
        }


def test_voc_head_has_the_released_structure():
    """The shipped VOC config's head ("2 conv") has the released shapes."""
    from mmengine.config import Config
    from mmseg.registry import MODELS
    _, head = split_head(read_manifest('voc_rna-a1_cls21_s8.txt'))
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rn38_voc.py'))
    cfg.model.decode_head.norm_cfg = dict(type='BN')
    decode_head = MODELS.build(cfg.model.decode_head)
    assert tuple(decode_head.conv.conv.weight.shape) == \
        head['arg:conv6a_weight']
    assert tuple(decode_head.conv.conv.bias.shape) == head['arg:conv6a_bias']
    assert tuple(decode_head.conv_seg.weight.shape) == \
        head['arg:linear21_weight']
    assert tuple(decode_head.conv_seg.bias.shape) == head['arg:linear21_bias']
