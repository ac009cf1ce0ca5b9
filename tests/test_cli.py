"""mmrn38.apis.cli: the tools' shared arguments and one-line error."""
import argparse
import os

import pytest

from mmrn38.apis.cli import (add_cfg_options, add_device, add_launcher,
                             call_with_args, error_line, output_error_line,
                             parse_tool_args, tool_parser)


def test_common_arguments(monkeypatch):
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    parser = tool_parser('tool', 'what it does', checkpoint=True)
    add_cfg_options(parser)
    add_launcher(parser)
    add_device(parser)
    args = parse_tool_args(parser, [
        'cfg.py', 'ckpt.pth', '--cfg-options', 'a.b=1', 'c=[2,3]',
        '--launcher', 'pytorch', '--local-rank', '3', '--device', 'cuda:1'
    ])
    assert (args.config, args.checkpoint) == ('cfg.py', 'ckpt.pth')
    assert args.cfg_options == {'a.b': 1, 'c': [2, 3]}
    assert (args.launcher, args.device) == ('pytorch', 'cuda:1')
    # torch.distributed.launch's --local-rank reaches mmengine's LOCAL_RANK
    assert os.environ['LOCAL_RANK'] == '3'
    # ... unless torchrun already set it
    monkeypatch.setenv('LOCAL_RANK', '1')
    parse_tool_args(parser, ['cfg.py', 'ckpt.pth', '--local-rank', '0'])
    assert os.environ['LOCAL_RANK'] == '1'
    # no checkpoint, no launcher: neither argument exists
    args = parse_tool_args(tool_parser('tool', 'x'), ['cfg.py'])
    assert vars(args) == {'config': 'cfg.py'}


def test_bad_arguments_name_the_tool(capsys):
    parser = tool_parser('tool', 'what it does')
    add_launcher(parser)
    with pytest.raises(SystemExit) as exit_info:
        parse_tool_args(parser, ['cfg.py', '--launcher', 'ssh'])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        "tool: error: argument --launcher: invalid choice: 'ssh'")


def test_error_line(capsys):
    error = ValueError('first line\n  second\tline ')
    assert error_line('tool', error) == 1
    assert capsys.readouterr().err == (
        '\ntool: error: first line second line\n')
    assert error_line('tool', error, 'said otherwise') == 1
    assert capsys.readouterr().err == '\ntool: error: said otherwise\n'


def test_error_line_without_break_and_output_errors(capsys):
    assert error_line('tool', None, 'nothing to do', line_break=False) == 1
    assert capsys.readouterr().err == 'tool: error: nothing to do\n'
    denied = PermissionError(13, 'Permission denied')
    assert output_error_line('tool', denied, 'out.onnx') == 1
    assert capsys.readouterr().err == (
        '\ntool: error: cannot write out.onnx: Permission denied\n')
    assert output_error_line('tool', ValueError('bad\n  input'), 'x') == 1
    assert capsys.readouterr().err == '\ntool: error: bad input\n'


def test_call_with_args_passes_options_by_name():

    def fn(a, b=2, c=3):
        return a, b, c

    args = argparse.Namespace(a=1, c=5, other=9)
    assert call_with_args(fn, args) == (1, 2, 5)
    assert call_with_args(fn, args, b=7, c=8) == (1, 7, 8)
