"""The ONNX Runtime backend against torch.nn.LSTM, called directly through the protocol."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from onnxruntime_lstm import OnnxRuntimeBackend, backend

RTOL, ATOL = 1.3e-6, 1e-5
FLOAT32 = np.dtype(np.float32)


def make_config(input_size, hidden_size, num_layers=1, bias=True, bidirectional=False,
                dropout=0.0, proj_size=0):
    """A stand-in for spec.config.LSTMConfig with the attributes the backend reads."""
    return SimpleNamespace(
        input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, bias=bias,
        batch_first=False, dropout=dropout, bidirectional=bidirectional, proj_size=proj_size,
        num_directions=2 if bidirectional else 1, h_out=proj_size or hidden_size,
    )


def check_against_torch(config, seq_len, batch, with_hx=False, lengths=None, seed=0):
    torch.manual_seed(seed)
    ref = nn.LSTM(
        config.input_size, config.hidden_size, config.num_layers, bias=config.bias,
        bidirectional=config.bidirectional,
    )
    x = torch.randn(seq_len, batch, config.input_size)
    rows = config.num_layers * config.num_directions
    hx = None
    if with_hx:
        shape = (rows, batch, config.hidden_size)
        hx = (torch.randn(shape), torch.randn(shape))
    with torch.no_grad():
        if lengths is None:
            expected, (h_n, c_n) = ref(x, hx)
        else:
            packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
            out, (h_n, c_n) = ref(packed, hx)
            expected, _ = pad_packed_sequence(out, total_length=seq_len)

    weights = {name: p.detach().numpy() for name, p in ref.state_dict().items()}
    run = backend.prepare(config, weights, FLOAT32, training=False)
    np_hx = None if hx is None else (hx[0].numpy(), hx[1].numpy())
    np_lengths = None if lengths is None else np.array(lengths, dtype=np.int64)
    output, h, c = run(x.numpy(), np_hx, np_lengths)

    np.testing.assert_allclose(output, expected.numpy(), rtol=RTOL, atol=ATOL, err_msg="output")
    np.testing.assert_allclose(h, h_n.numpy(), rtol=RTOL, atol=ATOL, err_msg="h_n")
    np.testing.assert_allclose(c, c_n.numpy(), rtol=RTOL, atol=ATOL, err_msg="c_n")


@pytest.mark.parametrize(
    "num_layers, bidirectional, bias",
    [(1, False, True), (2, False, True), (1, True, True), (2, True, True),
     (1, False, False), (2, True, False)],
)
def test_dense(num_layers, bidirectional, bias):
    config = make_config(3, 5, num_layers, bias, bidirectional)
    check_against_torch(config, seq_len=6, batch=4)


@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
def test_explicit_hx(num_layers, bidirectional):
    config = make_config(3, 5, num_layers, bidirectional=bidirectional)
    check_against_torch(config, seq_len=6, batch=4, with_hx=True)


@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (1, True), (2, True)])
def test_unsorted_lengths_with_a_length_one_sequence(num_layers, bidirectional, with_hx):
    config = make_config(3, 5, num_layers, bidirectional=bidirectional)
    check_against_torch(config, seq_len=6, batch=5, with_hx=with_hx, lengths=[4, 6, 1, 3, 6])


def test_all_lengths_one_in_a_longer_sequence():
    config = make_config(2, 4, 2, bidirectional=True)
    check_against_torch(config, seq_len=4, batch=3, with_hx=True, lengths=[1, 1, 1])


def test_declared_gaps_raise_not_implemented():
    assert {"proj_size", "dropout", "float64"} <= backend.lstm_conformance_unsupported
    with pytest.raises(NotImplementedError):
        backend.prepare(make_config(3, 5, proj_size=2), {}, FLOAT32, training=False)
    with pytest.raises(NotImplementedError):
        backend.prepare(make_config(3, 5, 2, dropout=0.5), {}, FLOAT32, training=True)
    with pytest.raises(NotImplementedError):
        backend.prepare(make_config(3, 5), {}, np.dtype(np.float64), training=False)


def test_sessions_are_reused():
    fresh = OnnxRuntimeBackend()
    config = make_config(3, 5)
    weights = {name: p.detach().numpy() for name, p in nn.LSTM(3, 5).state_dict().items()}
    x = np.zeros((2, 1, 3), np.float32)
    for _ in range(3):
        copies = {k: v.copy() for k, v in weights.items()}
        fresh.prepare(config, copies, FLOAT32, training=False)(x, None, None)
    assert len(fresh._sessions) == 1
