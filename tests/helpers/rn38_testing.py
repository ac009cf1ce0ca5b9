"""Helpers for mmrn38's tests: run the repo's tools as real processes and
write small child configs of the repo's configs."""
import importlib.util
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
    return dict(
        os.environ,
        PYTHONUNBUFFERED='1',
        PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join([HELPERS,
                                    os.environ.get('PYTHONPATH', '')]),
        **{
            k: str(v)
            for k, v in extra.items()
        })


def tool_command(script, *args):
    """The command line of ``tools/<script>`` (Python or shell)."""
    path = osp.join(REPO, 'tools', script)
    runner = ['bash'] if script.endswith('.sh') else [sys.executable]
    return [*runner, path, *map(str, args)]


def run_tool(script, *args, env=None, timeout=600, check=True, cwd=REPO):
    """Run ``tools/<script>`` from ``cwd`` (the repo root); returns the
    CompletedProcess (stdout and stderr merged)."""
    cmd = tool_command(script, *args)
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=tool_env(**(env or {})),
        timeout=timeout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited {proc.returncode}:\n'
                             f'{proc.stdout[-6000:]}')
    return proc


def manager_classes():
    """mmengine's classes of named global instances (``ManagerMixin``:
    loggers, message hubs, visualizers, default scopes)."""
    from mmengine.utils import ManagerMixin
    classes, stack = [], [ManagerMixin]
    while stack:
        cls = stack.pop()
        classes.append(cls)
        stack.extend(cls.__subclasses__())
    return classes


def run_tool_here(script, *args):
    """Run ``tools/<script>`` in this process, as its command line runs it
    (``sys.argv``, ``__main__``), from the repo root: for tests whose point
    is a config rather than the process, without the seconds a new process
    spends importing the stack. The config the Runner logs and dumps is
    left as mmengine writes it before yapf formats it (the formatting is
    cosmetic and takes seconds a run). Returns what it printed (its log);
    raises AssertionError if it exits with an error.

    The environment and mmengine's global instances are restored
    afterwards: a Runner makes its logger, message hub, visualizer and
    default scope the current ones, named after the second it started, so
    a later run in the same second would get them back (logging into this
    run's output) and later tests would see this run's scope."""
    import contextlib
    import io
    import runpy
    from unittest import mock

    path = osp.join(REPO, 'tools', script)
    out = io.StringIO()
    saved = {cls: dict(cls._instance_dict) for cls in manager_classes()}
    try:
        with mock.patch.object(sys, 'argv', [path, *map(str, args)]), \
                mock.patch('mmengine.config.config.FormatCode',
                           lambda text, **kwargs: (text, False)), \
                mock.patch.dict(os.environ), contextlib.chdir(REPO), \
                contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name='__main__')
    except SystemExit as error:
        if error.code not in (None, 0):
            raise AssertionError(f'{script} {args} exited: {error.code}\n'
                                 f'{out.getvalue()[-6000:]}')
    finally:
        for cls in manager_classes():
            cls._instance_dict.clear()
            cls._instance_dict.update(saved.get(cls, {}))
    return out.getvalue()


def user_overrides(cfg, data_root, edit=None):
    """The --cfg-options a user passes (as a dict): every dataset of the
    three loaders at ``data_root``, no worker processes. ``edit(node, path,
    opts)``, if given, sees every dict of the loaders and may add more."""
    opts = {}

    def walk(node, path):
        if isinstance(node, dict):
            if 'data_root' in node:
                opts[f'{path}.data_root'] = data_root
            if edit is not None:
                edit(node, path, opts)
            for key, value in node.items():
                walk(value, f'{path}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{path}.{i}')

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        walk(cfg[loader], loader)
        opts[f'{loader}.num_workers'] = 0
        opts[f'{loader}.persistent_workers'] = False
    return opts


