"""Helpers for mmrn38's tests: run the repo's tools as real processes and
write small child configs of the repo's configs."""
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_NORM = "dict(type='BN', eps=1.001e-5, requires_grad=True)"


HELPERS = osp.dirname(osp.abspath(__file__))


def tool_env(**extra):
    """Environment for the tools: unbuffered, this helpers folder importable
    (for test-only hooks), this interpreter for the shell launchers."""
    return dict(os.environ, PYTHONUNBUFFERED='1', PYTHON=sys.executable,
                PYTHONPATH=os.pathsep.join(
                    [HELPERS, os.environ.get('PYTHONPATH', '')]),
                **{k: str(v) for k, v in extra.items()})


def tool_command(script, *args):
    """The command line of ``tools/<script>`` (Python or shell)."""
    path = osp.join(REPO, 'tools', script)
    runner = ['bash'] if script.endswith('.sh') else [sys.executable]
    return [*runner, path, *map(str, args)]


def run_tool(script, *args, env=None, timeout=600, check=True, cwd=REPO):
    """Run ``tools/<script>`` from ``cwd`` (the repo root); returns the
    CompletedProcess (stdout and stderr merged)."""
    cmd = tool_command(script, *args)
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(**(env or {})),
                          timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited {proc.returncode}:\n'
                             f'{proc.stdout[-6000:]}')
    return proc


def write_config(path, base, body):
    """Write a config at ``path`` inheriting the repo config ``base``."""
    base_path = osp.join(REPO, 'configs', base)
    with open(path, 'w') as f:
        f.write(f'_base_ = [{base_path!r}]\n')
        f.write(textwrap.dedent(body))
    return str(path)


def tiny_voc_config(path, data_root, max_iters=4, interval=2):
    """A child of configs/rn38_voc.py small enough for a CPU test: width
    1/16, 64x64 crops, plain BN, no pretrained weights."""
    return write_config(path, 'rn38_voc.py', f'''
        data_root = {data_root!r}
        crop_size = (64, 64)
        norm_cfg = {TINY_NORM}
        model = dict(
            data_preprocessor=dict(size=crop_size),
            backbone=dict(width=1 / 16, norm_cfg=norm_cfg, init_cfg=None),
            decode_head=dict(in_channels=256, channels=32, norm_cfg=norm_cfg,
                             loss_decode=dict(min_kept=16)))
        train_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='RandomResize', scale=(64, 64), ratio_range=(0.8, 1.2),
                 keep_ratio=True),
            dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackSegInputs'),
        ]
        test_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(64, 64), keep_ratio=True),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs'),
        ]
        tta_pipeline = [
            dict(type='LoadImageFromFile'),
            dict(type='TestTimeAug', transforms=[
                [dict(type='Resize', scale_factor=r, keep_ratio=True)
                 for r in (0.75, 1.0)],
                [dict(type='RandomFlip', prob=0., direction='horizontal'),
                 dict(type='RandomFlip', prob=1., direction='horizontal')],
                [dict(type='LoadAnnotations')],
                [dict(type='PackSegInputs')]])
        ]
        dataset = dict(type='PascalVOCDataset', data_root=data_root,
                       data_prefix=dict(img_path='JPEGImages',
                                        seg_map_path='SegmentationClassAug'),
                       ann_file='ImageSets/Segmentation/aug.txt',
                       pipeline=train_pipeline)
        train_dataloader = dict(batch_size=2, num_workers=0,
                                persistent_workers=False,
                                dataset=dict(datasets=[dataset, dataset]))
        val_dataloader = dict(num_workers=0, persistent_workers=False,
                              dataset=dict(data_root=data_root,
                                           pipeline=test_pipeline))
        test_dataloader = val_dataloader
        max_iters = {max_iters}
        train_cfg = dict(max_iters=max_iters, val_interval={interval})
        param_scheduler = [dict(type='LinearLR', start_factor=1.0,
                                end_factor=0.0, begin=0, end=max_iters,
                                by_epoch=False)]
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval={interval}))
        env_cfg = dict(cudnn_benchmark=False)
    ''')


def last_miou(log_text):
    """The last ``mIoU: x`` an mmseg run logged."""
    values = re.findall(r'mIoU: ([0-9.]+)', log_text)
    assert values, f'no mIoU in the log:\n{log_text[-3000:]}'
    return float(values[-1])
