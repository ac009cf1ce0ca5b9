"""Train a model from an mmseg or mmpretrain config (mmseg's flags)."""
import argparse
import os
import sys

from mmengine.config import DictAction

from mmrn38.apis import (ConfigError, build_runner, close_distributed,
                         load_config, prepare_train,
                         unknown_types_as_config_error)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', action='store_true',
        help='resume from the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true',
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    try:
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher)
        cfg = prepare_train(cfg, resume=args.resume, amp=args.amp)
        with unknown_types_as_config_error(cfg):
            build_runner(cfg).train()
    except (ConfigError, FileNotFoundError) as error:
        # a config that cannot be used, a missing data set or weights file
        sys.exit(f'train.py: error: {error}')
    finally:
        close_distributed()


if __name__ == '__main__':
    main()
