"""Train / test entry points shared by ``tools/train.py`` and
``tools/test.py``: they prepare a config the way mmseg's and mmpretrain's own
tools do (same flags), picking the library from the config's
``default_scope``, and run it with mmengine's Runner."""
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict

SCOPES = ('mmseg', 'mmpretrain')


def config_scope(cfg: Config) -> str:
    """'mmseg' or 'mmpretrain': the library a config is written for."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f'config default_scope must be one of {SCOPES} '
                         f'(inherit an mmseg or mmpretrain default_runtime), '
                         f'got {scope!r}')
    return scope


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read a config, apply ``--cfg-options`` and decide the work dir
    (``--work-dir`` > the config's > ``./work_dirs/<config name>``)."""
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    config_scope(cfg)
    return cfg


def prepare_train(cfg: Config, resume: bool = False,
                  amp: bool = False) -> Config:
    """Apply ``--resume`` and ``--amp`` as mmseg's ``tools/train.py``."""
    if amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'AmpOptimWrapper':
            pass
        elif wrapper == 'OptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        else:
            raise ValueError(f'--amp needs an OptimWrapper, the config has '
                             f'{wrapper}')
    cfg.resume = resume
    return cfg


def prepare_test(cfg: Config,
                 checkpoint: str,
                 tta: bool = False,
                 show_dir: Optional[str] = None,
                 show: bool = False,
                 wait_time: float = 2,
                 out: Optional[str] = None) -> Config:
    """Apply ``tools/test.py``'s flags as the config's library does."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    cfg.load_from = checkpoint
    scope = config_scope(cfg)
    if show or show_dir:
        hook = cfg.default_hooks.get('visualization')
        if hook is None:
            raise ValueError('--show/--show-dir need a "visualization" hook '
                             'in default_hooks')
        if scope == 'mmseg':
            hook.draw = True
            hook.show = show
            hook.wait_time = wait_time
            if show_dir:
                cfg.visualizer.save_dir = osp.join(cfg.work_dir, show_dir) \
                    if not osp.isabs(show_dir) else show_dir
        else:
            hook.enable = True
            hook.show = show
            hook.wait_time = wait_time
            hook.out_dir = show_dir
    if tta:
        if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
            raise ValueError('--tta needs tta_pipeline and tta_model in the '
                             'config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    if out is not None:
        if scope == 'mmseg':
            cfg.test_evaluator['output_dir'] = out
            cfg.test_evaluator['keep_results'] = True
        else:
            cfg.test_evaluator = [cfg.test_evaluator, dict(
                type='DumpResults', out_file_path=out)] \
                if isinstance(cfg.test_evaluator, dict) else \
                [*cfg.test_evaluator, dict(type='DumpResults',
                                           out_file_path=out)]
    return cfg


def replace_sync_bn(node):
    """Turn every ``type='SyncBN'`` in a (nested) config into ``'BN'``."""
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for value in node.values():
            replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            replace_sync_bn(value)
    return node


def setup_cpu_distributed(cfg: Config) -> Config:
    """Let ``--launcher pytorch`` run on machines without a GPU.

    mmengine's own ``pytorch`` launcher calls ``torch.cuda.set_device``
    first and so dies without a GPU; its default DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``, which CPU modules reject; and SyncBN needs an
    accelerator. Without CUDA this joins the process group that torchrun
    describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``)
    with the gloo backend, wraps the model in DDP without device ids and
    turns SyncBN into BN. The Runner then finds the group already initialised
    and uses it. With CUDA nothing changes (NCCL, SyncBN).
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return cfg
    if not dist.is_initialized():
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    replace_sync_bn(cfg.model)
    return cfg


def build_runner(cfg: Config):
    """Build the Runner of the config's library (its registries filled)."""
    import mmrn38  # noqa: F401  registers the models and safe globals
    setup_cpu_distributed(cfg)
    if config_scope(cfg) == 'mmseg':
        from mmseg.utils import register_all_modules
    else:
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
