"""Train / test entry points shared by ``tools/train.py`` and
``tools/test.py``: they prepare a config the way mmseg's and mmpretrain's own
tools do (same flags), picking the library from the config's
``default_scope``, and run it with mmengine's Runner."""
import os
import os.path as osp
import re
import zipfile
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict

from mmrn38.utils.device_features import bf16_support

SCOPES = ('mmseg', 'mmpretrain')

# mmengine's registries say so when a config's ``type`` is unknown
UNREGISTERED = re.compile(r'([^\s\'"]+) is not in the (\S+) registry')


class ConfigError(ValueError):
    """A config that cannot be read or run as asked."""


class CheckpointError(ValueError):
    """A checkpoint file that torch cannot read."""


def config_dicts(node, where: str) -> Iterator[Tuple[dict, str]]:
    """Every dict of a config (sub)tree, with its dotted path from
    ``where``."""
    if isinstance(node, dict):
        yield node, where
        for key, value in node.items():
            yield from config_dicts(value, f'{where}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from config_dicts(value, f'{where}.{i}')


def load_checkpoint_lazily(path: str):
    """What a checkpoint file holds, read with torch's safe loader as the
    Runner reads it, its tensors memory-mapped (not read) where the file is
    in torch's zip format: a cheap check before a run.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        CheckpointError: torch cannot read it (truncated, not a checkpoint,
            a type the safe loader does not admit); the message names
            torch's error.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        return torch.load(
            path,
            map_location='cpu',
            weights_only=True,
            mmap=zipfile.is_zipfile(path))
    except Exception as error:  # torch raises many kinds here
        # the first sentence: torch adds paragraphs of advice
        first = str(error).strip().split('\n')[0].split('. ')[0]
        raise CheckpointError(f'cannot load checkpoint {path}: '
                              f'{type(error).__name__}: {first}') from None


@contextmanager
def unknown_types_as_config_error(cfg: Config):
    """Turn the ``KeyError`` of a registry that does not know a config's
    ``type`` into a :class:`ConfigError` naming the config keys that set it
    (the Runner builds parts of the config on the fly, so this covers the
    whole run)."""
    try:
        yield
    except KeyError as error:
        found = UNREGISTERED.search(str(error))
        if found is None:
            raise
        name, registry = found.groups()
        keys = [
            f'{where}.type' for key in cfg.keys()
            for node, where in config_dicts(cfg[key], key)
            if node.get('type') == name
        ]
        raise ConfigError(f"{', '.join(keys) or 'type'}={name!r} is not in "
                          f'the {registry} registry (a typo, or a module '
                          f'missing from custom_imports)') from None


def config_scope(cfg: Config) -> str:
    """'mmseg' or 'mmpretrain': the library a config is written for."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ConfigError(f'config default_scope must be one of {SCOPES} '
                          f'(inherit an mmseg or mmpretrain default_runtime), '
                          f'got {scope!r}')
    return scope


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Read a config, apply ``--cfg-options`` and decide the work dir
    (``--work-dir`` > the config's > ``./work_dirs/<config name>``).

    Raises:
        ConfigError: the file is missing or cannot be read, or an option
            does not apply to it.
    """
    if not osp.isfile(path):
        raise ConfigError(f'config not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except Exception as error:  # mmengine raises whatever the file does
        raise ConfigError(f'cannot read config {path}: '
                          f'{type(error).__name__}: {error}') from error
    cfg.launcher = launcher
    if cfg_options:
        try:
            cfg.merge_from_dict(cfg_options)
        except Exception as error:
            raise ConfigError(f'--cfg-options do not apply to {path}: '
                              f'{type(error).__name__}: {error}') from error
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    config_scope(cfg)
    return cfg


def prepare_train(cfg: Config,
                  resume: bool = False,
                  amp: bool = False) -> Config:
    """Apply ``--resume`` and ``--amp`` as mmseg's ``tools/train.py``;
    ``--amp`` without an accelerator trains under bfloat16 autocast
    (:class:`~mmrn38.engine.CPUAmpOptimWrapper`) where the CPU has native
    bfloat16, and is refused where it has not."""
    if amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper in ('AmpOptimWrapper', 'CPUAmpOptimWrapper'):
            pass
        elif wrapper == 'OptimWrapper' and torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
        elif wrapper == 'OptimWrapper':
            supported, reason = bf16_support('cpu')
            if not supported:
                raise ConfigError(f'--amp on a CPU needs native bfloat16 '
                                  f'(AVX512-BF16 or AMX-BF16): {reason}')
            cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'
        else:
            raise ConfigError(f'--amp needs an OptimWrapper, the config has '
                              f'{wrapper}')
    cfg.resume = resume
    check_local_inputs(cfg, ('train_dataloader', 'val_dataloader', 'model'))
    return cfg


def check_local_inputs(cfg: Config, sections) -> None:
    """Fail early, naming what is missing, when a local file the run reads
    is not there: the data roots and annotation lists and the checkpoints
    of ``Pretrained`` initialisations found in the config ``sections``
    (mmseg's datasets would stop with a bare AssertionError, deep inside the
    Runner). Only training initialises weights, so only it passes
    ``'model'``.

    Raises:
        FileNotFoundError: the missing path and where the config names it.
    """
    problems = []
    for section in sections:
        if cfg.get(section) is None:
            continue
        for node, where in config_dicts(cfg[section], section):
            root = node.get('data_root')
            if isinstance(root, str):
                ann = node.get('ann_file') or ''
                if not osp.isdir(root):
                    problems.append(f'data set not found: {root} '
                                    f'({where}.data_root)')
                elif ann and not osp.isfile(osp.join(root, ann)):
                    problems.append(f'annotation list not found: '
                                    f'{osp.join(root, ann)} ({where})')
            checkpoint = node.get('checkpoint')
            if node.get('type') == 'Pretrained' and isinstance(
                    checkpoint, str) and '://' not in checkpoint and \
                    not osp.isfile(checkpoint):
                problems.append(f'weights not found: {checkpoint} '
                                f'({where}.checkpoint, relative to '
                                f'{os.getcwd()})')
    if problems:
        raise FileNotFoundError('; '.join(dict.fromkeys(problems)))


def prepare_test(cfg: Config,
                 checkpoint: str,
                 tta: bool = False,
                 show_dir: Optional[str] = None,
                 show: bool = False,
                 wait_time: float = 2,
                 out: Optional[str] = None) -> Config:
    """Apply ``tools/test.py``'s flags as the config's library does.

    Raises:
        FileNotFoundError: the checkpoint or a data set is missing.
        CheckpointError: torch cannot read the checkpoint.
        ConfigError: a flag the config cannot serve.
    """
    load_checkpoint_lazily(checkpoint)
    check_local_inputs(cfg, ('test_dataloader', ))
    cfg.load_from = checkpoint
    scope = config_scope(cfg)
    if show or show_dir:
        hook = cfg.default_hooks.get('visualization')
        if hook is None:
            raise ConfigError('--show/--show-dir need a "visualization" hook '
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
            raise ConfigError('--tta needs tta_pipeline and tta_model in the '
                              'config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    if out is not None:
        if scope == 'mmseg':
            cfg.test_evaluator['output_dir'] = out
            cfg.test_evaluator['keep_results'] = True
            # mmseg's IoUMetric creates the folder in the main process only,
            # while every process writes its images' PNGs into it
            os.makedirs(out, exist_ok=True)
        else:
            cfg.test_evaluator = [cfg.test_evaluator, dict(
                type='DumpResults', out_file_path=out)] \
                if isinstance(cfg.test_evaluator, dict) else \
                [*cfg.test_evaluator, dict(type='DumpResults',
                                           out_file_path=out)]
    return cfg


def setup_cpu_distributed(cfg: Config) -> Config:
    """Let ``--launcher pytorch`` run on machines without a GPU.

    mmengine's own ``pytorch`` launcher calls ``torch.cuda.set_device``
    first and so dies without a GPU; its default DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``, which CPU modules reject; and SyncBN needs an
    accelerator. Without CUDA this joins the process group that torchrun
    describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``)
    with the gloo backend and wraps the model in
    :class:`CPUDistributedDataParallel` (no device ids, SyncBN as BN). The
    Runner then finds the group already initialised and uses it. With CUDA
    nothing changes (NCCL, SyncBN).
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
        type='CPUDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    return cfg


def close_distributed(wait_for_peers: bool = False) -> None:
    """Leave the process group, if any, before the process exits: a gloo
    group still open at interpreter exit can abort a finished process
    ("terminate called without an active exception").

    Args:
        wait_for_peers (bool): First wait at a barrier for every rank (after
            a run that ended well), so that no rank tears its connections
            down while rank 0 still writes its last checkpoint or log; a
            resumed 2-process run once aborted at exit on rank 0 without
            it. Not after an error: the peers may never arrive.
    """
    if dist.is_available() and dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


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
