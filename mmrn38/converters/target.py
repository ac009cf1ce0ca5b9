"""The model a conversion fills: its config for each task, the state it
expects, and filling that state from a source file, strictly (every array
used once, every key filled, shapes checked)."""
import warnings
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS as SEG_MODELS
from torch import Tensor

from ..models.backbones import ResNet38, scaled_channels
from .key_mapping import HeadSpec, backbone_source_name, head_source_name
from .sources import ConversionError, SourceWeights, short_list

TASKS = ('auto', 'cls', 'cam', 'seg', 'aff', 'backbone')
ARCHS = tuple(sorted(ResNet38.arch_settings))
OUT_STRIDES = tuple(sorted(ResNet38.stride_settings))
SEG_HEAD_DILATION = 12  # both convs of the released "2 conv" classifier


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
    # the backbone's own out_channels, from a meta-device build (no memory)
    with torch.device('meta'):
        in_channels = ResNet38(arch=arch, width=width).out_channels[-1]
    if task == 'aff':
        # PSA's taps: levels 4 and 5 (512, 1024 channels) and 7 (bn7)
        taps = (scaled_channels(512,
                                width), scaled_channels(1024,
                                                        width), in_channels)
        return dict(
            type='AffinityNet',
            backbone=dict(
                backbone, out_indices=(2, 3, 5), dropout_layout='psa'),
            head=dict(
                type='AffinityHead',
                in_channels=taps,
                channels=head.tap_channels))
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


def expected_state(src: str, cfg: dict,
                   task: str) -> Tuple[Dict[str, Tensor], set]:
    """State dict (on the meta device, no memory) of the model ``cfg`` and
    the names of its learnable parameters; backbone keys get the
    ``backbone.`` prefix."""
    if task == 'aff':
        try:
            import mmrn38.models.segmentors.affinity_net  # noqa: F401
        except ImportError:
            raise ConversionError(f'{src}: converting AffinityNet needs '
                                  f'mmpretrain (mmrn38.wsss); --task '
                                  f'backbone does not') from None
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


def fill_state_dict(src: str, source: SourceWeights, head: Optional[HeadSpec],
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
            name = backbone_source_name(key[len('backbone.'):], source.naming)
        else:
            name = head_source_name(key, source.naming, head)
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
            f'{len(names)} {label} ({short_list(names)})'
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
