"""The CPU side of the GPU check (.dev_scripts/cuda_check.sh): the wheel
folder it installs from, installed offline the way it installs it, and the
``--device`` option of the test suite."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from rn38_testing import REPO

SCRIPTS = osp.join(REPO, '.dev_scripts')


def pinned_requirements():
    """``{normalised name: version}`` of cuda_requirements.txt."""
    pins = {}
    with open(osp.join(SCRIPTS, 'cuda_requirements.txt')) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                name, version = line.split('==')
                pins[re.sub(r'[-_.]+', '_', name).lower()] = version
    return pins


def test_wheel_folder_installs_offline(tmp_path):
    """cuda_wheels.sh fetches one wheel per pinned requirement (for Python
    3.12) and mmcv's source release; cuda_check.sh's install command
    (--no-index --no-deps) installs the wheels from that folder alone and
    the stack imports from there. (mmcv's build needs the GPU machine's
    torch: it is not repeated here.)"""
    wheels = tmp_path / 'wheels'
    subprocess.run(
        ['bash', osp.join(SCRIPTS, 'cuda_wheels.sh'),
         str(wheels)],
        check=True,
        env=dict(os.environ, PYTHON=sys.executable),
        timeout=600)
    files = sorted(os.listdir(wheels))
    assert 'mmcv-2.1.0.tar.gz' in files
    fetched = {}
    for name in files:
        if name.endswith('.whl'):
            dist, version = name.split('-')[:2]
            fetched[dist.lower()] = version
            tags = name[:-len('.whl')].split('-')[-3:]
            assert tags[0] in ('py3', 'py2.py3', 'cp312') or \
                tags[1] == 'abi3', name
    assert fetched == pinned_requirements()
    site = tmp_path / 'site'
    subprocess.run(
        [
            sys.executable, '-m', 'pip', 'install', '--quiet', '--no-index',
            '--no-deps', '--target',
            str(site)
        ] + [str(wheels / f) for f in files if f.endswith('.whl')],
        check=True,
        timeout=600)
    probe = subprocess.run([
        sys.executable, '-c', 'import mmengine, mmseg, mmpretrain; '
        'print(mmengine.__file__, mmseg.__file__, mmpretrain.__file__)'
    ],
                           env=dict(os.environ, PYTHONPATH=str(site)),
                           check=True,
                           text=True,
                           stdout=subprocess.PIPE,
                           timeout=300)
    assert all(path.startswith(str(site)) for path in probe.stdout.split())


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is here')
def test_device_option_needs_the_device():
    """``pytest --device cuda`` where there is no GPU stops at once with
    one line instead of failing every test."""
    proc = subprocess.run([
        sys.executable, '-m', 'pytest', '--device', 'cuda', '-m', 'device',
        '-q', '-p', 'no:cacheprovider',
        osp.join(REPO, 'tests', 'test_memory_lean.py')
    ],
                          cwd=REPO,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=300)
    assert proc.returncode == 4, proc.stdout[-2000:]
    assert '--device cuda: no CUDA device here' in proc.stdout
