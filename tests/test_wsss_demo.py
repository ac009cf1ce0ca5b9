"""The WSSS demo (make demo-wsss), shrunk: the whole chain, CAM classifier
-> CAMs and CRF files -> AffinityNet -> random walk -> segmentation network,
and its table of held-out mIoU per stage."""
import os
import re

import pytest
from mmengine.registry import DefaultScope
from PIL import Image
from rn38_testing import load_tool, run_tool, write_config


def test_wsss_demo_chain(tmp_path):
    from mmrn38.wsss.demo import run_wsss_demo
    cls = write_config(
        tmp_path / 'cls.py', 'wsss/rn38_demo_cls.py', """
        # 80x80: AffinityNet's pairs of radius 5 need feature maps of at
        # least 5 x 9 positions at stride 8
        synthetic_data = dict(
            splits=dict(train=4, val=2), size=(80, 80), num_classes=7,
            seed=0)
        model = dict(backbone=dict(width=1 / 16), head=dict(in_channels=256))
        train_dataloader = dict(batch_size=4)
        """)
    aff = write_config(
        tmp_path / 'aff.py', 'wsss/rn38_demo_aff.py', """
        model = dict(
            backbone=dict(width=1 / 16),
            head=dict(in_channels=(32, 64, 256), channels=(4, 8, 16)))
        train_dataloader = dict(batch_size=4)
        train_cfg = dict(max_epochs=1)
        param_scheduler = dict(end=1)
        """)
    seg = write_config(
        tmp_path / 'seg.py', 'wsss/rn38_demo_pseudo.py', """
        model = dict(
            backbone=dict(width=1 / 16),
            decode_head=dict(in_channels=256, channels=32))
        train_dataloader = dict(batch_size=4)
        train_cfg = dict(max_iters=2, val_interval=2)
        """)
    # the Runners make their scope the default: keep it from later tests
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        result = run_wsss_demo(
            cls,
            aff,
            seg,
            str(tmp_path / 'work'),
            str(tmp_path / 'data'),
            max_epochs=1,
            scales=(1.0, ),
            train_scales=(1.0, ),
            num_overlays=2)
    names = ['2007_010000', '2007_010001']  # the held-out images
    train_names = [f'2007_00000{i}' for i in range(4)]
    assert sorted(os.listdir(result['cam_dir'])) == sorted(
        f'{n}.npy' for n in train_names + names)
    for folder in ('crf_la', 'crf_ha'):
        assert sorted(os.listdir(tmp_path / 'work' / folder)) == sorted(
            f'{n}.npy' for n in train_names)
    assert sorted(os.listdir(result['rw_dir'])) == sorted(
        f'{n}.png' for n in train_names + names)
    with Image.open(os.path.join(result['rw_dir'], f'{names[0]}.png')) as png:
        assert png.mode == 'P' and png.size == (80, 80)
    for key in ('rw_miou', 'seg_miou'):
        assert 0 <= result[key] <= 100
    assert result['sweep'].num_images == 2
    assert set(result['seconds']) >= {
        'classifier', 'cams', 'affinitynet', 'random walk', 'segmentation'
    }

    table = load_tool('wsss/demo.py').stage_table(result).splitlines()
    assert [line.split()[0]
            for line in table[1:]] == ['CAM', 'random', 'segmentation']
    for path in result['overlays']:
        assert Image.open(path).size == (4 * 80, 80)


@pytest.mark.slow
def test_wsss_demo_as_shipped(tmp_path):
    """``make demo-wsss`` as shipped (tools/wsss/demo.py, its configs and
    defaults; only the folders in tmp_path): every stage's labels are well
    above what a broken stage gives on the held-out images (background
    everywhere: at most 100 / 7 = 14.3 %; the walk with PSA's VOC powers,
    alpha 16: 23 %), and the walk is not a point or more below the CAMs.
    Over five classifier seeds the walk beat the CAMs by 0.11 to 3.09
    points (docs/en/user_guides/wsss.md); a walk 8 points below them is
    the failure of a la power that leaves a class without confident
    foreground (0.15 did on two seeds). A win itself is not required: the
    margin is that small on a weak classifier (3 to 20 min on 2 cores)."""
    proc = run_tool(
        'wsss/demo.py',
        '--work-dir',
        tmp_path / 'work',
        '--data-root',
        tmp_path / 'data',
        timeout=1800)
    miou = dict(
        re.findall(r'^(CAM|random walk|segmentation) +([\d.]+) ', proc.stdout,
                   re.MULTILINE))
    assert set(miou) == {'CAM', 'random walk', 'segmentation'}, proc.stdout
    assert all(float(value) > 35 for value in miou.values()), miou
    assert float(miou['random walk']) > float(miou['CAM']) - 1, miou
