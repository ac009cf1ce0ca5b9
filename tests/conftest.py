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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, 'tests')
DATA = os.path.join(TESTS, 'data')
sys.path.insert(0, os.path.join(TESTS, 'helpers'))


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
