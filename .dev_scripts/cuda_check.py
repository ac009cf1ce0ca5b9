"""The GPU half of mmrn38's checks, run once on a CUDA machine by
``.dev_scripts/cuda_check.sh`` (which installs the stack first).

Steps, each timed and recorded even when it fails:

1. ``benchmark``: the benchmark tool's cases at 512x512, batch 8 on CUDA,
   float32 and ``--amp`` (training step, inference, peak CUDA memory, ratios
   to ``rn38-os8``); ``rn38-os8-fast`` with bfloat16 is
   ``optimize_for_inference(bf16=True)`` against plain float32, with the
   share of equal labels.
2. ``train_test``: ``tools/train.py configs/rn38_voc.py --amp`` for 20
   iterations on generated VOC-layout data, as shipped (width 1, 512 crop,
   batch 4, ImageNet weights from ``checkpoints/``), then ``tools/test.py``
   with and without ``--tta``: the loss falls, test mIoU = validation mIoU.
3. ``cams``: ``tools/wsss/make_cams.py configs/wsss/rn38_voc_cls.py`` on
   CUDA and on CPU (PSA's scales): the same CAMs to 1e-4.
4. ``pytest``: the tests that take the ``device`` fixture, on CUDA.
5. ``cpu_kernels`` (only when named in ``--steps``): the host CPU's
   kernels of issue 26 (``.dev_scripts/cpu_kernels.py``: plain port, fast
   path float32 / bfloat16 with each kernel choice, int8, the oneDNN
   instruction set used) at 256x256 and 512x512, pinned to 2 cores
   (250 s at most; the first forward of the autotuned models times their
   kernels), then on 16 threads with int8 at 256x256 (100 s at most).

Writes ``OUT/cuda_check.json`` and ``OUT/cuda_check.md`` after every step.

    python .dev_scripts/cuda_check.py OUT [--steps benchmark train_test ...]
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
import time
import traceback

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'tests', 'helpers'))

from rn38_testing import user_overrides  # noqa: E402
from rn38_testing import write_imagenet_weights  # noqa: E402
from rn38_testing import as_args, last_miou, run_tool  # noqa: E402

TRAIN_CASES = ['rn38-os8', 'rn38-os8-lean', 'rn38-os8-cp', 'r101-d8']
ITERS = 20


class Report:
    """The JSON record and its Markdown rendering, rewritten after every
    step so that a run cut short still leaves what it measured."""

    def __init__(self, out):
        self.out = out
        self.data = dict(steps={})
        self.sections = []

    def add(self, title, text):
        self.sections.append(f'## {title}\n\n{text}\n')
        self.save()

    def save(self):
        with open(osp.join(self.out, 'cuda_check.json'), 'w') as f:
            json.dump(self.data, f, indent=2, default=str)
        with open(osp.join(self.out, 'cuda_check.md'), 'w') as f:
            f.write('# mmrn38 on CUDA\n\n' + '\n'.join(self.sections))


def machine(report, mmcv_build_s):
    import torch
    props = torch.cuda.get_device_properties(0)
    info = dict(
        gpu=torch.cuda.get_device_name(0),
        gpu_memory_gib=round(props.total_memory / 2**30, 1),
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version(),
        python=sys.version.split()[0],
        cpu_count=os.cpu_count(),
        mmcv_build_s=mmcv_build_s)
    import mmcv
    import mmengine
    import mmpretrain
    import mmseg
    info.update(
        mmcv=mmcv.__version__,
        mmengine=mmengine.__version__,
        mmseg=mmseg.__version__,
        mmpretrain=mmpretrain.__version__)
    report.data['machine'] = info
    report.add('Machine', '\n'.join(f'- {k}: {v}' for k, v in info.items()))


def benchmark(report):
    from mmrn38.benchmark import BenchmarkSettings, format_table, run_benchmark
    tables = []
    for amp in (False, True):
        cases = TRAIN_CASES + ([] if amp else ['rn38-os8-fast'])
        settings = BenchmarkSettings(
            size=(512, 512),
            batch=8,
            repeats=3,
            warmup=2,
            device='cuda',
            bf16=not amp,
            amp=amp)
        result = run_benchmark(cases, settings, progress=False)
        report.data[f'benchmark_amp_{amp}'] = result
        tables.append(format_table(result))
        report.add(f'Benchmark, amp={amp}', tables[-1])
    return {'tables': len(tables)}


def train_test(report, work):
    from mmengine.config import Config

    from mmrn38.synthetic import write_voc
    config = osp.join(REPO, 'configs', 'rn38_voc.py')
    user_dir = osp.join(work, 'user')
    write_imagenet_weights(user_dir)
    data_root = write_voc(
        osp.join(work, 'voc'), dict(train=16, val=4), size=(375, 500))
    opts = user_overrides(Config.fromfile(config), data_root)
    opts.update({
        'train_cfg.max_iters': ITERS,
        'train_cfg.val_interval': ITERS,
        'default_hooks.checkpoint.interval': ITERS,
        'default_hooks.logger.interval': 1,
    })
    work_dir = osp.join(work, 'train')
    start = time.time()
    log = run_tool(
        'train.py',
        config,
        '--amp',
        '--work-dir',
        work_dir,
        *as_args(opts),
        cwd=user_dir).stdout
    train_s = time.time() - start
    with open(osp.join(report.out, 'train.log'), 'w') as f:
        f.write(log)
    lines = re.findall(rf'Iter\(train\) \[\s*\d+/{ITERS}\].*', log)
    losses = [
        float(re.search(r' loss: ([0-9.]+)', line).group(1)) for line in lines
    ]
    # mmengine's "memory": max_memory_allocated in MB since the last line
    memory = [
        int(re.search(r' memory: (\d+)', line).group(1)) for line in lines
        if ' memory: ' in line
    ]
    val_memory = [
        int(m)
        for m in re.findall(r'Iter\(val\) \[\d+/\d+\].* memory: (\d+)', log)
    ]
    val_miou = last_miou(log)
    ckpt = osp.join(work_dir, f'iter_{ITERS}.pth')
    tested = run_tool(
        'test.py',
        config,
        ckpt,
        '--work-dir',
        osp.join(work, 'test'),
        *as_args(opts),
        cwd=user_dir).stdout
    tta = run_tool(
        'test.py',
        config,
        ckpt,
        '--tta',
        '--work-dir',
        osp.join(work, 'tta'),
        *as_args(opts),
        cwd=user_dir).stdout
    with open(osp.join(report.out, 'test.log'), 'w') as f:
        f.write(tested + '\n\n' + tta)
    first, last = losses[:5], losses[-5:]
    result = dict(
        iterations=len(losses),
        losses=losses,
        loss_first5=sum(first) / len(first),
        loss_last5=sum(last) / len(last),
        train_memory_mb=max(memory) if memory else None,
        val_memory_mb=max(val_memory) if val_memory else None,
        amp_in_log='AmpOptimWrapper' in log,
        train_wall_s=round(train_s, 1),
        val_miou=val_miou,
        test_miou=last_miou(tested),
        test_tta_miou=last_miou(tta))
    result['loss_falls'] = result['loss_last5'] < result['loss_first5']
    result['test_equals_val'] = result['test_miou'] == val_miou
    return result


def _cam_classifier(path):
    """Random weights (fixed seed) for configs/wsss/rn38_voc_cls.py."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    import mmrn38.wsss  # noqa: F401
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'wsss', 'rn38_voc_cls.py'))
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)


