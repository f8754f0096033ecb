"""Warnings are listed under whoever raised them: the suite's own reference nn.LSTM in the
lifecycle machine is not the implementation under test."""

from __future__ import annotations

import warnings

import pytest
import torch

from spec.config import LSTMConfig
from spec.stateful import _reference
from spec.strategies import make_weights


def test_the_lifecycle_reference_keeps_its_warnings_to_itself():
    config = LSTMConfig(input_size=2, hidden_size=3, num_layers=1, dropout=0.5)
    weights = make_weights(config, 0, 1.0, torch.float32)
    with pytest.warns(UserWarning, match="dropout"):  # nn.LSTM itself warns here
        torch.nn.LSTM(**config.kwargs())
    with warnings.catch_warnings(record=True) as heard:
        warnings.simplefilter("always")
        reference = _reference(config, weights, torch.float32)
        reference.to(torch.float64)
    assert heard == [], [str(w.message) for w in heard]
