"""Conversion of the original ResNet-38 weights (mmrn38.converters).

The reference files in ``tests/data/mxnet`` were written by MXNet 1.9.1 from
a ResNet-38 with every channel count divided by 16 and the parameter names of
the original release; ``<case>_out.npy`` is what MXNet computed on
``<case>_in.npy`` (see ``tests/data/mxnet/README.md``).
"""
import os
import os.path as osp
import struct

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as CLS_MODELS
from mmseg.registry import MODELS as SEG_MODELS
from rn38_testing import rn38_segmentor_cfg

import mmrn38  # noqa: F401  (registers ResNet38 and WiderHead)
from mmrn38.converters import (RELEASED_MD5, ConversionError, MXNetParamsError,
                               convert_rn38_weights, file_md5,
                               load_ndarray_list, write_checkpoint)
from mmrn38.models import ResNet38

DATA = osp.join(osp.dirname(osp.abspath(__file__)), 'data', 'mxnet')
WIDTH = 1 / 16
RTOL = 1e-5  # of max |reference|

# case -> (arch, out_stride, what the reference output is)
CASES = {
    'a1_cls_div16': ('A1', 32, 'cls'),
    'a_cls_div16': ('A', 32, 'cls'),
    'a1_s8_feat_div16': ('A1', 8, 'feat'),
    'a1_s16_feat_div16': ('A1', 16, 'feat'),
    'a1_s8_seg2_div16': ('A1', 8, 'seg'),
    'a1_s8_seg1_div16': ('A1', 8, 'seg'),
}
# other layouts of the same weights: file -> (case, layout)
LAYOUT_FILES = {
    'a1_cls_div16_legacy': ('a1_cls_div16', 'legacy'),
    'a_cls_div16_v1': ('a_cls_div16', 'v1'),
    'a1_s8_seg2_div16_legacy': ('a1_s8_seg2_div16', 'legacy'),
}


def data_path(name):
    return osp.join(DATA, name)


# --------------------------------------------------------------------------
# An NDArray list writer, to make V3 files and corrupted ones
# --------------------------------------------------------------------------
ARRAY_MAGIC = {'v1': 0xF993FAC8, 'v2': 0xF993FAC9, 'v3': 0xF993FACA}
DTYPE_FLAG = {
    np.dtype(np.float32): 0,
    np.dtype(np.float64): 1,
    np.dtype(np.float16): 2,
    np.dtype(np.uint8): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int8): 5,
    np.dtype(np.int64): 6,
}


def ndarray_record(array,
                   layout='v2',
                   magic=None,
                   storage=0,
                   dtype_flag=None,
                   shape=None):
    """One array as ``NDArray::Save`` writes it (``shape`` overrides the
    written shape, e.g. ``[]`` or ``[-1]``)."""
    shape = list(array.shape) if shape is None else shape
    if layout == 'legacy':
        head = struct.pack(f'<I{len(shape)}I', len(shape), *shape)
    else:
        head = struct.pack('<I',
                           ARRAY_MAGIC[layout] if magic is None else magic)
        if layout in ('v2', 'v3'):
            head += struct.pack('<i', storage)
        ndim = -1 if shape == [-1] and layout == 'v3' else len(shape)
        dims = [] if ndim == -1 else shape
        head += struct.pack(f'<i{len(dims)}q', ndim, *dims)
    flag = DTYPE_FLAG[array.dtype] if dtype_flag is None else dtype_flag
    head += struct.pack('<iii', 1, 0, flag)  # cpu(0), dtype
    return head + array.astype(array.dtype.newbyteorder('<')).tobytes()


def ndarray_list_bytes(arrays,
                       layout='v2',
                       names=None,
                       list_magic=0x112,
                       overrides=None):
    """A whole list file; ``overrides`` maps an array index to keyword
    arguments of :func:`ndarray_record`."""
    overrides = overrides or {}
    names = list(arrays) if names is None else names
    out = struct.pack('<QQQ', list_magic, 0, len(arrays))
    for index, array in enumerate(arrays.values()):
        kwargs = dict(layout=layout, **overrides.get(index, {}))
        out += ndarray_record(array, **kwargs)
    out += struct.pack('<Q', len(names))
    for name in names:
        raw = name.encode()
        out += struct.pack('<Q', len(raw)) + raw
    return out


