"""ResNet38 + WiderHead inside the real mmengine Runner and the repo's
tools: train, validate with IoUMetric, save, test from the checkpoint (safe
weights_only loading), resume."""
import os.path as osp
import re
import subprocess

import pytest
import torch
from rn38_testing import (REPO, assert_tta_changed_predictions, last_miou,
                          run_tool, tiny_voc_config, tool_command, tool_env)

from mmrn38.synthetic import write_voc


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """4 iterations on a generated VOC dataset, checkpoints at 2 and 4."""
    root = tmp_path_factory.mktemp('voc')
    data_root = write_voc(str(root), dict(train=6, val=3), size=(64, 64))
    cfg = tiny_voc_config(root / 'tiny_voc.py', data_root)
    work_dir = root / 'work'
    proc = run_tool('train.py', cfg, '--work-dir', work_dir)
    return cfg, work_dir, proc.stdout


def test_train_validates_and_saves(trained):
    cfg, work_dir, log = trained
    assert 'Iter(train) [4/4]' in log
    # validated at iterations 2 and 4 on the 3 held-out images
    assert len(re.findall(r'Iter\(val\) \[3/3\].*mIoU: [0-9.]+', log)) == 2
    assert osp.isfile(work_dir / 'iter_4.pth')
    assert (work_dir /
            'last_checkpoint').read_text().strip().endswith('iter_4.pth')


def test_checkpoint_loads_with_weights_only(trained):
    _, work_dir, _ = trained
    ckpt = torch.load(work_dir / 'iter_4.pth', weights_only=True)
    assert ckpt['meta']['iter'] == 4
    assert any(k.startswith('backbone.level7') for k in ckpt['state_dict'])


def test_tools_test_loads_checkpoint(trained):
    cfg, work_dir, train_log = trained
    log = run_tool('test.py', cfg, work_dir / 'iter_4.pth', '--work-dir',
                   work_dir / 'test').stdout
    assert 'Unsupported global' not in log
    assert 'Load checkpoint from' in log
    # the checkpoint's weights, not fresh ones: the same mIoU as the
    # validation at the end of training, on the same images
    assert last_miou(log) == last_miou(train_log)


def test_tools_test_tta(trained, converted_voc_checkpoint):
    """--tta runs the config's multi-scale + flip views: the predictions
    (of a network that predicts many classes) change."""
    cfg, work_dir, _ = trained
    ckpt = converted_voc_checkpoint
    logs = {}
    for name, args in (('plain', []), ('tta', ['--tta'])):
        logs[name] = run_tool('test.py', cfg, ckpt, *args, '--work-dir',
                              work_dir / f'test_{name}', '--out',
                              work_dir / f'out_{name}').stdout
    assert 'SegTTAModel' in logs['tta']
    assert_tta_changed_predictions(work_dir / 'out_plain',
                                   work_dir / 'out_tta')


def test_resume_continues(trained, tmp_path):
    cfg, work_dir, _ = trained
    import shutil
    resumed = tmp_path / 'resumed'
    shutil.copytree(work_dir, resumed, ignore=shutil.ignore_patterns('test*'))
    (resumed / 'last_checkpoint').write_text(str(resumed / 'iter_4.pth'))
    proc = run_tool('train.py', cfg, '--work-dir', resumed, '--resume',
                    '--cfg-options', 'train_cfg.max_iters=6')
    assert re.search(r'resumed epoch: \d+, iter: 4', proc.stdout), \
        proc.stdout[-3000:]
    assert 'Iter(train) [5/6]' in proc.stdout
    assert osp.isfile(resumed / 'iter_6.pth')


def test_init_model_loads_checkpoint(trained):
    import numpy as np
    from mmseg.apis import inference_model, init_model
    cfg, work_dir, _ = trained
    model = init_model(cfg, str(work_dir / 'iter_4.pth'), device='cpu')
    result = inference_model(model, np.zeros((40, 52, 3), np.uint8))
    assert result.pred_sem_seg.data.shape == (1, 40, 52)


@pytest.mark.parametrize('case', [
    'missing_config', 'bad_option', 'unregistered_type', 'missing_checkpoint',
    'truncated_checkpoint', 'missing_data'
])
def test_tools_end_with_one_error_line(case, trained, tmp_path):
    cfg, work_dir, _ = trained
    if case == 'missing_config':
        args = ['train.py', tmp_path / 'nope.py']
        message = 'train.py: error: config not found'
    elif case == 'bad_option':
        args = [
            'train.py', cfg, '--cfg-options',
            'train_dataloader.dataset.datasets.5.data_root=x'
        ]
        message = 'train.py: error: --cfg-options do not apply'
    elif case == 'unregistered_type':
        args = [
            'train.py', cfg, '--work-dir', tmp_path / 'w', '--cfg-options',
            'model.backbone.type=ResNet39'
        ]
        message = ("train.py: error: model.backbone.type='ResNet39' is not "
                   'in the mmseg::model registry (a typo, or a module '
                   'missing from custom_imports)')
    elif case == 'missing_checkpoint':
        args = ['test.py', cfg, tmp_path / 'nope.pth']
        message = 'test.py: error: checkpoint not found'
    elif case == 'truncated_checkpoint':
        saved = (work_dir / 'iter_4.pth').read_bytes()
        truncated = tmp_path / 'TRUNCATED.pth'
        truncated.write_bytes(saved[:len(saved) // 2])
        args = ['test.py', cfg, truncated]
        message = (f'test.py: error: cannot load checkpoint {truncated}: '
                   'RuntimeError: PytorchStreamReader failed reading zip '
                   'archive')
    else:
        args = [
            'train.py', cfg, '--work-dir', tmp_path / 'w', '--cfg-options',
            f'train_dataloader.dataset.datasets.0'
            f'.data_root={tmp_path}/nowhere'
        ]
        message = 'train.py: error: '
    proc = subprocess.run(
        tool_command(*args),
        cwd=REPO,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(message), proc.stderr[-2000:]


def test_unknown_types_as_config_error_keeps_other_key_errors():
    from mmengine.config import Config

    from mmrn38.apis import unknown_types_as_config_error
    cfg = Config(dict(model=dict(type='ResNet38')))
    with pytest.raises(KeyError, match='no_such_key'):
        with unknown_types_as_config_error(cfg):
            {}['no_such_key']


def test_only_training_needs_the_pretrained_weights(tmp_path, monkeypatch):
    """A shipped config names ImageNet weights for its backbone's
    initialisation: training must find them, testing a checkpoint must not
    ask for them (the Runner does not initialise weights to test)."""
    from mmengine.config import Config

    from mmrn38.apis import prepare_test, prepare_train
    monkeypatch.chdir(tmp_path)  # no checkpoints/ folder here
    data_root = write_voc(str(tmp_path), dict(train=1, val=1))
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': {}, 'meta': {}}, ckpt)  # read by prepare_test

    def voc_config():
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'rn38_voc.py'))
        cfg.merge_from_dict(
            {
                'train_dataloader.dataset.datasets.0.data_root': data_root,
                'train_dataloader.dataset.datasets.1.data_root': data_root,
                'val_dataloader.dataset.data_root': data_root,
                'test_dataloader.dataset.data_root': data_root,
            },
            allow_list_keys=True)
        return cfg

    prepare_test(voc_config(), str(ckpt))
    with pytest.raises(
            FileNotFoundError,
            match='weights not found: '
            'checkpoints/ilsvrc-cls_rna-a1_cls1000.pth'):
        prepare_train(voc_config())
