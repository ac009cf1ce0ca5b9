"""Shared pytest set-up.

The mmsegmentation wheel installs a top-level package called ``tests``; this
project's test folder is therefore not a package (no ``__init__.py``) and
pytest imports its modules by file path (``--import-mode=importlib`` in
``pytest.ini``), so mmseg's ``tests`` can never shadow them. Helpers live in
``tests/helpers/``, which is put on ``sys.path`` below (``import
rn38_testing``).
"""
import os
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, 'tests')
DATA = os.path.join(TESTS, 'data')
sys.path.insert(0, os.path.join(TESTS, 'helpers'))


def pytest_addoption(parser):
    parser.addoption(
        '--device',
        default='cpu',
        help='device of the tests that take the `device` fixture: cpu '
        '(default), cuda, cuda:1 ... (`pytest --device cuda -m device` runs '
        'just those)')


def pytest_collection_modifyitems(config, items):
    for item in items:
        if 'device' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.device)


@pytest.fixture(scope='session')
def device(request):
    """The ``--device`` the tests run on. On CUDA the tests hold cuDNN to
    its deterministic float32 kernels: they compare two paths exactly or to
    float32 rounding, while the default kernels' atomics make even one path
    differ from run to run and TF32 rounds products to 10 mantissa bits."""
    device = torch.device(request.config.getoption('--device'))
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            pytest.exit('--device cuda: no CUDA device here', returncode=4)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.allow_tf32 = False
    return device


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture
def winograd_everywhere(monkeypatch):
    """The fast path's Winograd convs for every eligible conv, whatever its
    channel count (at the tests' small widths none reaches the 256 channels
    where it pays)."""
    from mmrn38.models import winograd_conv
    monkeypatch.setattr(winograd_conv, 'MIN_CHANNELS', 1)


@pytest.fixture(scope='session')
def converted_voc_checkpoint(tmp_path_factory):
    """The ``a1_s8_seg2_div16`` MXNet reference network converted by the
    CLI (:func:`rn38_testing.converted_voc_fixture`), once a session: the
    tests only read it."""
    from rn38_testing import converted_voc_fixture
    return converted_voc_fixture(
        str(tmp_path_factory.mktemp('converted') / 'a1_s8_seg2_div16.pth'))
