"""Every training config in configs/ runs exactly as shipped.

The only changes are the ones a user makes: data paths (a dataset generated
in its real on-disk layout), iteration / epoch counts, ``num_workers`` and,
for ImageNet, the batch size. Width 1, the shipped crops, pipelines, heads,
losses and ``init_cfg=Pretrained`` from ``checkpoints/...`` (a full-size
checkpoint at the path the config names, relative to the working directory
the tools run in) are all as shipped. One training iteration and a
validation each: these are the slowest tests of the suite (a width-1
ResNet-38 step at a 512 crop), and the only ones that prove the configs,
so they run in the slow tier (``make test-all``). The shrunk runs of
tests/test_configs.py, on the same cases (``tests/helpers/config_cases.py``),
test the parts (TTA, test tool) in the quick tier.
"""
import os.path as osp
import re

import pytest
from config_cases import (BATCHES_OF_TWO, CLS_CASES, SEG_CASES, short_schedule,
                          write_voc_affinity)
from mmengine.config import Config
from rn38_testing import (PRETRAINED, REPO, as_args, last_miou, run_tool,
                          user_overrides, write_imagenet_weights)

from mmrn38.synthetic import write_imagenet

# minutes each on two cores: `make test-all` only
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def user_dir(tmp_path_factory):
    """A working directory holding the ImageNet weights where the docs
    put them (:func:`rn38_testing.write_imagenet_weights`)."""
    root = tmp_path_factory.mktemp('user')
    write_imagenet_weights(str(root))
    return root


@pytest.mark.parametrize('config', sorted(SEG_CASES))
def test_segmentation_config_trains_as_shipped(config, user_dir, tmp_path):
    path = osp.join(REPO, 'configs', config)
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.init_cfg.checkpoint == PRETRAINED
    assert cfg.model.backbone.get('width', 1.0) == 1.0
    opts = user_overrides(cfg, SEG_CASES[config](str(tmp_path)))
    opts.update(short_schedule(cfg, 1))
    work_dir = tmp_path / 'work'
    log = run_tool(
        'train.py', path, '--work-dir', work_dir, *as_args(opts),
        cwd=user_dir).stdout
    assert f'Loads checkpoint by local backend from path: {PRETRAINED}' in log
    assert 'Iter(train) [1/1]' in log
    assert re.search(r'Iter\(val\) \[1/1\].*mIoU: [0-9.]+', log)
    if config == 'rn38_voc.py':  # the documented test command on the result
        tested = run_tool(
            'test.py',
            path,
            work_dir / 'iter_1.pth',
            '--work-dir',
            work_dir / 'test',
            *as_args(opts),
            cwd=user_dir).stdout
        # the saved weights, tested as validated after the iteration
        assert last_miou(tested) == last_miou(log)


@pytest.mark.parametrize('config', CLS_CASES)
def test_imagenet_config_trains_as_shipped(config, tmp_path):
    path = osp.join(REPO, 'configs', config)
    cfg = Config.fromfile(path)
    opts = user_overrides(cfg, write_imagenet(str(tmp_path)))
    opts.update(short_schedule(cfg, 1))
    opts.update(BATCHES_OF_TWO)
    work_dir = tmp_path / 'work'
    log = run_tool('train.py', path, '--work-dir', work_dir,
                   *as_args(opts)).stdout
    assert 'Epoch(train) [1][4/4]' in log
    assert 'accuracy/top1' in log


def test_affinity_config_trains_as_shipped(user_dir, tmp_path):
    """configs/wsss/rn38_voc_aff.py: PSA's batch of 8 at the 448 crop,
    the ImageNet weights, one epoch of one iteration (8 images of 360 x
    480: cropped in width, padded in height)."""
    path = osp.join(REPO, 'configs', 'wsss', 'rn38_voc_aff.py')
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.init_cfg.checkpoint == PRETRAINED
    assert cfg.train_dataloader.batch_size == 8
    data_root, la_dir, ha_dir = write_voc_affinity(
        str(tmp_path), num_images=8, size=(360, 480))
    dataset = 'train_dataloader.dataset'
    opts = {
        f'{dataset}.data_root': data_root,
        f'{dataset}.la_crf_dir': la_dir,
        f'{dataset}.ha_crf_dir': ha_dir,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        **short_schedule(cfg, 1),
    }
    work_dir = tmp_path / 'work'
    log = run_tool(
        'train.py', path, '--work-dir', work_dir, *as_args(opts),
        cwd=user_dir).stdout
    assert f'Loads checkpoint by local backend from path: {PRETRAINED}' in log
    assert re.search(r'Epoch\(train\) \[1\]\[1/1\].* loss: [0-9.]+', log)
    assert (work_dir / 'epoch_1.pth').is_file()
