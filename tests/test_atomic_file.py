"""atomic_output: the path holds the old or the complete new file, and an
interrupted write leaves no temporary file behind."""
import os

import pytest

from mmrn38.utils.atomic_file import atomic_output


def test_replaces_only_when_complete(tmp_path):
    path = tmp_path / 'sub' / 'out.png'
    with atomic_output(str(path), suffix='.png') as tmp:
        assert tmp.endswith('.png') and os.path.dirname(tmp) == str(
            path.parent)
        with open(tmp, 'w') as f:
            f.write('new')
    assert path.read_text() == 'new'
    assert os.listdir(path.parent) == ['out.png']


def test_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'out.json'
    path.write_text('old')
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(str(path)) as tmp:
            with open(tmp, 'w') as f:
                f.write('half')
            raise KeyboardInterrupt
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['out.json']
