"""tools/model_converters/rn38_to_mm.py, the command line over
mmrn38.converters."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS as SEG_MODELS
from rn38_testing import rn38_segmentor_cfg

import mmrn38  # noqa: F401  (registers ResNet38 and WiderHead)
from mmrn38.converters import file_md5
from mmrn38.models import ResNet38

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCRIPT = osp.join(REPO, 'tools', 'model_converters', 'rn38_to_mm.py')
DATA = osp.join(REPO, 'tests', 'data', 'mxnet')
SEG2 = osp.join(DATA, 'a1_s8_seg2_div16_legacy.params')
CLS = osp.join(DATA, 'a1_cls_div16.params')
SEG2_MODEL = rn38_segmentor_cfg()


@pytest.fixture(scope='module')
def cli():
    """The script as a module, to call its ``main(argv)`` in-process."""
    spec = importlib.util.spec_from_file_location('rn38_to_mm', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args):
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)],
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_bad_input_fails_in_one_line(tmp_path):
    src = tmp_path / 'cut.params'
    with open(CLS, 'rb') as f:
        src.write_bytes(f.read(100_000))
    result = run_script(src, tmp_path / 'out.pth')
    assert result.returncode == 1
    assert result.stdout == ''
    assert result.stderr.splitlines() == [
        f'rn38_to_mm: error: {src}: truncated array #45 (shape (32, 32, 3, '
        f'3), float32) data at byte 88280: needs 36864 bytes, the file has '
        f'11720 left'
    ]
    assert os.listdir(tmp_path) == ['cut.params']


def test_good_input_gives_a_strict_checkpoint(tmp_path):
    dst = tmp_path / 'checkpoints' / 'rn38_voc.pth'
    result = run_script(SEG2, dst)
    assert result.returncode == 0, result.stderr
    # the name says neither Model A nor A1: converted as A1, with a warning
    assert result.stderr == (
        'rn38_to_mm: warning: a1_s8_seg2_div16_legacy.params: Model A and A1 '
        'files have the same names and shapes and its name says neither '
        '(rna-a_ / rna-a1_): converting as A1; give --arch A for a Model A '
        'file\n')
    summary = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert summary['source'] == ('a1_s8_seg2_div16_legacy.params (MXNet '
                                 'NDArray list, legacy layout)')
    assert summary['md5'].startswith(file_md5(SEG2))
    assert summary['arrays'].startswith('195 read, 232 keys written')
    assert summary['parameters'] == '493,161'
    assert summary['task'].startswith('seg (mmseg EncoderDecoder')
    assert summary['classes'] == '21'
    assert summary['arch'] == 'A1 (default), out_stride 8, width 0.0625'
    assert summary['saved'] == str(dst)
    assert os.listdir(dst.parent) == ['rn38_voc.pth']

    checkpoint = torch.load(dst, weights_only=True)
    assert set(checkpoint) == {'meta', 'state_dict'}
    model = SEG_MODELS.build(SEG2_MODEL)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    # as load_from does it
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    # as a backbone's init_cfg does it
    backbone = ResNet38(
        out_stride=8,
        width=1 / 16,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    backbone.init_weights()
    for key, tensor in backbone.state_dict().items():
        assert torch.equal(tensor,
                           checkpoint['state_dict']['backbone.' + key]), key


@pytest.mark.parametrize('args, message', [
    ([SEG2, '{dst}', '--task', 'cls'
      ], f'{SEG2}: has a seg head (linear21_weight, linear21_bias, '
     f'conv6a_weight, conv6a_bias), not a cls head; use --task backbone to '
     f'keep only the backbone'),
    ([SEG2, '{dst}', '--num-classes', '19'
      ], f'{SEG2}: the head has 21 classes, not 19'),
    (['{tmp}/missing.params', '{dst}'
      ], "[Errno 2] No such file or directory: '{tmp}/missing.params'"),
    ([SEG2, SEG2], f'{SEG2}: DST must differ from SRC'),
])
def test_errors_in_process(cli, capsys, tmp_path, args, message):
    dst = tmp_path / 'out.pth'
    args = [a.format(dst=dst, tmp=tmp_path) for a in args]
    assert cli.main(args) == 1
    out, err = capsys.readouterr()
    assert out == ''
    assert err.splitlines() == [
        'rn38_to_mm: error: ' + message.format(tmp=tmp_path)
    ]
    assert not dst.exists()


def test_backbone_task_lists_what_it_dropped(cli, capsys, tmp_path):
    dst = tmp_path / 'backbone.pth'
    assert cli.main([CLS, str(dst), '--task', 'backbone', '--arch', 'A1']) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        'rn38_to_mm: warning: --task backbone dropped 2 arrays: '
        'linear1000_weight, linear1000_bias'
    ]
    assert 'dropped    linear1000_weight, linear1000_bias' in out
    assert "prefix='backbone.'" in out
    meta = torch.load(dst, weights_only=True)['meta']
    assert (meta['task'],
            meta['dropped']) == ('backbone',
                                 ['linear1000_weight', 'linear1000_bias'])


def test_progress_bar(cli, capsys):
    """mmengine's ProgressBar over the MiB of a large file; none for small
    ones."""
    progress = cli.ReadProgress(min_bytes=1 << 20)
    progress(10 << 20, 400 << 20)
    progress(400 << 20, 400 << 20)
    progress.close()
    err = capsys.readouterr().err
    assert '400/400' in err and err.endswith('\n')
    progress(1, 1000)  # under min_bytes: silent
    progress.close()
    assert capsys.readouterr().err == ''
