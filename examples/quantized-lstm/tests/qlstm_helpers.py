"""Helpers shared by the tests: seeded nn.LSTMs and quantize_dynamic written out by hand.

A module of its own (not conftest.py) so that ``from qlstm_helpers import ...`` works from
any rootdir: the repository root has a conftest.py of its own, which a bare
``from conftest import`` could pick up instead.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.ao.quantization import quantize_dynamic


def seeded_lstm(input_size, hidden_size, num_layers=1, *, seed=0, scale=1.0, **kw) -> nn.LSTM:
    """An nn.LSTM with weights U(-k, k), k = scale / sqrt(hidden), as the suite draws them."""
    torch.manual_seed(seed)
    lstm = nn.LSTM(input_size, hidden_size, num_layers, **kw)
    bound = scale / math.sqrt(hidden_size)
    with torch.no_grad():
        for p in lstm.parameters():
            p.uniform_(-bound, bound)
    return lstm.eval()


def quantized_directly(lstm: nn.LSTM, dtype: torch.dtype) -> nn.Module:
    """torch.ao.quantization.quantize_dynamic of ``lstm``, written out with no adapter
    involved. The nn.Sequential wrapper is what makes quantize_dynamic swap the LSTM at all:
    it converts children only (tests/test_gaps.py::test_bare_lstm_is_not_quantized)."""
    return quantize_dynamic(nn.Sequential(lstm), {nn.LSTM}, dtype=dtype)[0]


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())
