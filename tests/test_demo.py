"""The demo of `make demo` (tools/demo.py): its dataset generator and a
shortened run of the real tool (train, test, --tta, overlays, curves)."""
import os
import os.path as osp
import re

import pytest
import torch
from PIL import Image
from rn38_testing import REPO, run_tool

from mmrn38.synthetic import (COMPLETION_MARKER, class_names, write_once,
                              write_voc)


def tree_bytes(root):
    """{relative path: file bytes} of every file under ``root``."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                files[osp.relpath(path, root)] = f.read()
    return files


def tiny_voc(root, seed):
    return write_voc(
        str(root),
        dict(train=3, val=2),
        size=(48, 48),
        num_classes=5,
        seed=seed)


def test_generator_is_deterministic(tmp_path):
    first = tree_bytes(tiny_voc(tmp_path / 'a', seed=3))
    again = tree_bytes(tiny_voc(tmp_path / 'b', seed=3))
    other = tree_bytes(tiny_voc(tmp_path / 'c', seed=4))
    assert len(first) == 3 * 5 + 4  # 3 files per image, 4 lists
    assert first == again
    assert set(other) == set(first)
    images = [name for name in first if name.startswith('JPEGImages')]
    assert all(other[name] != first[name] for name in images)


def test_demo_config_names_the_generated_classes():
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rn38_demo.py'))
    num_classes = cfg.synthetic_data.num_classes
    assert cfg.model.decode_head.num_classes == num_classes
    assert tuple(cfg.metainfo.classes) == class_names(num_classes)
    assert len(cfg.metainfo.palette) == num_classes


def test_write_once_reuses_only_complete_datasets(tmp_path):
    root = tmp_path / 'demo_data'
    args = dict(splits=dict(train=2, val=1), size=(32, 32), num_classes=3)
    data_root = write_once(str(root), write_voc, **args)
    assert osp.isfile(root / COMPLETION_MARKER)
    assert not osp.exists(f'{root}.partial')
    stamp = os.stat(
        osp.join(data_root, 'ImageSets', 'Segmentation',
                 'train.txt')).st_mtime_ns
    # complete and written with the same arguments: used as it is
    assert write_once(str(root), write_voc, **args) == data_root
    assert os.stat(
        osp.join(data_root, 'ImageSets', 'Segmentation',
                 'train.txt')).st_mtime_ns == stamp

    # an interrupted generation leaves no dataset behind, only .partial
    def interrupted(folder, **kwargs):
        write_voc(folder, **kwargs)
        raise KeyboardInterrupt

    other = tmp_path / 'other'
    with pytest.raises(KeyboardInterrupt):
        write_once(str(other), interrupted, **args)
    assert not osp.exists(other) and osp.isdir(f'{other}.partial')
    # ... and the next run generates it anew
    data_root = write_once(str(other), write_voc, **args)
    assert osp.isfile(other / COMPLETION_MARKER)
    assert not osp.exists(f'{other}.partial')
    assert len(os.listdir(osp.join(data_root, 'JPEGImages'))) == 3

    # other arguments: the old dataset is replaced
    more = dict(args, splits=dict(train=4, val=1))
    data_root = write_once(str(other), write_voc, **more)
    assert len(os.listdir(osp.join(data_root, 'JPEGImages'))) == 5

    # a folder that was not generated here is never touched
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not a dataset'):
        write_once(str(foreign), write_voc, **args)
    assert os.listdir(foreign) == ['keep.txt']


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    """tools/demo.py, shortened: 2 iterations on 6 generated images."""
    root = tmp_path_factory.mktemp('demo')
    work_dir, data_dir = root / 'work', root / 'data'
    proc = run_tool('demo.py', '--work-dir', work_dir, '--data-root', data_dir,
                    '--iters', 2, '--num-images', 6, '--num-overlays', 2)
    return work_dir, data_dir, proc.stdout


def test_demo_trains_tests_and_reports(demo_run):
    work_dir, data_dir, log = demo_run
    assert osp.isfile(data_dir / COMPLETION_MARKER)
    assert 'Iter(train) [2/2]' in log
    assert osp.isfile(work_dir / 'iter_2.pth')
    # IoUMetric's per-class table, once without and once with TTA
    for name in class_names(7):
        assert len(re.findall(rf'\|\s+{name}\s+\|', log)) >= 2, name
    assert len(re.findall(r'Iter\(test\).*mIoU: [0-9.]+', log)) == 2
    assert re.search(r'^mIoU: +[0-9.]+ %', log, re.M)
    assert re.search(r'^mIoU with TTA: +[0-9.]+ %', log, re.M)
    # the float32 fast path predicts the same classes as the plain model
    assert re.search(r'^fast path: .* 100\.00 % of the held-out pixels', log,
                     re.M), log[-2000:]
    # bf16 runs only where the CPU has native bf16, else says why not
    from mmrn38.utils.device_features import bf16_support
    if bf16_support(torch.device('cpu'))[0]:
        agreement = re.search(
            r'^bf16 inference: +same class as float32 on '
            r'([0-9.]+) %', log, re.M)
        assert agreement and float(agreement.group(1)) > 90
    else:
        assert re.search(r'^bf16 inference: +not run, float32 kept', log, re.M)


def test_demo_writes_overlays_and_curves(demo_run):
    work_dir, _, _ = demo_run
    overlays = sorted(os.listdir(work_dir / 'overlays'))
    assert overlays == ['2007_010000.png']  # the one held-out image
    with Image.open(work_dir / 'overlays' / overlays[0]) as image:
        assert image.format == 'PNG' and image.mode == 'RGB'
        # image | ground truth | prediction, 128x128 each
        assert image.size == (3 * 128, 128)
    with Image.open(work_dir / 'curves.png') as plot:
        assert plot.format == 'PNG'
        assert plot.size == (1000, 400)
