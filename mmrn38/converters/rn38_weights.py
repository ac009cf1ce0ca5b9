"""Conversion of the original ResNet-38 weights into mmseg / mmpretrain
checkpoints, without MXNet (the target models are built with the mmseg /
mmpretrain stack).

Two source kinds are read:

* the MXNet ``.params`` files of the original release (ademxapp), names
  ``arg:res4b3_branch2a_weight``, ``aux:bn7_moving_var`` ... (any NDArray
  layout, see :mod:`.mxnet_ndarray`);
* PyTorch files of the PSA port (``resnet38d``), names
  ``b4_3.conv_branch2a.weight``, ``bn7.running_var`` ..., optionally with
  PSA's classifier ``fc8.weight`` (a bias-free 1x1 conv), loaded with
  ``torch.load(weights_only=True)``.

Every source array must land on one key of the mmrn38 model built for the
task, with the same shape, and every key of that model must be filled;
otherwise :class:`ConversionError` lists what is missing, unexpected or
mis-shaped. Only BN's ``num_batches_tracked`` (0) and the bias of PSA's
bias-free classifier (zeros) are generated.

Key layout of the result (``state_dict``):

============  ============================  ===============================
task          model                         keys
============  ============================  ===============================
``seg``       mmseg ``EncoderDecoder``      ``backbone.*``, ``decode_head.
                                            conv.conv.*`` (``conv6a``),
                                            ``decode_head.conv_seg.*``
                                            (``linear{K}``)
``cls``       mmpretrain ``ImageClassifier`` ``backbone.*``, ``head.fc.*``
                                            (``linear{K}`` / ``fc8``)
``cam``       mmpretrain ``ImageClassifier`` ``backbone.*``, ``head.fc.
              with PSA's ``CAMHead``        weight`` (``fc8``, 1x1 conv)
``backbone``  a ``ResNet38`` backbone       ``backbone.*`` (load with
                                            ``prefix='backbone.'``)
============  ============================  ===============================
"""
import hashlib
import os
import re
import struct
import warnings
from collections import OrderedDict
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS as SEG_MODELS
from torch import Tensor

from ..utils.atomic_file import atomic_output
from ..version import __version__
from .mxnet_ndarray import LIST_MAGIC, load_ndarray_list

# Published by the original release (ademxapp, models/checksum.md5).
RELEASED_MD5 = {
    'ilsvrc-cls_rna-a_cls1000_ep-0001.params':
    '2421c1945b6797cecd3f89db14ca73f6',
    'ilsvrc-cls_rna-a1_cls1000_ep-0001.params':
    'ff21f45d6bf03284100dcbec571edfad',
    'voc_rna-a1_cls21_s8_ep-0001.params': 'a34628a63d5f62dcb98c29c4e281f332',
    'voc_rna-a1_cls21_s8_coco_ep-0001.params':
    '328c0eca0c45b6345ada2f95edce68d4',
    'cityscapes_rna-a1_cls19_s8_ep-0001.params':
    '226b3e861a6be7d0dc84e537f4eab154',
    'ade20k_rna-a1_cls150_s8_ep-0001.params':
    '1faf29850bfa194678f0b8e1cbbffa98',
}
TASKS = ('auto', 'cls', 'cam', 'seg', 'backbone')
ARCHS = ('A', 'A1')
OUT_STRIDES = (8, 16, 32)
STEM_CHANNELS = 64  # conv1a at width 1
SEG_HEAD_DILATION = 12  # both convs of the released "2 conv" classifier

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
_NAME_ARCH = re.compile(r'rna-(a\d*)_', re.IGNORECASE)
_NAME_STRIDE = re.compile(r'_s(\d+)(?:_|\.|$)')
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = b'\x80'


class ConversionError(ValueError):
    """A source file that cannot become a complete mmrn38 checkpoint.

    Attributes:
        missing (list[str]): Source names the model needs but the file lacks.
        unexpected (list[str]): Source names the model has no place for.
        mismatched (list[str]): Source names whose shape or dtype is wrong,
            with both shapes.
    """

    def __init__(self, message: str, missing=(), unexpected=(), mismatched=()):
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