def as_args(opts):
    """``--cfg-options k=v ...`` of a dict (tuples written as (a,b))."""

    def fmt(value):
        if isinstance(value, tuple):
            return '(' + ','.join(map(str, value)) + ')'
        return str(value)

    return ['--cfg-options'] + [f'{k}={fmt(v)}' for k, v in opts.items()]


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
    return write_config(
        path, 'rn38_voc.py', f'''
        data_root = {data_root!r}
        crop_size = (64, 64)
        norm_cfg = {TINY_NORM}
        model = dict(
            data_preprocessor=dict(size=crop_size),
            backbone=dict(width=1 / 16, norm_cfg=norm_cfg, init_cfg=None),
            decode_head=dict(in_channels=256, channels=32, norm_cfg=norm_cfg,
                             loss_decode=dict(min_kept=16)))
        # the base's pipelines at 64 pixels, without the photometric
        # distortion and the padding
        tiny_sizes = dict(
            RandomResize=dict(scale=(64, 64), ratio_range=(0.8, 1.2)),
            RandomCrop=dict(crop_size=crop_size),
            Resize=dict(scale=(64, 64)))
        train_pipeline = [
            dict(t, **tiny_sizes.get(t.type, dict()))
            for t in _base_.train_pipeline
            if t.type not in ('PhotoMetricDistortion', 'Pad')
        ]
        test_pipeline = [
            dict(t, **tiny_sizes.get(t.type, dict()))
            for t in _base_.test_pipeline
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


def converted_voc_fixture(dst):
    """The ``a1_s8_seg2_div16`` MXNet reference network (the released VOC
    model's layout at width 1/16, random weights and BN statistics),
    converted by the CLI. Unlike a model trained for a few iterations, which
    predicts background everywhere, it predicts many classes, so what
    changes its predictions (TTA) shows."""
    src = osp.join(REPO, 'tests', 'data', 'mxnet', 'a1_s8_seg2_div16.params')
    run_tool(
        osp.join('model_converters', 'rn38_to_mm.py'), src, dst, '--arch',
        'A1', '--num-classes', 21)
    return dst


def read_label_maps(folder):
    """{file name: label array} of the PNGs ``tools/test.py --out`` wrote."""
    import numpy as np
    from PIL import Image
    return {
        name: np.array(Image.open(osp.join(folder, name)))
        for name in sorted(os.listdir(folder)) if name.endswith('.png')
    }


def assert_tta_changed_predictions(plain_dir, tta_dir):
    """The --tta run predicted every image the plain run did, at the same
    sizes, and the augmented views changed some pixels (a TTA that never ran
    or only repeated the plain view would change none)."""
    import numpy as np
    plain, tta = read_label_maps(plain_dir), read_label_maps(tta_dir)
    assert plain and plain.keys() == tta.keys()
    changed = 0
    for name in plain:
        assert plain[name].shape == tta[name].shape, name
        changed += int(np.count_nonzero(plain[name] != tta[name]))
    assert changed > 0, 'the TTA predictions equal the plain ones'


def last_miou(log_text):
    """The last ``mIoU: x`` an mmseg run logged."""
    values = re.findall(r'mIoU: ([0-9.]+)', log_text)
    assert values, f'no mIoU in the log:\n{log_text[-3000:]}'
    return float(values[-1])


def load_tool(path):
    """A tools/ script as a module (its ``main(argv)`` runs in-process)."""
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(path))[0], osp.join(REPO, 'tools', path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PRETRAINED = 'checkpoints/ilsvrc-cls_rna-a1_cls1000.pth'


def write_imagenet_weights(root):
    """The ImageNet weights where the configs' ``init_cfg`` and the docs
    put them, ``root/checkpoints/...``, relative to the folder a user runs
    the tools in: a freshly built width-1 Model A1 classifier (the
    converted release has the same keys and shapes)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import mmrn38  # noqa: F401  registers ResNet38
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rn38_in1k.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    os.makedirs(osp.join(root, 'checkpoints'), exist_ok=True)
    torch.save({
        'state_dict': model.state_dict(),
        'meta': {}
    }, osp.join(root, PRETRAINED))


def randomize_psa_net(net, seed=0):
    """``net`` (a PSA-named plain network) with random weights and BN
    statistics, in eval mode: convs N(0, 2 / fan_in), BN scales in [0.5,
    1.5), shifts and means about 0.1, variances in [0.5, 1.5)."""
    import torch
    import torch.nn as nn
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(
                m.weight.shape, generator=gen) * (2 / fan_in)**0.5
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.1
            m.running_mean = torch.randn(n, generator=gen) * 0.1
            m.running_var = torch.rand(n, generator=gen) + 0.5
    return net.eval()


def build_wider_head(**kwargs):
    """A small ``WiderHead`` (16 input channels, 8 channels, 5 classes,
    BN) built by mmseg's registry, ``kwargs`` overriding any of these."""
    from mmseg.registry import MODELS

    import mmrn38  # noqa: F401
    cfg = dict(
        type='WiderHead',
        in_channels=16,
        channels=8,
        num_classes=5,
        norm_cfg=dict(type='BN'))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def rn38_segmentor_cfg(backbone=None, **decode_head):
    """mmseg's ``EncoderDecoder`` config of a small ResNet-38 segmentor:
    the backbone at width 1/16 (A1, output stride 8: 256 output channels;
    ``backbone`` adds or overrides settings) and a 2-conv ``WiderHead`` of
    32 channels and 21 classes on it (``decode_head`` overrides)."""
    head = dict(type='WiderHead', in_channels=256, channels=32, num_classes=21)
    head.update(decode_head)
    return dict(
        type='EncoderDecoder',
        backbone=dict(dict(type='ResNet38', width=1 / 16), **(backbone or {})),
        decode_head=head)