def cams(report, work):
    import numpy as np
    from rn38_testing import tool_command, tool_env

    from mmrn38.synthetic import write_voc
    config = osp.join(REPO, 'configs', 'wsss', 'rn38_voc_cls.py')
    ckpt = osp.join(work, 'cam_cls.pth')
    _cam_classifier(ckpt)
    data_root = write_voc(
        osp.join(work, 'wsss'), dict(train=2), size=(375, 500))
    procs, times = {}, {}
    for device in ('cpu', 'cuda'):  # both at once: CPU and GPU are apart
        out = osp.join(work, f'cams_{device}')
        procs[device] = (out,
                         subprocess.Popen(
                             tool_command('wsss/make_cams.py', config, ckpt,
                                          '--data-root', data_root, '--split',
                                          'train', '--out-cam', out,
                                          '--device', device),
                             cwd=REPO,
                             env=tool_env(),
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT,
                             text=True))
        times[device] = time.time()
    for device, (out, proc) in procs.items():
        output, _ = proc.communicate(timeout=600)
        times[device] = round(time.time() - times[device], 1)
        if proc.returncode:
            raise RuntimeError(f'make_cams --device {device} exited '
                               f'{proc.returncode}: {output[-3000:]}')
    cpu_dir, cuda_dir = procs['cpu'][0], procs['cuda'][0]
    diffs, classes = [], []
    for name in sorted(os.listdir(cpu_dir)):
        a = np.load(osp.join(cpu_dir, name), allow_pickle=True).item()
        b = np.load(osp.join(cuda_dir, name), allow_pickle=True).item()
        assert sorted(a) == sorted(b), (name, sorted(a), sorted(b))
        classes.append(len(a))
        diffs += [float(np.abs(a[c] - b[c]).max()) for c in a]
    return dict(
        images=len(classes),
        cams=len(diffs),
        max_abs_diff=max(diffs),
        within_1e4=max(diffs) <= 1e-4,
        wall_s=times)


