"""Conversion of the original ResNet-38 weights into mmseg / mmpretrain
checkpoints, without MXNet (the target models are built with the mmseg /
mmpretrain stack).

Two source kinds are read:

* the MXNet ``.params`` files of the original release (ademxapp), names
  ``arg:res4b3_branch2a_weight``, ``aux:bn7_moving_var`` ... (any NDArray
  layout, see :mod:`.mxnet_ndarray`);
* PyTorch files of the PSA port (``resnet38d``), names
  ``b4_3.conv_branch2a.weight``, ``bn7.running_var`` ..., optionally with
  PSA's classifier ``fc8.weight`` (a bias-free 1x1 conv) or PSA's
  AffinityNet head (``f8_3`` ... ``f9``), loaded with
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
``aff``       PSA's ``AffinityNet``         ``backbone.*``, ``head.f8_3``,
              (``resnet38_aff``)            ``f8_4``, ``f8_5``, ``f9``
``backbone``  a ``ResNet38`` backbone       ``backbone.*`` (load with
                                            ``prefix='backbone.'``)
============  ============================  ===============================
"""
import os
import re
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch

from ..models.backbones import ResNet38
from ..utils.atomic_file import atomic_output
from ..version import __version__
from .key_mapping import HeadSpec, find_head
from .sources import (RELEASED_MD5, ConversionError, SourceWeights, file_md5,
                      read_source_weights, short_list)
from .target import (ARCHS, OUT_STRIDES, TASKS, expected_state,
                     fill_state_dict, model_config)

_NAME_ARCH = re.compile(r'rna-(a\d*)_', re.IGNORECASE)
_NAME_STRIDE = re.compile(r'_s(\d+)(?:_|\.|$)')


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
    elif task != 'backbone' and (head is None or task not in (
            head.task, 'cls' if head.task == 'cam' else head.task)):
        found = f'a {head.task} head ({", ".join(head.names)})' if head \
            else 'no head'
        raise ConversionError(f'{src}: has {found}, not a {task} head; use '
                              f'--task backbone to keep only the backbone')
    if num_classes is not None:
        if task in ('backbone', 'aff'):
            lacks = 'head' if task == 'backbone' else 'classifier'
            raise ConversionError(f'{src}: num_classes {num_classes} given '
                                  f'but the {task} checkpoint has no '
                                  f'{lacks}')
        if num_classes != head.num_classes:
            raise ConversionError(f'{src}: the head has {head.num_classes} '
                                  f'classes, not {num_classes}')
    return task


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
            ``'cam'`` (PSA's ``fc8``), ``'seg'``, ``'aff'`` (PSA's
            AffinityNet, ``f9``) or ``'backbone'`` (keep the
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
    width = stem.shape[0] / ResNet38.arch_settings[arch]['stem_channels']
    cfg = model_config(task, arch, out_stride, width, head)
    expected, param_keys = expected_state(src, cfg, task)
    state_dict, generated, dropped = fill_state_dict(
        src, source, head, expected, drop_leftovers,
        f'ResNet-38 {arch} (width {width:g}, task {task})')
    if dropped:
        warning_list.append(f'--task backbone dropped {len(dropped)} '
                            f'arrays: {short_list(dropped, 8)}')
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
        num_classes=head.num_classes if task not in ('backbone',
                                                     'aff') else None,
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
