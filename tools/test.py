"""Test a checkpoint with an mmseg or mmpretrain config (mmseg's flags)."""
import argparse
import os
import sys

from mmengine.config import DictAction

from mmrn38.apis import (CheckpointError, ConfigError, build_runner,
                         close_distributed, load_config, prepare_test,
                         unknown_types_as_config_error)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument('--out', help='where to save the predictions')
    parser.add_argument('--show', action='store_true', help='show results')
    parser.add_argument(
        '--show-dir', help='directory to save painted predictions in')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation')
    parser.add_argument(
        '--fast', action='store_true',
        help='ResNet-38 inference fast path (mmrn38.optimize_for_inference: '
        'BN folded into convs, channels_last; float32 results unchanged)')
    parser.add_argument(
        '--bf16', action='store_true',
        help='the fast path under bfloat16 autocast where the CPU '
        '(AVX512-BF16, AMX) or GPU has native bfloat16, else float32')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def use_fast_path(cfg, bf16=False):
    """Add :class:`~mmrn38.engine.hooks.InferenceFastPathHook` to the
    test config's ``custom_hooks`` (``--fast`` / ``--bf16``)."""
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='InferenceFastPathHook', bf16=bf16)
    ]
    return cfg


def main():
    args = parse_args()
    try:
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher)
        cfg = prepare_test(cfg, args.checkpoint, tta=args.tta,
                           show_dir=args.show_dir, show=args.show,
                           wait_time=args.wait_time, out=args.out)
        if args.fast or args.bf16:
            cfg = use_fast_path(cfg, bf16=args.bf16)
        with unknown_types_as_config_error(cfg):
            build_runner(cfg).test()
    except (ConfigError, CheckpointError, FileNotFoundError) as error:
        # a config that cannot be used, a missing or unreadable checkpoint,
        # a missing data set
        sys.exit(f'test.py: error: {error}')
    finally:
        close_distributed()


if __name__ == '__main__':
    main()
