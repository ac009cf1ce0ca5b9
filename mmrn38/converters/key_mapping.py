"""Where each key of an mmrn38 model comes from in a source file: MXNet
names (``res4b3_branch2a_weight``, ``bn7_moving_var`` ...) and PSA's
(``b4_3.conv_branch2a.weight`` ...), and the classifier a file holds."""
import re
from typing import NamedTuple, Optional, Tuple

from .sources import ConversionError, SourceWeights

# unit module of mmrn38 -> (MXNet kind, branch); PSA's kind is bn / conv
_UNIT_MODULES = {
    'norm1': ('bn', '2a'),
    'conv1': ('res', '2a'),
    'norm2': ('bn', '2b1'),
    'conv2': ('res', '2b1'),
    'norm3': ('bn', '2b2'),
    'conv3': ('res', '2b2'),
    'shortcut': ('res', '1'),
}
_MXNET_BN_SUFFIXES = {
    'weight': 'gamma',
    'bias': 'beta',
    'running_mean': 'moving_mean',
    'running_var': 'moving_var',
}
_MXNET_CLASSIFIER = re.compile(r'linear(\d+)_weight')


class HeadSpec(NamedTuple):
    """The classifier found in a source file.

    ``task`` is ``'cls'`` (global pooling + linear), ``'cam'`` (PSA's
    ``fc8``: global pooling + bias-free 1x1 conv, the CAM classifier; it
    converts to ``'cls'`` too), ``'seg'`` (WiderHead) or ``'aff'`` (PSA's
    AffinityNet head ``f8_3``, ``f8_4``, ``f8_5``, ``f9``; ``num_classes``
    0, ``tap_channels`` the outputs of the ``f8_*``);
    ``num_convs`` (1 or 2), ``channels`` (of ``conv6a``) and ``kernel_size``
    describe a WiderHead; ``names`` are the source names of the head.
    """
    task: str
    num_classes: int
    names: Tuple[str, ...]
    num_convs: int = 0
    channels: int = 0
    kernel_size: int = 0
    tap_channels: Tuple[int, ...] = ()


def find_head(source: SourceWeights) -> Optional[HeadSpec]:
    """The classifier of a source file, or None if it has none.

    MXNet: ``linear{K}`` with a 2-D weight is the image classifier (after
    global average pooling); with a 4-D ``k x k`` weight it is the
    segmentation classifier, preceded by ``conv6a`` in the "2 conv" head.
    PSA: ``fc8`` (a bias-free 1x1 conv after global average pooling) is the
    CAM classifier (``'cam'``); ``f9`` (with ``f8_3``, ``f8_4``, ``f8_5``,
    bias-free 1x1 convs) the affinity head of ``resnet38_aff``
    (``'aff'``).

    Raises:
        ConversionError: Several classifiers, or one whose shape disagrees
            with its name.
    """
    tensors = source.tensors
    if source.naming == 'psa':
        if 'f9.weight' in tensors:
            return _affinity_head(tensors)
        weight = tensors.get('fc8.weight')
        if weight is None:
            return None
        if weight.dim() != 4 or tuple(weight.shape[2:]) != (1, 1):
            raise ConversionError(f'fc8.weight has shape '
                                  f'{tuple(weight.shape)}, expected a 1x1 '
                                  f'conv (K, C, 1, 1)')
        names = tuple(n for n in ('fc8.weight', 'fc8.bias') if n in tensors)
        return HeadSpec('cam', weight.shape[0], names)
    classes = sorted(
        int(m.group(1)) for m in map(_MXNET_CLASSIFIER.fullmatch, tensors)
        if m)
    if not classes:
        return None
    if len(classes) > 1:
        raise ConversionError('several classifiers: ' +
                              ', '.join(f'linear{k}' for k in classes))
    num_classes = classes[0]
    name = f'linear{num_classes}'
    weight = tensors[f'{name}_weight']
    if weight.shape[0] != num_classes:
        raise ConversionError(f'{name}_weight has {weight.shape[0]} outputs, '
                              f'not {num_classes}')
    names = tuple(
        n for n in (f'{name}_weight', f'{name}_bias') if n in tensors)
    if weight.dim() == 2:
        return HeadSpec('cls', num_classes, names)
    if weight.dim() != 4 or weight.shape[2] != weight.shape[3]:
        raise ConversionError(f'{name}_weight has shape '
                              f'{tuple(weight.shape)}; expected (K, C) or '
                              f'(K, C, k, k)')
    hidden = tensors.get('conv6a_weight')
    if hidden is None:
        return HeadSpec(
            'seg',
            num_classes,
            names,
            num_convs=1,
            kernel_size=weight.shape[2])
    names += tuple(n for n in ('conv6a_weight', 'conv6a_bias') if n in tensors)
    return HeadSpec(
        'seg',
        num_classes,
        names,
        num_convs=2,
        channels=hidden.shape[0],
        kernel_size=weight.shape[2])


_AFFINITY_CONVS = ('f8_3', 'f8_4', 'f8_5', 'f9')


def _affinity_head(tensors) -> HeadSpec:
    """The ``'aff'`` head of a PSA ``resnet38_aff`` file."""
    names = tuple(f'{conv}.weight' for conv in _AFFINITY_CONVS)
    for name in names:
        weight = tensors.get(name)
        if weight is None:
            raise ConversionError(f'f9.weight but no {name}: not a PSA '
                                  f'resnet38_aff file')
        if weight.dim() != 4 or tuple(weight.shape[2:]) != (1, 1):
            raise ConversionError(f'{name} has shape {tuple(weight.shape)}, '
                                  f'expected a 1x1 conv (K, C, 1, 1)')
    return HeadSpec(
        'aff',
        0,
        names,
        tap_channels=tuple(tensors[n].shape[0] for n in names[:3]))


def backbone_source_name(key: str, naming: str) -> Optional[str]:
    """Source name of a ``ResNet38`` state-dict key (None: MXNet has no
    ``num_batches_tracked``)."""
    module, suffix = key.rsplit('.', 1)
    mxnet = naming == 'mxnet'
    if suffix == 'num_batches_tracked' and mxnet:
        return None
    if module == 'conv1a':
        return 'conv1a_weight' if mxnet else 'conv1a.weight'
    if module == 'final_norm':
        if mxnet:
            return f'bn7_{_MXNET_BN_SUFFIXES[suffix]}'
        return f'bn7.{suffix}'
    level, index, part = module.split('.')
    level, index = level[len('level'):], int(index)
    kind, branch = _UNIT_MODULES[part]
    if mxnet:
        unit = f'{level}a' if index == 0 else f'{level}b{index}'
        if kind == 'bn':
            suffix = _MXNET_BN_SUFFIXES[suffix]
        return f'{kind}{unit}_branch{branch}_{suffix}'
    block = f'b{level}' if index == 0 else f'b{level}_{index}'
    psa_kind = 'bn' if kind == 'bn' else 'conv'
    return f'{block}.{psa_kind}_branch{branch}.{suffix}'


def head_source_name(key: str, naming: str, head: HeadSpec) -> Optional[str]:
    """Source name of a head key."""
    suffix = key.rsplit('.', 1)[1]
    if head.task == 'aff':
        return key[len('head.'):]
    if key.startswith('decode_head.conv.'):
        return f'conv6a_{suffix}'
    if naming == 'psa':
        return f'fc8.{suffix}'
    return f'linear{head.num_classes}_{suffix}'
