"""nn.LSTM as the reference for the backend examples' plain tests (keras-lstm, flax-lstm),
with the suite's tolerances.

Nothing here imports lstm-conformance: the plain tests compare an adapter with
``torch.nn.LSTM`` directly, so a difference they find is never the suite's. Each example's
``tests/conftest.py`` puts this folder on the import path; it is test code, not part of
any distribution.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

#: The structures and inputs every backend example's plain test covers.
STRUCTURES = {  # id: (num_layers, bidirectional, bias)
    "one-layer": (1, False, True),
    "two-layers": (2, False, True),
    "bidirectional": (1, True, True),
    "bidirectional-two-layers": (2, True, True),
    "no-bias": (1, False, False),
    "bidirectional-two-layers-no-bias": (2, True, False),
}
INPUTS = {  # id: (with_hx, lengths)
    "dense": (False, None),
    "dense-hx": (True, None),
    "packed": (False, [4, 6, 1, 3, 6]),
    "packed-hx": (True, [4, 6, 1, 3, 6]),
}

#: The suite's forward tolerances (docs/TOLERANCES.md): (rtol, atol) per dtype.
TOLERANCE = {np.dtype(np.float32): (1.3e-6, 1e-5), np.dtype(np.float64): (1e-12, 1e-12)}


def make_config(input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                dropout=0.0, proj_size=0):
    """A stand-in for spec.config.LSTMConfig with the attributes the backends read."""
    return SimpleNamespace(
        input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, bias=bias,
        batch_first=False, dropout=dropout, bidirectional=bidirectional, proj_size=proj_size,
        num_directions=2 if bidirectional else 1, h_out=proj_size or hidden_size,
    )


@dataclass
class Case:
    """One nn.LSTM run: its numpy inputs and weights, and what nn.LSTM returned."""

    weights: dict
    x: np.ndarray
    hx: tuple | None
    lengths: np.ndarray | None
    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray


def torch_case(config, dtype, seq_len=6, batch=4, with_hx=False, lengths=None,
               seed=0) -> Case:
    """Run ``nn.LSTM(**config)`` on random input; lengths make it a PackedSequence."""
    tdtype = getattr(torch, np.dtype(dtype).name)
    torch.manual_seed(seed)
    ref = nn.LSTM(config.input_size, config.hidden_size, config.num_layers, bias=config.bias,
                  bidirectional=config.bidirectional).to(tdtype)
    x = torch.randn(seq_len, batch, config.input_size, dtype=tdtype)
    hx = None
    if with_hx:
        shape = (config.num_layers * config.num_directions, batch, config.hidden_size)
        hx = (torch.randn(shape, dtype=tdtype), torch.randn(shape, dtype=tdtype))
    with torch.no_grad():
        if lengths is None:
            output, (h_n, c_n) = ref(x, hx)
        else:
            packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
            output, (h_n, c_n) = ref(packed, hx)
            output, _ = pad_packed_sequence(output, total_length=seq_len)
    return Case(
        weights={name: p.detach().numpy() for name, p in ref.state_dict().items()},
        x=x.numpy(),
        hx=None if hx is None else (hx[0].numpy(), hx[1].numpy()),
        lengths=None if lengths is None else np.array(lengths, dtype=np.int64),
        output=output.numpy(), h_n=h_n.numpy(), c_n=c_n.numpy(),
    )


def run_backend(backend, config, case: Case, dtype):
    run = backend.prepare(config, case.weights, np.dtype(dtype), training=False)
    return run(case.x, case.hx, case.lengths)


def assert_matches(got, case: Case, dtype) -> None:
    """output, h_n, c_n equal nn.LSTM's within the suite's tolerance for ``dtype``.

    The arrays must have the case's dtype; ``dtype`` only picks the tolerance.
    """
    rtol, atol = TOLERANCE[np.dtype(dtype)]
    output, h_n, c_n = got
    for name, actual, expected in [("output", output, case.output), ("h_n", h_n, case.h_n),
                                   ("c_n", c_n, case.c_n)]:
        assert actual.dtype == expected.dtype, f"{name}: {actual.dtype} != {expected.dtype}"
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=name)


def max_abs_diff(got, case: Case) -> float:
    return max(float(np.max(np.abs(a - e))) for a, e in zip(got, (case.output, case.h_n,
                                                                  case.c_n), strict=True))
