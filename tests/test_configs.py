"""Every config in configs/ runs: a tiny dataset in the real on-disk layout,
the config itself with only sizes, iterations and paths overridden on the
command line (--cfg-options), a few iterations with evaluation, then the
test tool (with --tta for segmentation) on the saved checkpoint. Also an
unmodified config of the installed mmseg with the backbone swapped. The
tools run in this process (``run_tool_here``); as separate processes, at
full size, in tests/test_configs_as_shipped.py."""
import os.path as osp
import re

import pytest
from config_cases import BATCHES_OF_TWO, CLS_CASES, SEG_CASES, short_schedule
from mmengine.config import Config
from rn38_testing import (REPO, as_args, last_miou, run_tool_here,
                          user_overrides)

from mmrn38.synthetic import write_imagenet, write_voc

IMG, CROP = (64, 64), (48, 48)


def size_and_path_overrides(cfg, data_root):
    """--cfg-options that point every dataset at ``data_root`` and shrink
    every pipeline size, the batch and the network."""

    def shrink(node, path, opts):
        kind = node.get('type')
        if kind in ('RandomResize', 'Resize') and 'scale' in node:
            opts[f'{path}.scale'] = IMG
        if kind == 'RandomCrop':
            opts[f'{path}.crop_size'] = CROP
        if kind == 'Pad':
            opts[f'{path}.size'] = CROP
        if kind == 'RandomResizedCrop':
            opts[f'{path}.scale'] = CROP[0]
        if kind == 'ResizeEdge':
            opts[f'{path}.scale'] = IMG[0]
        if kind == 'CenterCrop':
            opts[f'{path}.crop_size'] = CROP[0]

    opts = user_overrides(cfg, data_root, shrink)
    opts['train_dataloader.batch_size'] = 2
    opts['model.backbone.width'] = 0.0625
    opts['model.backbone.init_cfg'] = None
    return opts


@pytest.mark.parametrize('config', sorted(SEG_CASES))
def test_segmentation_config_runs(config, tmp_path):
    path = osp.join(REPO, 'configs', config)
    data_root = SEG_CASES[config](str(tmp_path))
    cfg = Config.fromfile(path)
    opts = size_and_path_overrides(cfg, data_root)
    opts.update(short_schedule(cfg, 2))
    opts.update({
        'model.data_preprocessor.size': CROP,
        'model.decode_head.in_channels': 256,
        'model.decode_head.channels': 32,
    })
    work_dir = tmp_path / 'work'
    log = run_tool_here('train.py', path, '--work-dir', work_dir,
                        *as_args(opts))
    assert 'Iter(train) [2/2]' in log
    tested = {}
    for name, args in (('plain', []), ('tta', ['--tta'])):
        tested[name] = run_tool_here('test.py', path, work_dir / 'iter_2.pth',
                                     *args, '--work-dir', work_dir / name,
                                     *as_args(opts))
    # the saved weights, tested as validated at the end of training
    assert last_miou(tested['plain']) == last_miou(log)
    # the config's tta_pipeline runs (that TTA changes predictions is shown
    # in test_runner.py / test_distributed.py on a network that predicts
    # many classes; these few-iteration models predict background only)
    assert 'SegTTAModel' in tested['tta']


@pytest.mark.parametrize('config', CLS_CASES)
def test_imagenet_config_runs(config, tmp_path):
    path = osp.join(REPO, 'configs', config)
    data_root = write_imagenet(str(tmp_path))
    cfg = Config.fromfile(path)
    opts = size_and_path_overrides(cfg, data_root)
    opts.update(short_schedule(cfg, 1))
    opts.update(BATCHES_OF_TWO)
    opts['model.head.in_channels'] = 256
    work_dir = tmp_path / 'work'
    log = run_tool_here('train.py', path, '--work-dir', work_dir,
                        *as_args(opts))
    assert 'accuracy/top1' in log
    tested = run_tool_here('test.py', path, work_dir / 'epoch_1.pth',
                           '--work-dir', work_dir / 'test', *as_args(opts))
    assert 'accuracy/top1' in tested


