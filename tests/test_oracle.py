"""The float64 oracle equals nn.LSTM in float64, on every input form."""

import torch
from hypothesis import given, settings
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_conformance.spec.invariants.common import oracle
from lstm_conformance.spec.strategies import Draws, cases


def _torch_run(case):
    lstm = nn.LSTM(**case.config.kwargs(), dtype=torch.float64).eval()
    lstm.load_state_dict(case.weights)
    x = case.x
    if case.form == "packed":
        packed = pack_padded_sequence(x, torch.tensor(case.lengths), enforce_sorted=False)
        out, (h, c) = lstm(packed, case.hx)
        return pad_packed_sequence(out, total_length=case.seq_len)[0], h, c
    if case.config.batch_first:
        out, (h, c) = lstm(x.transpose(0, 1), case.hx)
        return out.transpose(0, 1), h, c
    return lstm(x, case.hx)[0], *lstm(x, case.hx)[1]


@settings(max_examples=150)
@given(cases(draws=Draws(dtypes=("float64",), forms=("batched", "packed"))))
def test_oracle_equals_nn_lstm_in_float64(case):
    for name, got, want in zip(("output", "h_n", "c_n"), oracle(case), _torch_run(case),
                               strict=True):
        diff = float((got.detach() - want.detach()).abs().max())
        assert diff <= 1e-12, f"{name}: oracle differs from nn.LSTM by {diff:.3g}"


def test_oracle_matches_a_hand_computed_step():
    """One step, one unit, with numbers worked out by hand from the docstring equations."""
    import numpy as np

    from lstm_conformance.spec.config import LSTMConfig
    from lstm_conformance.spec.oracle import lstm_forward, sigmoid

    config = LSTMConfig(1, 1)
    w = {"weight_ih_l0": np.array([[0.5], [-0.5], [1.0], [2.0]]),
         "weight_hh_l0": np.zeros((4, 1)),
         "bias_ih_l0": np.array([0.1, 0.2, 0.3, 0.4]), "bias_hh_l0": np.zeros(4)}
    out, h, c = lstm_forward(config, w, np.array([[[2.0]]]),
                             (np.zeros((1, 1, 1)), np.full((1, 1, 1), 0.5)))
    i, f, g, o = sigmoid(1.1), sigmoid(-0.8), np.tanh(2.3), sigmoid(4.4)
    assert np.isclose(c[0, 0, 0], f * 0.5 + i * g, rtol=0, atol=1e-15)
    assert np.isclose(h[0, 0, 0], o * np.tanh(f * 0.5 + i * g), rtol=0, atol=1e-15)
    assert out[0, 0, 0] == h[0, 0, 0]