class SourceWeights(NamedTuple):
    """Named tensors of a source file.

    ``tensors`` maps source names (MXNet names without ``arg:`` / ``aux:``,
    PSA names without a ``module.`` prefix) to tensors; ``naming`` is
    ``'mxnet'`` or ``'psa'``; ``file_format`` describes the file.
    """
    tensors: Dict[str, Tensor]
    naming: str
    file_format: str


class HeadSpec(NamedTuple):
    """The classifier found in a source file.

    ``task`` is ``'cls'`` (global pooling + linear), ``'cam'`` (PSA's
    ``fc8``: global pooling + bias-free 1x1 conv, the CAM classifier; it
    converts to ``'cls'`` too) or ``'seg'`` (WiderHead);
    ``num_convs`` (1 or 2), ``channels`` (of ``conv6a``) and ``kernel_size``
    describe a WiderHead; ``names`` are the source names of the head.
    """
    task: str
    num_classes: int
    names: Tuple[str, ...]
    num_convs: int = 0
    channels: int = 0
    kernel_size: int = 0


class Conversion(NamedTuple):
    """Result of :func:`convert_rn38_weights`.

    ``checkpoint`` is ``{'meta': ..., 'state_dict': ...}``; ``num_arrays`` the
    number of source arrays; ``num_parameters`` the learnable parameters of
    the model; ``dropped`` the source names left out by ``task='backbone'``;
    ``generated`` the keys not read from the source; ``notes`` says where the
    arch came from and how the MD5 compares with the release; ``warnings``
    what deserves the user's attention.
    """
    checkpoint: dict
    source: SourceWeights
    num_arrays: int
    num_parameters: int
    dropped: List[str]
    generated: List[str]
    notes: Dict[str, str]
    warnings: List[str]