def pytest_cuda(report):
    start = time.time()
    proc = subprocess.run([
        sys.executable, '-m', 'pytest', '--device', 'cuda', '-m', 'device',
        '-q', '-p', 'no:cacheprovider'
    ],
                          cwd=REPO,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=600)
    with open(osp.join(report.out, 'pytest.log'), 'w') as f:
        f.write(proc.stdout)
    summary = proc.stdout.strip().splitlines()[-1]
    failed = [
        line for line in proc.stdout.splitlines()
        if line.startswith(('FAILED', 'ERROR'))
    ]
    return dict(
        returncode=proc.returncode,
        summary=summary,
        failed=failed,
        wall_s=round(time.time() - start, 1))


#: (threads, budget for new rounds in s, hard limit in s, int8 sizes) of
#: the cpu_kernels step's two runs
CPU_KERNEL_RUNS = ((2, 190, 250, ()), (16, 50, 100, (256, )))


def cpu_kernels(report):
    """.dev_scripts/cpu_kernels.py in a process per thread count, pinned
    to that many cores (``taskset``), each cut at its hard limit (its
    files keep what it measured)."""
    result = {}
    for threads, budget, limit, int8_sizes in CPU_KERNEL_RUNS:
        cores = f'0-{threads - 1}'
        command = [
            sys.executable,
            osp.join(REPO, '.dev_scripts', 'cpu_kernels.py'), report.out,
            '--threads',
            str(threads), '--budget-s',
            str(budget), '--int8-sizes', *map(str, int8_sizes)
        ]
        env = dict(
            os.environ, OMP_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES='')
        start = time.time()
        try:
            proc = subprocess.run(
                ['taskset', '-c', cores] + command,
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=limit)
            output, code = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as error:
            output, code = error.stdout or '', 'timeout'
            if isinstance(output, bytes):
                output = output.decode(errors='replace')
        with open(osp.join(report.out, f'cpu_kernels_{threads}t.log'),
                  'w') as f:
            f.write(output)
        md = osp.join(report.out, f'cpu_kernels_{threads}t.md')
        if osp.exists(md):
            with open(md) as f:
                report.add(f'CPU kernels, {threads} threads', f.read())
        result[f'{threads}t'] = dict(
            returncode=code, wall_s=round(time.time() - start, 1))
    return result


STEPS = dict(
    benchmark=benchmark,
    train_test=train_test,
    cams=cams,
    pytest=pytest_cuda,
    cpu_kernels=cpu_kernels)
DEFAULT_STEPS = ['benchmark', 'train_test', 'cams', 'pytest']


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', help='folder of the report')
    parser.add_argument(
        '--steps', nargs='+', choices=list(STEPS), default=DEFAULT_STEPS)
    parser.add_argument(
        '--mmcv-build-s',
        type=float,
        help='seconds the mmcv build took (for the report)')
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    report = Report(args.out)
    machine(report, args.mmcv_build_s)
    work = tempfile.mkdtemp(prefix='mmrn38-cuda-')
    for name in args.steps:
        start = time.time()
        print(f'[cuda_check {time.strftime("%H:%M:%S")}] {name}', flush=True)
        try:
            kwargs = dict(work=work) if name in ('train_test', 'cams') else {}
            result = dict(ok=True, **STEPS[name](report, **kwargs))
        except Exception:
            result = dict(ok=False, error=traceback.format_exc()[-4000:])
        result['step_s'] = round(time.time() - start, 1)
        report.data['steps'][name] = result
        shown = {k: v for k, v in result.items() if k != 'losses'}
        report.add(
            f'Step {name}',
            '```\n' + json.dumps(shown, indent=2, default=str) + '\n```')
        print(json.dumps(shown, default=str)[:2000], flush=True)
    return 0 if all(r['ok'] for r in report.data['steps'].values()) else 1


if __name__ == '__main__':
    sys.exit(main())