def test_unmodified_mmseg_config_accepts_resnet38(tmp_path):
    """A user's existing mmseg config: only custom_imports and the backbone
    (plus its channel counts) change."""
    data_root = write_voc(str(tmp_path), dict(train=4, val=2))
    base = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'
    cfg_path = tmp_path / 'deeplabv3_rn38.py'
    cfg_path.write_text(f'''
_base_ = [{base!r}]
custom_imports = dict(imports=['mmrn38'], allow_failed_imports=False)
model = dict(
    pretrained=None,
    backbone=dict(_delete_=True, type='ResNet38', width=1 / 16,
                  out_indices=(1, 2, 4, 5)),
    decode_head=dict(in_channels=256, channels=32),
    auxiliary_head=dict(in_channels=128, channels=16))
''')
    cfg = Config.fromfile(str(cfg_path))
    opts = size_and_path_overrides(cfg, data_root)
    opts.update(short_schedule(cfg, 1))
    opts['model.data_preprocessor.size'] = CROP
    del opts['model.backbone.width'], opts['model.backbone.init_cfg']
    log = run_tool_here('train.py', cfg_path, '--work-dir', tmp_path / 'work',
                        *as_args(opts))
    assert "type='ResNet38'" in log
    assert 'Iter(train) [1/1]' in log
    # validated on both held-out images with mmseg's IoUMetric
    assert re.search(r'Iter\(val\) \[2/2\].*mIoU: [0-9.]+', log)


def results_rows(doc):
    """(config path from the repo root, {column: cell}) of every Markdown
    table row of ``doc`` that links a config."""
    path = osp.join(REPO, doc)
    rows, header = [], None
    with open(path, encoding='utf-8') as f:
        for line in f:
            if not line.startswith('|'):
                header = None
                continue
            cells = [c.strip() for c in line.strip().strip('|').split('|')]
            if header is None:
                header = cells
                continue
            link = re.search(r'\]\(([^)]+\.py)\)', line)
            if link is not None:
                config = osp.normpath(osp.join(osp.dirname(path), link[1]))
                rows.append((osp.relpath(config,
                                         REPO), dict(zip(header, cells))))
    return rows


def test_model_index_lists_configs_and_reported_numbers():
    """model-index.yml -> configs/metafile.yaml: every config exists and
    loads; the results tables of configs/README.md and README.md show exactly
    the metafile's numbers, each model in one row (the config it links and
    the weights it names), under "<metric> (paper)" for the weights converted
    from the original release, "<metric> (measured)" for the others."""
    import yaml
    with open(osp.join(REPO, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert index['Import'] == ['configs/metafile.yaml']
    with open(osp.join(REPO, 'configs', 'metafile.yaml')) as f:
        meta = yaml.safe_load(f)
    assert meta['Models']
    for model in meta['Models']:
        assert model['In Collection'] == 'ResNet38'
        config = osp.join(REPO, model['Config'])
        assert Config.fromfile(config).model.backbone.type == 'ResNet38'
        assert model['Results']['Metrics']
    for doc in ('configs/README.md', 'README.md'):
        rows = results_rows(doc)
        assert rows, doc
        shown = []
        for config, row in rows:
            models = [
                m for m in meta['Models'] if m['Config'] == config
                and m['Weights'] in row.get('weights', '')
            ]
            assert len(models) <= 1, (doc, row)
            expected = {}
            for model in models:
                kind = 'paper' if 'Converted From' in model else 'measured'
                expected = {
                    f'{name} ({kind})': f'{value:.2f}'
                    for name, value in model['Results']['Metrics'].items()
                }
                shown.append(model['Name'])
            numbers = {
                column: cell.split()[0]
                for column, cell in row.items()
                if re.search(r' \((paper|measured)\)$', column) and cell != '-'
            }
            assert numbers == expected, (doc, config, row)
        assert sorted(shown) == sorted(m['Name'] for m in meta['Models']), \
            doc
