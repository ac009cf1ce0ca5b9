"""What mmrn38's command-line tools (``tools/``) share: mmseg's common
arguments, the options several tools take, and the one-line error.

A tool builds its parser with :func:`tool_parser` (the positional config,
and checkpoint where it takes one), adds the common options it offers
(:func:`add_cfg_options`, :func:`add_launcher`, :func:`add_device`,
:func:`add_data_split`, :func:`add_size`) and its own, and reports bad
input with :func:`error_line`::

    parser = tool_parser('my_tool', 'What it does', checkpoint=True)
    add_cfg_options(parser)
    args = parse_tool_args(parser, argv)
    try:
        ...
    except (ConfigError, OSError) as error:
        return error_line('my_tool', error)
"""
import argparse
import inspect
import os
import sys
from typing import Any, Callable, Optional, Sequence, Tuple, Union

from mmengine.config import DictAction

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def tool_parser(
        prog: Optional[str],
        description: str,
        config_help: Optional[str] = 'config file path',
        checkpoint: bool = False,
        checkpoint_help: str = 'checkpoint file') -> argparse.ArgumentParser:
    """An ``ArgumentParser`` named ``prog`` (the name its errors start
    with; ``None``: the script's file name) taking the positional
    ``config`` (none where ``config_help`` is ``None``), and ``checkpoint``
    after it where ``checkpoint`` is true."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if config_help is not None:
        parser.add_argument('config', help=config_help)
    if checkpoint:
        parser.add_argument('checkpoint', help=checkpoint_help)
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


def add_device(parser: argparse.ArgumentParser,
               default: Optional[str] = 'cpu',
               help: str = 'device, e.g. cpu or cuda:0'):
    """``--device`` (a torch device name); ``default=None``: ``cuda``
    where torch finds a GPU, else ``cpu``."""
    if default is None:
        import torch
        default = 'cuda' if torch.cuda.is_available() else 'cpu'
    parser.add_argument('--device', default=default, help=help)


def add_scales(parser: argparse.ArgumentParser, flag: str,
               default: Sequence[float], help: str):
    """An option of the image scales CAMs are made at: ``flag S [S
    ...]``, floats."""
    parser.add_argument(
        flag, type=float, nargs='+', default=list(default), help=help)


def add_num_classes(parser: argparse.ArgumentParser):
    """``--num-classes`` of the WSSS tools: labels with the background."""
    parser.add_argument(
        '--num-classes',
        type=int,
        default=21,
        help='labels with background (default 21, VOC)')


def add_data_split(parser: argparse.ArgumentParser, data_root_help: str,
                   split_help: str):
    """The required ``--data-root`` (a VOC2012-layout folder) and
    ``--split`` (its ``ImageSets/Segmentation/<split>.txt``) of the WSSS
    tools."""
    parser.add_argument('--data-root', required=True, help=data_root_help)
    parser.add_argument('--split', required=True, help=split_help)


def split_tool_parser(prog: str, description: str, config_help: str,
                      data_root_help: str,
                      split_help: str) -> argparse.ArgumentParser:
    """The parser of a WSSS tool that runs a model over a VOC split
    (``tools/wsss/make_cams.py``, ``random_walk.py``): the config, ``its
    checkpoint`` and :func:`add_data_split`'s options."""
    parser = tool_parser(
        prog,
        description,
        config_help,
        checkpoint=True,
        checkpoint_help='its checkpoint')
    add_data_split(parser, data_root_help, split_help)
    return parser


def add_size(parser: argparse.ArgumentParser,
             flag: str,
             help: str,
             default: Optional[Sequence[int]] = None):
    """An image size option: ``flag H W``, two integers."""
    parser.add_argument(
        flag,
        type=int,
        nargs=2,
        default=default,
        metavar=('H', 'W'),
        help=help)