def file_md5(path: str, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file."""
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def read_source_weights(
        path: str,
        progress: Optional[Callable[[int, int],
                                    None]] = None) -> SourceWeights:
    """Read the named tensors of an MXNet ``.params`` or a PyTorch file.

    The format is told by the file's first bytes (NDArray list magic, zip or
    pickle), not by its name; a ``.params`` file that is neither is handed to
    the MXNet reader, whose error says what is wrong with it.

    Args:
        path (str): The source file.
        progress (callable, optional): ``progress(bytes_read, file_size)``,
            called while an MXNet file is read.

    Raises:
        MXNetParamsError: A malformed MXNet file.
        ConversionError: Any other unreadable or unrecognised file.
    """
    with open(path, 'rb') as f:
        head = f.read(8)
    is_mxnet = len(head) == 8 and struct.unpack('<Q', head)[0] == LIST_MAGIC
    is_torch = head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO)
    if is_mxnet or (not is_torch and path.endswith('.params')):
        return _read_mxnet_weights(path, progress)
    if is_torch:
        return _read_torch_weights(path, head.startswith(_ZIP_MAGIC))
    raise ConversionError(f'{path}: neither an MXNet NDArray list file '
                          f'(.params) nor a PyTorch file (.pth); it starts '
                          f'with {head!r}')


def _read_mxnet_weights(path, progress):
    ndarrays = load_ndarray_list(path, progress)
    tensors = {}
    for name, array in ndarrays.arrays.items():
        bare = name.split(':', 1)[1] if name[:4] in ('arg:', 'aux:') else name
        if bare in tensors:
            raise ConversionError(f'{path}: {bare} is stored twice (as arg: '
                                  f'and aux:)')
        tensors[bare] = torch.from_numpy(array)
    layouts = '+'.join(ndarrays.layouts) or 'no arrays'
    return SourceWeights(tensors, _naming_of(path, tensors),
                         f'MXNet NDArray list, {layouts} layout')


def _read_torch_weights(path, is_zip):
    try:
        content = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch.load raises many types on bad files
        reason = str(error).strip().splitlines()
        raise ConversionError(
            f'{path}: torch.load(weights_only=True) cannot read it: '
            f'{type(error).__name__}: {reason[0] if reason else ""}') from None
    if isinstance(content, dict):
        for wrapper in ('state_dict', 'model'):
            if isinstance(content.get(wrapper), dict):
                content = content[wrapper]
                break
    if not isinstance(content, dict):
        raise ConversionError(f'{path}: holds a {type(content).__name__}, '
                              f'not a state dict')
    not_tensors = [
        str(k) for k, v in content.items()
        if not (isinstance(k, str) and isinstance(v, Tensor))
    ]
    if not_tensors:
        raise ConversionError(f'{path}: entries that are not named tensors: '
                              f'{_short_list(not_tensors)}')
    tensors = dict(content)
    if tensors and all(k.startswith('module.') for k in tensors):
        tensors = {k[len('module.'):]: v for k, v in tensors.items()}
    kind = 'zip' if is_zip else 'legacy pickle'
    return SourceWeights(tensors, _naming_of(path, tensors),
                         f'PyTorch {kind} file')


def _naming_of(path: str, tensors: Dict[str, Tensor]) -> str:
    """``'mxnet'`` or ``'psa'``, told by the name of the stem conv."""
    if 'conv1a_weight' in tensors:
        return 'mxnet'
    if 'conv1a.weight' in tensors:
        return 'psa'
    if 'backbone.conv1a.weight' in tensors:
        raise ConversionError(f'{path}: already an mmrn38 checkpoint '
                              f'(backbone.conv1a.weight)')
    raise ConversionError(f'{path}: no ResNet-38 stem conv (conv1a_weight or '
                          f'conv1a.weight) among its {len(tensors)} arrays '
                          f'({_short_list(list(tensors))})')


def _short_list(items: List[str], limit: int = 4) -> str:
    """``'a, b, c and 7 more'``."""
    shown = ', '.join(items[:limit])
    if len(items) > limit:
        shown += f' and {len(items) - limit} more'
    return shown


def find_head(source: SourceWeights) -> Optional[HeadSpec]:
    """The classifier of a source file, or None if it has none.

    MXNet: ``linear{K}`` with a 2-D weight is the image classifier (after
    global average pooling); with a 4-D ``k x k`` weight it is the
    segmentation classifier, preceded by ``conv6a`` in the "2 conv" head.
    PSA: ``fc8`` (a bias-free 1x1 conv after global average pooling) is the
    CAM classifier (``'cam'``).

    Raises:
        ConversionError: Several classifiers, or one whose shape disagrees
            with its name.
    """
    tensors = source.tensors
    if source.naming == 'psa':
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


def _backbone_source_name(key: str, naming: str) -> Optional[str]:
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


def _head_source_name(key: str, naming: str, head: HeadSpec) -> Optional[str]:
    """Source name of a head key."""
    suffix = key.rsplit('.', 1)[1]
    if key.startswith('decode_head.conv.'):
        return f'conv6a_{suffix}'
    if naming == 'psa':
        return f'fc8.{suffix}'
    return f'linear{head.num_classes}_{suffix}'


def model_config(task: str,
                 arch: str,
                 out_stride: int,
                 width: float,
                 head: Optional[HeadSpec] = None) -> dict:
    """Config of the model a converted checkpoint loads into strictly.

    ``task='seg'``: an mmseg ``EncoderDecoder`` with a ``WiderHead``;
    ``'cls'``: an mmpretrain ``ImageClassifier`` (global average pooling,
    ``LinearClsHead``); ``'cam'``: an ``ImageClassifier`` with PSA's dropout
    layout and ``CAMHead`` (``configs/wsss/rn38_voc_cls.py``);
    ``'backbone'``: the ``ResNet38`` alone.
    """
    backbone = dict(
        type='ResNet38', arch=arch, out_stride=out_stride, width=width)
    if task == 'backbone':
        return backbone
    in_channels = max(1, int(round(4096 * width)))
    if task == 'cam':
        return dict(
            type='ImageClassifier',
            backbone=dict(backbone, dropout_layout='psa'),
            head=dict(
                type='CAMHead',
                num_classes=head.num_classes,
                in_channels=in_channels))
    if task == 'cls':
        return dict(
            type='ImageClassifier',
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=head.num_classes,
                in_channels=in_channels))
    return dict(
        type='EncoderDecoder',
        backbone=backbone,
        decode_head=dict(
            type='WiderHead',
            num_convs=head.num_convs,
            in_channels=in_channels,
            channels=head.channels if head.num_convs == 2 else in_channels,
            num_classes=head.num_classes,
            kernel_size=head.kernel_size,
            dilation=SEG_HEAD_DILATION))


def _name_hints(path: str) -> Tuple[Optional[str], Optional[int]]:
    """Arch (``'A'``, ``'A1'`` ...) and output stride told by a released-
    style file name (``..._rna-a1_cls21_s8_...``)."""
    name = os.path.basename(path)
    arch = _NAME_ARCH.search(name)
    stride = _NAME_STRIDE.search(name)
    return (arch.group(1).upper() if arch else None,
            int(stride.group(1)) if stride else None)


def _compare_with_release(src: str,
                          md5: str) -> Tuple[Optional[str], str, List[str]]:
    """The released file ``md5`` belongs to (or None), a note on it, and a
    warning if ``src`` bears a released name but not its MD5."""
    released = [name for name, digest in RELEASED_MD5.items() if digest == md5]
    if released:
        return released[0], f'{md5}, matches the released {released[0]}', []
    base = os.path.basename(src)
    if base in RELEASED_MD5:
        return None, f'{md5}, does NOT match the released {base}', [
            f'{base} has MD5 {md5}, not the published {RELEASED_MD5[base]}: '
            f'a modified, re-saved or damaged copy'
        ]
    return None, f'{md5} (not one of the released files)', []


def _resolve_task(src: str, task: str, head: Optional[HeadSpec],
                  num_classes: Optional[int]) -> str:
    """The task to convert for; checks it and ``num_classes`` against the
    head found in the file."""
    if task == 'auto':
        task = head.task if head else 'backbone'
    elif task in ('cls', 'cam', 'seg') and (head is None or task not in (
            head.task, 'cls' if head.task == 'cam' else head.task)):
        found = f'a {head.task} head ({", ".join(head.names)})' if head \
            else 'no head'
        raise ConversionError(f'{src}: has {found}, not a {task} head; use '
                              f'--task backbone to keep only the backbone')
    if num_classes is not None:
        if task == 'backbone':
            raise ConversionError(f'{src}: num_classes {num_classes} given '
                                  f'but the {task} checkpoint has no head')
        if num_classes != head.num_classes:
            raise ConversionError(f'{src}: the head has {head.num_classes} '
                                  f'classes, not {num_classes}')
    return task


def _expected_state(src: str, cfg: dict,
                    task: str) -> Tuple[Dict[str, Tensor], set]:
    """State dict (on the meta device, no memory) of the model ``cfg`` and
    the names of its learnable parameters; backbone keys get the
    ``backbone.`` prefix."""
    if task in ('cls', 'cam'):
        try:
            from mmpretrain.registry import MODELS
            if task == 'cam':
                import mmrn38.models.heads  # noqa: F401  CAMHead
        except ImportError:
            raise ConversionError(f'{src}: converting a classifier needs '
                                  f'mmpretrain; --task backbone does '
                                  f'not') from None
    else:
        MODELS = SEG_MODELS
    # build in the library's own scope: a default scope another library set
    # in this process (mmseg's register_all_modules, init_model) would
    # otherwise redirect the lookup of e.g. ImageClassifier
    with warnings.catch_warnings(), torch.device('meta'), \
            DefaultScope.overwrite_default_scope(MODELS.scope):
        warnings.simplefilter('ignore')
        model = MODELS.build(cfg)
    prefix = 'backbone.' if task == 'backbone' else ''
    state = OrderedDict((prefix + k, v) for k, v in model.state_dict().items())
    params = {prefix + k for k, _ in model.named_parameters()}
    return state, params


def _fill_state_dict(src: str, source: SourceWeights, head: Optional[HeadSpec],
                     expected: Dict[str, Tensor], drop_leftovers: bool,
                     description: str):
    """Fill every key of ``expected`` from ``source``.

    Args:
        drop_leftovers (bool): Leave out the source arrays that have no key
            (``task='backbone'`` given explicitly) instead of failing.
        description (str): What the model is, for the error message.

    Returns:
        tuple: The state dict, the generated keys and the source names left
        out.

    Raises:
        ConversionError: Listing the missing, unexpected (unless
            ``drop_leftovers``) and mis-shaped source names.
    """
    tensors = source.tensors
    state_dict = OrderedDict()
    missing, mismatched, generated, consumed = [], [], [], set()
    for key, target in expected.items():
        if key.startswith('backbone.'):
            name = _backbone_source_name(key[len('backbone.'):], source.naming)
        else:
            name = _head_source_name(key, source.naming, head)
        optional = key.endswith('.num_batches_tracked') or name == 'fc8.bias'
        if name is None or (optional and name not in tensors):
            state_dict[key] = torch.zeros(target.shape, dtype=target.dtype)
            generated.append(key)
            continue
        if name not in tensors:
            missing.append(name)
            continue
        consumed.add(name)
        tensor = tensors[name]
        if name == 'fc8.weight' and target.dim() == 2:  # LinearClsHead
            tensor = tensor.flatten(1)
        if tuple(tensor.shape) != tuple(target.shape):
            mismatched.append(f'{name} {tuple(tensor.shape)} (model '
                              f'{tuple(target.shape)})')
        elif tensor.is_floating_point() != target.is_floating_point():
            mismatched.append(f'{name} dtype {tensor.dtype} (model '
                              f'{target.dtype})')
        else:
            state_dict[key] = tensor.to(target.dtype).contiguous()
    leftover = [name for name in tensors if name not in consumed]
    dropped, unexpected = (leftover, []) if drop_leftovers else \
        ([], leftover)
    if missing or unexpected or mismatched:
        problems = [
            f'{len(names)} {label} ({_short_list(names)})'
            for label, names in (('missing', missing), ('unexpected',
                                                        unexpected),
                                 ('mis-shaped', mismatched)) if names
        ]
        hint = '' if missing or mismatched else \
            ' (--task backbone keeps only the backbone)'
        raise ConversionError(
            f'{src}: does not fit {description}: ' + '; '.join(problems) +
            hint,
            missing=missing,
            unexpected=unexpected,
            mismatched=mismatched)
    return state_dict, generated, dropped


def convert_rn38_weights(
        src: str,
        task: str = 'auto',
        num_classes: Optional[int] = None,
        arch: Optional[str] = None,
        out_stride: Optional[int] = None,
        progress: Optional[Callable[[int, int], None]] = None) -> Conversion:
    """Convert original ResNet-38 weights into an mmrn38 checkpoint.

    Args:
        src (str): An MXNet ``.params`` file of the original release or a
            PyTorch file of the PSA port.
        task (str): ``'auto'`` (from the head in the file), ``'cls'``,
            ``'cam'`` (PSA's ``fc8``), ``'seg'`` or ``'backbone'`` (keep the
            backbone, drop everything else and report it).
        num_classes (int, optional): Expected number of classes; a head of
            another size is an error.
        arch (str, optional): ``'A'`` or ``'A1'``. MXNet names and shapes of
            both models are identical, so by default it is read from the
            file name (``rna-a_`` / ``rna-a1_``; a renamed released file is
            recognised by its MD5), else A1.
        out_stride (int, optional): Output stride recorded in the config
            (shapes do not depend on it); by default from the file name
            (``_s8``), else 8 for segmentation and PSA files (PSA's network
            is dilated to stride 8), 32 for ImageNet classifiers.
        progress (callable, optional): ``progress(bytes_read, file_size)``
            while an MXNet file is read.

    Returns:
        Conversion: The checkpoint and what the conversion did.

    Raises:
        MXNetParamsError: A malformed MXNet file.
        ConversionError: Any other reason the file cannot become a complete
            checkpoint for the task.
    """
    if task not in TASKS:
        raise ValueError(f'task must be one of {TASKS}, got {task!r}')
    drop_leftovers = task == 'backbone'
    if arch is not None and arch not in ARCHS:
        raise ValueError(f'arch must be one of {ARCHS}, got {arch!r}')
    if out_stride is not None and out_stride not in OUT_STRIDES:
        raise ValueError(f'out_stride must be one of {OUT_STRIDES}, got '
                         f'{out_stride!r}')
    source = read_source_weights(src, progress)
    md5 = file_md5(src)
    released_name, md5_note, warning_list = _compare_with_release(src, md5)
    try:
        head = find_head(source)
    except ConversionError as error:
        raise ConversionError(f'{src}: {error}') from None
    task = _resolve_task(src, task, head, num_classes)

    name_arch, name_stride = _name_hints(released_name or src)
    if arch is not None:
        arch_note = 'given'
        if name_arch is not None and name_arch != arch:
            warning_list.append(f'{os.path.basename(src)}: its name says '
                                f'Model {name_arch}, converting as the given '
                                f'{arch}')
    elif name_arch is not None:
        if name_arch not in ARCHS:
            raise ConversionError(f'{src}: its name says Model {name_arch}, '
                                  f'which mmrn38 does not build; give the '
                                  f'arch explicitly')
        arch, arch_note = name_arch, 'from the file name'
    else:
        arch, arch_note = 'A1', 'default'
        if source.naming == 'mxnet':
            warning_list.append(
                f'{os.path.basename(src)}: Model A and A1 files have the same '
                f'names and shapes and its name says neither (rna-a_ / '
                f'rna-a1_): converting as A1; give --arch A for a Model A '
                f'file')
    if out_stride is None:
        if name_stride in OUT_STRIDES:
            out_stride = name_stride
        elif source.naming == 'psa' or (head and head.task == 'seg'):
            out_stride = 8
        else:
            out_stride = 32

    stem = source.tensors['conv1a_weight' if source.naming ==
                          'mxnet' else 'conv1a.weight']
    if stem.dim() != 4 or stem.shape[0] < 1:
        raise ConversionError(f'{src}: the stem conv conv1a has shape '
                              f'{tuple(stem.shape)}, expected (C, 3, 3, 3)')
    width = stem.shape[0] / STEM_CHANNELS
    cfg = model_config(task, arch, out_stride, width, head)
    expected, param_keys = _expected_state(src, cfg, task)
    state_dict, generated, dropped = _fill_state_dict(
        src, source, head, expected, drop_leftovers,
        f'ResNet-38 {arch} (width {width:g}, task {task})')
    if dropped:
        warning_list.append(f'--task backbone dropped {len(dropped)} '
                            f'arrays: {_short_list(dropped, 8)}')
    meta = dict(
        converted_by=f'mmrn38 {__version__} rn38_to_mm',
        source=os.path.basename(src),
        source_format=source.file_format,
        source_md5=md5,
        released_as=released_name,
        task=task,
        arch=arch,
        out_stride=out_stride,
        width=width,
        num_classes=head.num_classes if task != 'backbone' else None,
        model=cfg,
        dropped=dropped)
    return Conversion(
        checkpoint=dict(meta=meta, state_dict=state_dict),
        source=source,
        num_arrays=len(source.tensors),
        num_parameters=sum(state_dict[k].numel() for k in param_keys),
        dropped=dropped,
        generated=generated,
        notes=dict(md5=md5_note, arch=arch_note),
        warnings=warning_list)


def write_checkpoint(checkpoint: dict, dst: str) -> None:
    """``torch.save`` to ``dst`` atomically: the data goes to a hidden file
    in the same directory, which replaces ``dst`` only once complete, so an
    interrupted run leaves no (partial) ``dst``."""
    with atomic_output(dst) as tmp, open(tmp, 'xb') as f:
        torch.save(checkpoint, f)
        f.flush()
        os.fsync(f.fileno())
