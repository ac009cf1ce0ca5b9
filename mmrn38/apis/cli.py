"""What mmrn38's command-line tools (``tools/``) share: mmseg's common
arguments and the one-line error.

A tool builds its parser with :func:`tool_parser` (the positional config,
and checkpoint where it takes one), adds the common options it offers
(:func:`add_cfg_options`, :func:`add_launcher`, :func:`add_device`) and its
own, and reports bad input with :func:`error_line`::

    parser = tool_parser('my_tool', 'What it does', checkpoint=True)
    add_cfg_options(parser)
    args = parse_tool_args(parser, argv)
    try:
        ...
    except (ConfigError, OSError) as error:
        return error_line('my_tool', error)
"""
import argparse
import os
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def tool_parser(prog: str,
                description: str,
                config_help: str = 'config file path',
                checkpoint: bool = False) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` named ``prog`` (the name its errors start
    with) taking the positional ``config``, and ``checkpoint`` after it
    where ``checkpoint`` is true."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument('config', help=config_help)
    if checkpoint:
        parser.add_argument('checkpoint', help='checkpoint file')
    return parser


def add_cfg_options(
        parser: argparse.ArgumentParser,
        help: str = 'override settings in the config, key=value pairs'):
    """mmseg's ``--cfg-options key=value ...`` (mmengine's ``DictAction``)."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help=help)


def add_launcher(parser: argparse.ArgumentParser):
    """mmseg's ``--launcher`` and the ``--local-rank`` that
    ``torch.distributed.launch`` passes (torchrun sets ``LOCAL_RANK``)."""
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_device(parser: argparse.ArgumentParser, default: str = 'cpu'):
    """``--device`` (a torch device name)."""
    parser.add_argument(
        '--device', default=default, help='device, e.g. cpu or cuda:0')


def parse_tool_args(parser: argparse.ArgumentParser,
                    argv: Optional[Sequence[str]] = None):
    """``parser.parse_args(argv)``; a ``--local-rank`` given becomes the
    ``LOCAL_RANK`` environment variable mmengine reads, unless set."""
    args = parser.parse_args(argv)
    if 'local_rank' in args:
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def error_line(prog: str,
               error: BaseException,
               message: Optional[str] = None) -> int:
    """Print ``<prog>: error: <message>`` on stderr as one line (the
    error's text with its whitespace folded, unless ``message`` is given),
    after a line break that ends any progress output, and return the exit
    status 1."""
    if message is None:
        message = ' '.join(str(error).split())
    print(f'\n{prog}: error: {message}', file=sys.stderr)
    return 1