def write(path, content):
    with open(path, 'wb') as f:
        f.write(content)
    return str(path)


# --------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(LAYOUT_FILES))
def test_reader_layouts_agree(name):
    case, layout = LAYOUT_FILES[name]
    plain = load_ndarray_list(data_path(case + '.params'))
    other = load_ndarray_list(data_path(name + '.params'))
    assert plain.layouts == ('v2', )
    assert other.layouts == (layout, )
    assert list(other.arrays) == list(plain.arrays)
    for key, array in plain.arrays.items():
        assert other.arrays[key].dtype == np.float32
        np.testing.assert_array_equal(other.arrays[key], array)


def test_reader_v3_and_dtypes(tmp_path):
    arrays = {
        'arg:w16': np.arange(6, dtype=np.float16).reshape(2, 3),
        'arg:w64': np.linspace(0, 1, 4),
        'aux:scalar': np.array(2.5, dtype=np.float32),
        'aux:empty': np.zeros((0, 3), dtype=np.float32),
        'aux:ints': np.array([1, -2, 3], dtype=np.int64),
    }
    path = write(tmp_path / 'v3.params', ndarray_list_bytes(arrays, 'v3'))
    loaded = load_ndarray_list(path)
    assert loaded.layouts == ('v3', )
    assert loaded.num_bytes == os.path.getsize(path)
    for key, array in arrays.items():
        assert loaded.arrays[key].dtype == array.dtype
        assert loaded.arrays[key].shape == array.shape
        np.testing.assert_array_equal(loaded.arrays[key], array)


