"""Test a checkpoint with an mmseg or mmpretrain config (mmseg's flags)."""
import sys

from mmrn38.apis import CheckpointError, ConfigError, prepare_test
from mmrn38.apis.cli import (add_cfg_options, add_launcher, parse_tool_args,
                             run_with_runner, tool_parser)

PROG = 'test.py'


def parse_args(argv=None):
    parser = tool_parser(
        PROG,
        'Test (and eval) a model',
        'test config file path',
        checkpoint=True)
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument('--out', help='where to save the predictions')
    parser.add_argument('--show', action='store_true', help='show results')
    parser.add_argument(
        '--show-dir', help='directory to save painted predictions in')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation')
    parser.add_argument(
        '--fast',
        action='store_true',
        help='ResNet-38 inference fast path (mmrn38.optimize_for_inference: '
        'BN folded into convs, channels_last; float32 results unchanged)')
    parser.add_argument(
        '--bf16',
        action='store_true',
        help='the fast path under bfloat16 autocast where the CPU '
        '(AVX512-BF16, AMX) or GPU has native bfloat16, else float32')
    add_cfg_options(parser)
    add_launcher(parser)
    return parse_tool_args(parser, argv)


def use_fast_path(cfg, bf16=False):
    """Add :class:`~mmrn38.engine.hooks.InferenceFastPathHook` to the
    test config's ``custom_hooks`` (``--fast`` / ``--bf16``)."""
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='InferenceFastPathHook', bf16=bf16)
    ]
    return cfg


def main(argv=None):
    args = parse_args(argv)

    def prepare(cfg):
        cfg = prepare_test(
            cfg,
            args.checkpoint,
            tta=args.tta,
            show_dir=args.show_dir,
            show=args.show,
            wait_time=args.wait_time,
            out=args.out)
        if args.fast or args.bf16:
            cfg = use_fast_path(cfg, bf16=args.bf16)
        return cfg

    # a config that cannot be used, a missing or unreadable checkpoint, a
    # missing data set
    return run_with_runner(PROG, args, prepare, 'test',
                           (ConfigError, CheckpointError, FileNotFoundError))


if __name__ == '__main__':
    sys.exit(main())
