"""Train a model from an mmseg or mmpretrain config (mmseg's flags)."""
import sys

from mmrn38.apis import (ConfigError, build_runner, close_distributed,
                         load_config, prepare_train,
                         unknown_types_as_config_error)
from mmrn38.apis.cli import (add_cfg_options, add_launcher, error_line,
                             parse_tool_args, tool_parser)

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
    try:
        cfg = load_config(args.config, args.cfg_options, args.work_dir,
                          args.launcher)
        cfg = prepare_train(cfg, resume=args.resume, amp=args.amp)
        with unknown_types_as_config_error(cfg):
            build_runner(cfg).train()
        close_distributed(wait_for_peers=True)
    except (ConfigError, FileNotFoundError) as error:
        # a config that cannot be used, a missing data set or weights file
        return error_line(PROG, error)
    finally:
        close_distributed()
    return 0


if __name__ == '__main__':
    sys.exit(main())