def test_reader_reports_progress():
    path = data_path('a1_s8_seg1_div16.params')
    calls = []
    loaded = load_ndarray_list(path, progress=lambda *a: calls.append(a))
    size = os.path.getsize(path)
    assert len(calls) == len(loaded.arrays) + 1
    assert calls[-1] == (size, size)
    assert all(total == size for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


SMALL = {
    'arg:conv_weight': np.arange(6, dtype=np.float32).reshape(2, 3),
    'aux:bn_moving_mean': np.ones(4, dtype=np.float32),
}
BAD_FILES = {
    'wrong list magic': (ndarray_list_bytes(SMALL, list_magic=0x113),
                         r'wrong list magic 0x113'),
    'truncated array':
    (ndarray_list_bytes(SMALL)[:70],
     r'truncated array #0 \(shape \(2, 3\), float32\) data at byte 64: '
     r'needs 24 bytes, the file has 6 left'),
    'truncated name': (ndarray_list_bytes(SMALL)[:-3],
                       r'truncated name #1 at byte'),
    'trailing bytes': (ndarray_list_bytes(SMALL) + b'\0' * 5,
                       r'5 trailing bytes'),
    'name count': (ndarray_list_bytes(SMALL, names=['arg:conv_weight']),
                   r'name count 1 differs from array count 2'),
    'row-sparse storage':
    (ndarray_list_bytes(SMALL, overrides={1: dict(storage=1)}),
     r'array #1 at byte \d+ has sparse storage '
     r'\(row_sparse\)'),
    'csr storage': (ndarray_list_bytes(SMALL, overrides={0: dict(storage=2)}),
                    r'sparse storage \(csr\)'),
    'unknown storage':
    (ndarray_list_bytes(SMALL, overrides={0: dict(storage=5)}),
     r'unknown storage type 5'),
    'unknown dtype flag':
    (ndarray_list_bytes(SMALL, overrides={1: dict(dtype_flag=9)}),
     r'array #1 at byte \d+ has an unknown dtype flag 9'),
    'unknown array magic':
    (ndarray_list_bytes(SMALL, overrides={0: dict(magic=0xDEADBEEF)}),
     r'starts with 0xDEADBEEF, which is no NDArray '
     r'magic'),
    'none array': (ndarray_list_bytes(SMALL, overrides={0: dict(shape=[])}),
                   r'array #0 at byte 24 is an empty \(none\) NDArray'),
    'v3 unknown shape':
    (ndarray_list_bytes(SMALL, 'v3', overrides={0: dict(shape=[-1])}),
     r'empty \(none\) NDArray'),
    'duplicate names': (ndarray_list_bytes(SMALL, names=['arg:a', 'arg:a']),
                        r'duplicate array names arg:a'),
    'empty file': (b'', r'truncated list header at byte 0'),
}


@pytest.mark.parametrize('case', sorted(BAD_FILES))
def test_reader_rejects_bad_files(tmp_path, case):
    content, pattern = BAD_FILES[case]
    path = write(tmp_path / 'bad.params', content)
    with pytest.raises(MXNetParamsError, match=pattern) as info:
        load_ndarray_list(path)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(path + ': ')


# --------------------------------------------------------------------------
# Conversion against MXNet's own outputs
# --------------------------------------------------------------------------
def build_model(arch, out_stride, kind, checkpoint):
    """The mmrn38 model of a reference case, independently of the converter's
    own model config."""
    backbone = dict(
        type='ResNet38', arch=arch, out_stride=out_stride, width=WIDTH)
    state_dict = checkpoint['state_dict']
    if kind == 'feat':
        model = ResNet38(arch=arch, out_stride=out_stride, width=WIDTH)
        state_dict = {k[len('backbone.'):]: v for k, v in state_dict.items()}
    elif kind == 'cls':
        # mmpretrain's scope, whatever default scope an earlier test left
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            model = CLS_MODELS.build(
                dict(
                    type='ImageClassifier',
                    backbone=backbone,
                    neck=dict(type='GlobalAveragePooling'),
                    head=dict(
                        type='LinearClsHead',
                        num_classes=1000,
                        in_channels=256)))
    else:
        num_convs = 2 if 'decode_head.conv.conv.weight' in state_dict else 1
        model = SEG_MODELS.build(
            rn38_segmentor_cfg(
                backbone,
                num_convs=num_convs,
                channels=512 // 16 if num_convs == 2 else 256))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def run_model(model, kind, inputs):
    with torch.no_grad():
        if kind == 'feat':
            return model(inputs)[-1]
        return model(inputs, mode='tensor')


def assert_matches_reference(path, case):
    arch, out_stride, kind = CASES[case]
    conversion = convert_rn38_weights(path, arch=arch, out_stride=out_stride)
    meta = conversion.checkpoint['meta']
    expected_task = 'backbone' if kind == 'feat' else kind
    assert (meta['task'], meta['arch'], meta['out_stride'],
            meta['width']) == (expected_task, arch, out_stride, WIDTH)
    model = build_model(arch, out_stride, kind, conversion.checkpoint)
    inputs = torch.from_numpy(np.load(data_path(case + '_in.npy')))
    reference = np.load(data_path(case + '_out.npy'))
    output = run_model(model, kind, inputs).numpy()
    assert output.shape == reference.shape
    max_diff = np.abs(output - reference).max()
    assert max_diff <= RTOL * np.abs(reference).max(), \
        f'{case}: max |diff| {max_diff:.3g}, max |ref| ' \
        f'{np.abs(reference).max():.3g}'


@pytest.mark.parametrize('case', list(CASES))
def test_matches_mxnet(case):
    assert_matches_reference(data_path(case + '.params'), case)


@pytest.mark.parametrize('name', sorted(LAYOUT_FILES))
def test_matches_mxnet_other_layouts(name):
    assert_matches_reference(
        data_path(name + '.params'), LAYOUT_FILES[name][0])


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('case', ['a1_s8_seg2_div16', 'a_cls_div16'])
def test_matches_mxnet_v3(tmp_path, case, dtype):
    """A V3 file (MXNet's NumPy-shape mode), rewritten from the V2 one."""
    arrays = load_ndarray_list(data_path(case + '.params')).arrays
    arrays = {k: v.astype(dtype) for k, v in arrays.items()}
    path = write(tmp_path / 'v3.params', ndarray_list_bytes(arrays, 'v3'))
    assert load_ndarray_list(path).layouts == ('v3', )
    assert_matches_reference(path, case)


def test_float16_weights_become_float32(tmp_path):
    arrays = load_ndarray_list(data_path('a1_s8_seg1_div16.params')).arrays
    half = {k: v.astype(np.float16) for k, v in arrays.items()}
    path = write(tmp_path / 'f16.params', ndarray_list_bytes(half))
    state_dict = convert_rn38_weights(path).checkpoint['state_dict']
    key = 'backbone.level4.3.conv1.weight'
    assert state_dict[key].dtype == torch.float32
    np.testing.assert_array_equal(
        state_dict[key].numpy(),
        half['arg:res4b3_branch2a_weight'].astype(np.float32))


# --------------------------------------------------------------------------
# Every array consumed, every key filled
# --------------------------------------------------------------------------
def fixture_arrays(case):
    return dict(load_ndarray_list(data_path(case + '.params')).arrays)


def test_generated_keys_are_only_bn_counters():
    conversion = convert_rn38_weights(
        data_path('a1_s8_seg2_div16.params'), arch='A1')
    state_dict = conversion.checkpoint['state_dict']
    assert conversion.num_arrays == 195
    assert len(state_dict) == 195 + len(conversion.generated)
    assert conversion.generated == [
        k for k in state_dict if k.endswith('.num_batches_tracked')
    ]
    for key in conversion.generated:
        assert state_dict[key].dtype == torch.long
        assert state_dict[key].item() == 0
    assert conversion.dropped == [] and conversion.warnings == []


def test_reports_missing_unexpected_and_misshaped(tmp_path):
    arrays = fixture_arrays('a1_s8_seg2_div16')
    del arrays['arg:res4b5_branch2a_weight']
    arrays['arg:res4b1_branch1_weight'] = np.zeros((32, 32, 1, 1), np.float32)
    arrays['arg:res3b1_branch2b1_weight'] = np.zeros((16, 16, 3, 1),
                                                     np.float32)
    path = write(tmp_path / 'broken.params', ndarray_list_bytes(arrays))
    with pytest.raises(ConversionError) as info:
        convert_rn38_weights(path)
    error = info.value
    assert error.missing == ['res4b5_branch2a_weight']
    assert error.unexpected == ['res4b1_branch1_weight']
    assert error.mismatched == [
        'res3b1_branch2b1_weight (16, 16, 3, 1) (model (16, 16, 3, 3))'
    ]
    assert str(error).startswith(
        f'{path}: does not fit ResNet-38 A1 (width 0.0625, task seg): '
        '1 missing (res4b5_branch2a_weight); 1 unexpected')


def test_task_backbone_drops_and_reports(tmp_path):
    arrays = fixture_arrays('a1_s8_seg2_div16')
    arrays['arg:extra_weight'] = np.zeros(3, np.float32)
    path = write(tmp_path / 'extra.params', ndarray_list_bytes(arrays))
    with pytest.raises(
            ConversionError,
            match=r'1 unexpected \(extra_weight\) \(--task backbone keeps'):
        convert_rn38_weights(path)
    conversion = convert_rn38_weights(path, task='backbone')
    assert conversion.dropped == [
        'conv6a_weight', 'conv6a_bias', 'linear21_weight', 'linear21_bias',
        'extra_weight'
    ]
    assert 'dropped 5 arrays' in conversion.warnings[-1]
    checkpoint = conversion.checkpoint
    assert checkpoint['meta']['task'] == 'backbone'
    assert checkpoint['meta']['num_classes'] is None
    assert all(k.startswith('backbone.') for k in checkpoint['state_dict'])


def test_auto_backbone_drops_nothing(tmp_path):
    """Without a head, 'auto' converts the backbone, but an array it cannot
    place is still an error."""
    arrays = fixture_arrays('a1_s8_feat_div16')
    arrays['aux:f8_3_moving_var'] = np.ones(3, np.float32)
    path = write(tmp_path / 'extra.params', ndarray_list_bytes(arrays))
    with pytest.raises(ConversionError) as info:
        convert_rn38_weights(path)
    assert info.value.unexpected == ['f8_3_moving_var']
    assert convert_rn38_weights(
        path, task='backbone').dropped == ['f8_3_moving_var']


@pytest.mark.parametrize('case, options, pattern', [
    ('a1_cls_div16', dict(task='seg'), r'has a cls head \(linear1000_weight'),
    ('a1_s8_feat_div16', dict(task='cls'), r'has no head, not a cls head'),
    ('a1_s8_seg1_div16', dict(num_classes=19),
     r'the head has 21 classes, not 19'),
    ('a1_s8_feat_div16', dict(num_classes=21), r'has no head'),
])
def test_task_and_classes_must_fit(case, options, pattern):
    with pytest.raises(ConversionError, match=pattern):
        convert_rn38_weights(data_path(case + '.params'), **options)


def test_auto_task_and_meta():
    cases = {
        'a1_cls_div16': ('cls', 1000, 'ImageClassifier'),
        'a1_s8_feat_div16': ('backbone', None, 'ResNet38'),
        'a1_s8_seg2_div16': ('seg', 21, 'EncoderDecoder'),
    }
    for case, (task, num_classes, model_type) in cases.items():
        meta = convert_rn38_weights(data_path(case +
                                              '.params')).checkpoint['meta']
        assert (meta['task'], meta['num_classes'],
                meta['model']['type']) == (task, num_classes, model_type)
        assert meta['arch'] == 'A1'  # the default: the names carry no arch
        assert meta['source'] == case + '.params'
        assert meta['source_md5'] == file_md5(data_path(case + '.params'))
    head = convert_rn38_weights(data_path(
        'a1_s8_seg2_div16.params')).checkpoint['meta']['model']['decode_head']
    assert (head['num_convs'], head['channels'], head['kernel_size'],
            head['dilation']) == (2, 32, 3, 12)


@pytest.mark.parametrize('content, pattern', [
    (b'\x00\x01 not a weights file', r'neither an MXNet NDArray list file'),
    ({
        'conv1a.weight': torch.zeros(1),
        'epoch': 3
    }, r'entries that are not named tensors: epoch'),
    ({
        'conv1a.weight': torch.zeros(1),
        'cfg': os.stat_result(range(10))
    }, r'torch.load\(weights_only=True\) cannot read it: UnpicklingError'),
    ({
        'backbone.conv1a.weight': torch.zeros(1)
    }, r'already an mmrn38 checkpoint'),
    ({
        'fc.weight': torch.zeros(1)
    }, r'no ResNet-38 stem conv'),
])
def test_rejects_other_files(tmp_path, content, pattern):
    path = str(tmp_path / 'other.pth')
    if isinstance(content, bytes):
        write(path, content)
    else:
        torch.save(content, path)
    with pytest.raises(ConversionError, match=pattern) as info:
        convert_rn38_weights(path)
    assert str(info.value).startswith(path + ': ')


# --------------------------------------------------------------------------
# PSA port (resnet38d)
# --------------------------------------------------------------------------
def psa_convert_mxnet_to_torch(arrays):
    """PSA's ``convert_mxnet_to_torch`` (network/resnet38d.py), which made
    the PSA-port files: the same renaming rules, on numpy arrays."""
    bn_names = {
        'beta': 'bias',
        'gamma': 'weight',
        'mean': 'running_mean',
        'var': 'running_var'
    }
    renamed = {}
    for key, value in arrays.items():
        value = torch.from_numpy(value)
        toks = key.split('_')
        if 'conv1a' in toks[0]:
            renamed['conv1a.weight'] = value
        elif 'linear1000' in toks[0]:
            pass
        elif 'branch' in toks[1]:
            if toks[0][-1] != 'a':
                block = 'b' + toks[0][-3] + '_' + toks[0][-1]
            else:
                block = 'b' + toks[0][-2]
            if 'res' in toks[0]:
                layer, last = 'conv', 'weight'
            else:
                layer, last = 'bn', bn_names[toks[-1]]
            renamed[f'{block}.{layer}_{toks[1]}.{last}'] = value
        else:
            renamed['bn7.' + bn_names[toks[-1]]] = value
    return renamed


PSA_UNIT_MODULES = {
    'norm1': 'bn_branch2a',
    'conv1': 'conv_branch2a',
    'norm2': 'bn_branch2b1',
    'conv2': 'conv_branch2b1',
    'norm3': 'bn_branch2b2',
    'conv3': 'conv_branch2b2',
    'shortcut': 'conv_branch1',
}


def psa_name(key):
    """PSA name of an mmrn38 ``backbone.*`` key."""
    module, suffix = key[len('backbone.'):].rsplit('.', 1)
    if module == 'conv1a':
        return f'conv1a.{suffix}'
    if module == 'final_norm':
        return f'bn7.{suffix}'
    level, index, part = module.split('.')
    block = 'b' + level[len('level'):] + ('' if index == '0' else f'_{index}')
    return f'{block}.{PSA_UNIT_MODULES[part]}.{suffix}'


def test_psa_file_from_the_mxnet_release(tmp_path):
    """A .pth made by PSA's own converter equals the MXNet conversion."""
    mxnet_path = data_path('a1_cls_div16.params')
    psa = psa_convert_mxnet_to_torch(fixture_arrays('a1_cls_div16'))
    path = str(tmp_path / 'ilsvrc-cls_rna-a1_cls1000_ep-0001.pth')
    torch.save(psa, path)
    conversion = convert_rn38_weights(path)
    meta = conversion.checkpoint['meta']
    assert (meta['task'], meta['arch'], meta['out_stride']) == ('backbone',
                                                                'A1', 8)
    assert conversion.source.file_format == 'PyTorch zip file'
    converted = conversion.checkpoint['state_dict']
    reference = convert_rn38_weights(
        mxnet_path, task='backbone').checkpoint['state_dict']
    assert list(converted) == list(reference)
    for key, tensor in reference.items():
        assert torch.equal(converted[key], tensor), key


def test_psa_round_trip(tmp_path):
    """PSA keys (with PSA's bias-free ``fc8`` classifier, a DataParallel
    ``module.`` prefix and a ``state_dict`` wrapper, in torch's legacy
    format) made from a converted checkpoint convert back to it."""
    original = convert_rn38_weights(
        data_path('a_cls_div16.params')).checkpoint['state_dict']
    psa = {
        psa_name(k): v.clone()
        for k, v in original.items() if k.startswith('backbone.')
    }
    psa['b4_2.bn_branch2a.num_batches_tracked'] = torch.tensor(7)
    psa['fc8.weight'] = original['head.fc.weight'][:, :, None, None].clone()
    path = str(tmp_path / 'res38_cls.pth')
    torch.save({'state_dict': {
        'module.' + k: v
        for k, v in psa.items()
    }},
               path,
               _use_new_zipfile_serialization=False)
    conversion = convert_rn38_weights(
        path, task='cls', arch='A', out_stride=32)
    assert conversion.source.file_format == 'PyTorch legacy pickle file'
    assert conversion.num_arrays == len(psa)
    converted = conversion.checkpoint['state_dict']
    assert list(converted) == list(original)
    assert converted['backbone.level4.2.norm1.num_batches_tracked'] == 7
    assert 'head.fc.bias' in conversion.generated
    assert not converted['head.fc.bias'].any()
    for key, tensor in original.items():
        if key not in ('head.fc.bias',
                       'backbone.level4.2.norm1.num_batches_tracked'):
            assert torch.equal(converted[key], tensor), key


# --------------------------------------------------------------------------
# MD5 of the released files
# --------------------------------------------------------------------------
def test_released_md5s_are_the_published_ones():
    """The table against the release's own models/checksum.md5 (copied as
    tests/data/mxnet/released_checksum.md5)."""
    published = {}
    with open(data_path('released_checksum.md5')) as f:
        for line in f:
            md5, name = line.split()
            published[name] = md5
    assert len(published) == 6
    assert RELEASED_MD5 == published


def test_released_name_with_other_md5_warns(tmp_path):
    path = tmp_path / 'voc_rna-a1_cls21_s8_ep-0001.params'
    path.write_bytes(open(data_path('a1_s8_seg2_div16.params'), 'rb').read())
    conversion = convert_rn38_weights(str(path))
    assert 'does NOT match the released' in conversion.notes['md5']
    assert len(conversion.warnings) == 1
    assert 'not the published a34628a63d5f62dcb98c29c4e281f332' in \
        conversion.warnings[0]
    meta = conversion.checkpoint['meta']
    assert meta['released_as'] is None
    assert (meta['arch'], meta['out_stride']) == ('A1', 8)
    assert conversion.notes['arch'] == 'from the file name'


def test_released_md5_match_names_the_file(monkeypatch):
    path = data_path('a_cls_div16.params')
    released = 'ilsvrc-cls_rna-a_cls1000_ep-0001.params'
    monkeypatch.setitem(RELEASED_MD5, released, file_md5(path))
    conversion = convert_rn38_weights(path)
    assert conversion.notes['md5'].endswith(f'matches the released '
                                            f'{released}')
    assert conversion.warnings == []
    meta = conversion.checkpoint['meta']
    # a renamed copy of a released file still tells its arch
    assert (meta['released_as'], meta['arch']) == (released, 'A')


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------
def test_write_checkpoint_writes_safe_checkpoint(tmp_path):
    conversion = convert_rn38_weights(data_path('a1_s8_seg1_div16.params'))
    dst = str(tmp_path / 'new' / 'dir' / 'rn38.pth')
    write_checkpoint(conversion.checkpoint, dst)
    loaded = torch.load(dst, weights_only=True)
    assert loaded['meta'] == conversion.checkpoint['meta']
    assert list(loaded['state_dict']) == list(
        conversion.checkpoint['state_dict'])
    assert os.listdir(osp.dirname(dst)) == ['rn38.pth']


def test_interrupted_save_leaves_no_partial_file(tmp_path, monkeypatch):
    dst = tmp_path / 'rn38.pth'
    dst.write_bytes(b'previous')

    def interrupted_save(obj, f):
        f.write(b'half a checkpoint')
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint({'state_dict': {}}, str(dst))
    assert dst.read_bytes() == b'previous'
    assert os.listdir(tmp_path) == ['rn38.pth']


def test_conversion_ignores_another_default_scope():
    """A process where mmseg set its default scope (``init_model``,
    ``register_all_modules()``) still converts classifiers, which are
    mmpretrain models."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        meta = convert_rn38_weights(
            data_path('a1_cls_div16.params')).checkpoint['meta']
    assert meta['task'] == 'cls'
    assert meta['model']['type'] == 'ImageClassifier'


def test_unknown_arch_warns_and_names_the_option():
    """A Model A file cannot be told from an A1 file: a file whose name says
    neither is converted as A1 with a warning naming --arch."""
    conversion = convert_rn38_weights(data_path('a1_s8_seg2_div16.params'))
    assert conversion.notes['arch'] == 'default'
    assert conversion.checkpoint['meta']['arch'] == 'A1'
    assert len(conversion.warnings) == 1
    assert 'give --arch A for a Model A file' in conversion.warnings[0]
    named = convert_rn38_weights(
        data_path('a1_s8_seg2_div16.params'), arch='A')
    assert named.warnings == [] and named.checkpoint['meta']['arch'] == 'A'