def parse_tool_args(parser: argparse.ArgumentParser,
                    argv: Optional[Sequence[str]] = None):
    """``parser.parse_args(argv)``; a ``--local-rank`` given becomes the
    ``LOCAL_RANK`` environment variable mmengine reads, unless set."""
    args = parser.parse_args(argv)
    if 'local_rank' in args:
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def error_line(prog: str,
               error: Optional[BaseException],
               message: Optional[str] = None,
               line_break: bool = True) -> int:
    """Print ``<prog>: error: <message>`` on stderr as one line (the
    error's text with its whitespace folded, unless ``message`` is given),
    after a line break that ends any progress output (unless
    ``line_break`` is false), and return the exit status 1."""
    if message is None:
        message = ' '.join(str(error).split())
    start = '\n' if line_break else ''
    print(f'{start}{prog}: error: {message}', file=sys.stderr)
    return 1


def output_error_line(prog: str, error: BaseException, out: str) -> int:
    """:func:`error_line` of a tool that writes the file ``out``: an
    ``OSError`` (of the output's folder or file) says ``cannot write
    <out>: <reason>``."""
    message = None
    if isinstance(error, OSError):
        reason = error.strerror or ' '.join(str(error).split())
        message = f'cannot write {out}: {reason}'
    return error_line(prog, error, message)


def run_with_runner(prog: str, args: argparse.Namespace, prepare: Callable,
                    phase: str, errors: tuple) -> int:
    """What ``tools/train.py`` and ``test.py`` run: the config of the
    options ``args`` (``--cfg-options``, ``--work-dir``, ``--launcher``),
    ``prepare(cfg)`` (:func:`~mmrn38.apis.prepare_train` ...), the Runner
    built from it and its ``phase`` (``'train'``, ``'test'``); then every
    rank leaves the process group (after a run that ended well, once all
    got there). Returns 0, or 1 after the one error line of an error of
    ``errors``."""
    from .runner import (build_runner, close_distributed, load_config,
                         unknown_types_as_config_error)
    try:
        cfg = prepare(
            load_config(args.config, args.cfg_options, args.work_dir,
                        args.launcher))
        with unknown_types_as_config_error(cfg):
            getattr(build_runner(cfg), phase)()
        close_distributed(wait_for_peers=True)
    except errors as error:
        return error_line(prog, error)
    finally:
        close_distributed()
    return 0


def call_with_args(fn: Callable, args: argparse.Namespace, **changes):
    """``fn`` called with the parsed options ``args`` named like its
    parameters, and ``changes`` (parameters set otherwise, or named
    otherwise than their option)."""
    parameters = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in vars(args).items() if k in parameters}
    return fn(**dict(kwargs, **changes))


def run_tool(prog: str, fn: Callable, args: argparse.Namespace,
             errors: Union[type, Tuple[type, ...]],
             summary: Callable[[Any, argparse.Namespace], str]) -> int:
    """A tool that is one call: ``fn`` with the options ``args`` (see
    :func:`call_with_args`), then the line ``summary(result, args)``;
    returns 0, or 1 after the one error line of an error of ``errors``."""
    try:
        result = call_with_args(fn, args)
    except errors as error:
        return error_line(prog, error)
    print(summary(result, args))
    return 0


def run_split_tool(prog: str, fn: Callable, args: argparse.Namespace,
                   what: str, *out_options: str) -> int:
    """A WSSS tool's run over a VOC split (see :func:`run_tool`): ``fn``
    returns how many images it did, said in the line ``<count> images of
    <split>: <what> in <the folders of the options out_options given>``;
    its errors: :class:`~mmrn38.wsss.data.WSSSDataError` and ``OSError``."""
    from mmrn38.wsss.data import WSSSDataError
    outputs = ' and '.join(
        getattr(args, option) for option in out_options
        if getattr(args, option) is not None)
    return run_tool(
        prog, fn, args, (WSSSDataError, OSError),
        lambda count, args: f'\n{count} images of {args.split}: {what} in '
        f'{outputs}')
