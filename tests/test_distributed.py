"""Distributed launches with the repo's torchrun scripts, on CPU (gloo):
2 processes, a 2-node run simulated on loopback, and kill + --resume."""
import os
import os.path as osp
import re
import signal
import socket
import subprocess
import time

import pytest
import torch
from rn38_testing import (REPO, assert_tta_changed_predictions, last_miou,
                          read_label_maps, run_tool, tiny_voc_config,
                          tool_command, tool_env)

from mmrn38.synthetic import write_voc


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def process_tree(pid):
    """``pid`` and all its descendants (from /proc), parents first."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def kill_tree(pid, timeout=30):
    """SIGKILL a launcher and every worker it started, as a crash would,
    and wait until none of them runs any more."""
    members = process_tree(pid)
    for member in members:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + timeout
    while any(alive(m) for m in members):
        assert time.time() < deadline, 'killed processes still running'
        time.sleep(0.1)


def dump_hook_config(path, data_root, when, max_iters=4, interval=2):
    """The tiny VOC config plus the test hook that dumps each rank's
    weights."""
    tiny_voc_config(path, data_root, max_iters=max_iters, interval=interval)
    with open(path, 'a') as f:
        f.write("custom_imports = dict(imports=['mmrn38', "
                "'rank_weights_hook'], allow_failed_imports=False)\n"
                f"custom_hooks = [dict(type='DumpRankWeightsHook', "
                f'when={when!r})]\n')
    return str(path)


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp('dist_voc')
    return root, write_voc(str(root), dict(train=6, val=3), size=(64, 64))


@pytest.fixture(scope='module')
def two_process_run(voc):
    root, data_root = voc
    cfg = dump_hook_config(root / 'dist.py', data_root, 'after_run')
    work_dir = root / 'work'
    proc = run_tool(
        'dist_train.sh',
        cfg,
        2,
        '--work-dir',
        work_dir,
        env=dict(PORT=free_port()))
    return cfg, work_dir, proc.stdout


def test_two_processes_train_and_agree(two_process_run):
    _, work_dir, log = two_process_run
    assert 'Distributed training: True' in log
    assert "'backend': 'gloo'" in log
    assert osp.isfile(work_dir / 'iter_4.pth')
    rank0 = torch.load(work_dir / 'after_run_rank0.pth', weights_only=True)
    rank1 = torch.load(work_dir / 'after_run_rank1.pth', weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        torch.testing.assert_close(
            rank0[key], rank1[key], rtol=0, atol=0, msg=key)
    saved = torch.load(work_dir / 'iter_4.pth', weights_only=True)
    for key, value in saved['state_dict'].items():
        torch.testing.assert_close(value, rank0[key], rtol=0, atol=0)


def test_dist_test_evaluates_plain_and_tta(two_process_run,
                                           converted_voc_checkpoint):
    """Two test processes share the images: every image is predicted (the
    plain run's mIoU is the training run's last validation, on the same
    images and weights) and --tta changes the predictions."""
    cfg, work_dir, train_log = two_process_run
    log = run_tool(
        'dist_test.sh',
        cfg,
        work_dir / 'iter_4.pth',
        2,
        '--work-dir',
        work_dir / 'test',
        env=dict(PORT=free_port())).stdout
    assert last_miou(log) == last_miou(train_log)
    # a network that predicts many classes, plain and with --tta
    logs = {}
    for name, args in (('plain', []), ('tta', ['--tta'])):
        logs[name] = run_tool(
            'dist_test.sh',
            cfg,
            converted_voc_checkpoint,
            2,
            *args,
            '--work-dir',
            work_dir / f'test_{name}',
            '--out',
            work_dir / f'out_{name}',
            env=dict(PORT=free_port())).stdout
    assert 'SegTTAModel' in logs['tta']
    assert len(read_label_maps(work_dir / 'out_plain')) == 3
    assert_tta_changed_predictions(work_dir / 'out_plain',
                                   work_dir / 'out_tta')


def test_two_nodes_on_loopback(voc):
    root, data_root = voc
    cfg = tiny_voc_config(root / 'nodes.py', data_root)
    work_dir = root / 'nodes'
    port = free_port()
    procs = []
    for node_rank in (0, 1):
        env = tool_env(
            NNODES=2, NODE_RANK=node_rank, PORT=port, MASTER_ADDR='127.0.0.1')
        procs.append(
            subprocess.Popen(
                tool_command('dist_train.sh', cfg, 1, '--work-dir', work_dir),
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-4000:]
    assert 'Iter(train) [4/4]' in outputs[0]
    assert osp.isfile(work_dir / 'iter_4.pth')


def test_killed_run_resumes_from_last_checkpoint(voc):
    root, data_root = voc
    cfg = dump_hook_config(
        root / 'kill.py', data_root, 'before_train', max_iters=400, interval=2)
    work_dir = root / 'kill'
    proc = subprocess.Popen(
        tool_command('dist_train.sh', cfg, 2, '--work-dir', work_dir),
        cwd=REPO,
        env=tool_env(PORT=free_port()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not osp.isfile(work_dir / 'iter_4.pth') and time.time() < deadline:
        assert proc.poll() is None, 'training ended before it was killed'
        time.sleep(0.5)
    kill_tree(proc.pid)
    proc.wait()
    last = (work_dir / 'last_checkpoint').read_text().strip()
    saved_iter = int(re.search(r'iter_(\d+)\.pth$', last).group(1))
    assert 4 <= saved_iter < 400

    resumed = run_tool(
        'dist_train.sh',
        cfg,
        2,
        '--work-dir',
        work_dir,
        '--resume',
        '--cfg-options',
        f'train_cfg.max_iters={saved_iter + 2}',
        env=dict(PORT=free_port()))
    assert re.search(rf'resumed epoch: \d+, iter: {saved_iter}\b',
                     resumed.stdout), resumed.stdout[-3000:]
    assert f'Iter(train) [{saved_iter + 2}/{saved_iter + 2}]' in \
        resumed.stdout
    saved = torch.load(last, weights_only=True)['state_dict']
    for rank in (0, 1):
        loaded = torch.load(
            work_dir / f'before_train_rank{rank}.pth', weights_only=True)
        for key, value in saved.items():
            torch.testing.assert_close(
                loaded[key], value, rtol=0, atol=0, msg=key)
