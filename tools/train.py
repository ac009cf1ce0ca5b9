"""Train a model from an mmseg or mmpretrain config (mmseg's flags)."""
import sys

from mmrn38.apis import ConfigError, prepare_train
from mmrn38.apis.cli import (add_cfg_options, add_launcher, parse_tool_args,
                             run_with_runner, tool_parser)

PROG = 'train.py'


def parse_args(argv=None):
    parser = tool_parser(PROG, 'Train a model', 'train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='resume from the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    add_cfg_options(parser)
    add_launcher(parser)
    return parse_tool_args(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    # a config that cannot be used, a missing data set or weights file
    return run_with_runner(
        PROG, args,
        lambda cfg: prepare_train(cfg, resume=args.resume, amp=args.amp),
        'train', (ConfigError, FileNotFoundError))


if __name__ == '__main__':
    sys.exit(main())
