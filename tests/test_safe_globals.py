"""Checkpoints load with weights_only=True; nothing beyond what mmengine's
checkpoints need is admitted."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmrn38  # noqa: F401
from mmrn38.utils.safe_globals import history_buffer_method


def test_message_hub_round_trips(tmp_path):
    hub = MessageHub.get_instance('rn38_safe_globals_test')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('iter', np.int64(7))
    path = tmp_path / 'ckpt.pth'
    torch.save(
        dict(message_hub=hub.state_dict(), meta=dict(seed=np.int64(3))), path)
    loaded = torch.load(path, weights_only=True)
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.375)
    assert buffer.statistics('max') == pytest.approx(0.5)


class _Sneaky:
    """Pickles as getattr(HistoryBuffer, '__dict__') (not a method)."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__dict__')


class _Escape:
    """Pickles as getattr(np.ndarray, 'tofile')."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


@pytest.mark.parametrize('payload', [_Sneaky(), _Escape()])
def test_other_getattr_is_refused(tmp_path, payload):
    path = tmp_path / 'bad.pth'
    torch.save(dict(x=payload), path)
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        torch.load(path, weights_only=True)


def test_stand_in_resolves_only_methods():
    assert history_buffer_method(HistoryBuffer, 'mean') is \
        HistoryBuffer.__dict__['mean']
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_method(HistoryBuffer, '_statistics_methods')
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_method(dict, 'get')
