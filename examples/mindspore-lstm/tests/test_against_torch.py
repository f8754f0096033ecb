"""The plain test: the MindSpore backend against torch.nn.LSTM directly, without the suite.

Weights come from an ``nn.LSTM`` state_dict and are assigned to MindSpore's parameters of
the same name; output, h_n and c_n are compared with what that ``nn.LSTM`` returned, within
the suite's float32 tolerance, dense and packed (MindSpore's ``seq_length``), with and
without an initial state, for one and two layers, one and two directions, with and without
biases, so a difference the suite reports is never a mapping error of the adapter. Two
more tests pin the layout itself: a model built ``batch_first=True`` matches nn.LSTM
``batch_first=True``, and the same weights with two gate blocks swapped do *not* match
(the comparison would catch a wrong gate order). float64 is a declared gap
(test_findings.py).
"""

import mindspore as ms
import numpy as np
import pytest
import torch
from backend_tests import (  # noqa: F401  (shared tests, collected here)
    test_all_lengths_one_in_a_longer_sequence,
    test_declared_gaps_raise_not_implemented,
    test_eval_mode_ignores_dropout,
    test_one_model_per_configuration_with_the_weights_of_each_call,
)
from torch_reference import (
    INPUTS,
    STRUCTURES,
    assert_matches,
    make_config,
    max_abs_diff,
    run_backend,
    torch_case,
)

from mindspore_lstm import assign

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


@pytest.mark.parametrize("structure", list(STRUCTURES.values()), ids=list(STRUCTURES))
@pytest.mark.parametrize("inputs", list(INPUTS.values()), ids=list(INPUTS))
def test_matches_nn_lstm(backend, structure, inputs):
    num_layers, bidirectional, bias = structure
    with_hx, lengths = inputs
    config = make_config(3, 5, num_layers, bias, bidirectional)
    case = torch_case(config, F32, seq_len=6, batch=5, with_hx=with_hx, lengths=lengths)
    assert_matches(run_backend(backend, config, case, F32), case, F32)


@pytest.mark.parametrize("seq_len,batch", [(1, 1), (9, 2), (17, 7)])
def test_matches_nn_lstm_at_other_sizes(backend, seq_len, batch):
    config = make_config(4, 7, 2, True, True)
    case = torch_case(config, F32, seq_len=seq_len, batch=batch, with_hx=True)
    assert_matches(run_backend(backend, config, case, F32), case, F32)


def test_batch_first_matches_nn_lstm_batch_first():
    torch.manual_seed(3)
    ref = torch.nn.LSTM(3, 5, 2, bidirectional=True, batch_first=True)
    x = torch.randn(4, 6, 3)  # (batch, seq, feature)
    with torch.no_grad():
        output, (h_n, c_n) = ref(x)
    model = ms.nn.LSTM(3, 5, 2, has_bias=True, batch_first=True, bidirectional=True)
    assign(model, {n: p.detach().numpy() for n, p in ref.state_dict().items()})
    got, (got_h, got_c) = model(ms.Tensor(x.numpy()))
    for actual, expected in [(got, output), (got_h, h_n), (got_c, c_n)]:
        np.testing.assert_allclose(actual.asnumpy(), expected.numpy(), rtol=1.3e-6, atol=1e-5)


@pytest.mark.parametrize("swap", [(0, 1), (1, 2), (2, 3)], ids=["i-f", "f-g", "g-o"])
def test_a_wrong_gate_order_would_be_caught(backend, swap):
    config = make_config(3, 5, 1)
    case = torch_case(config, F32, with_hx=True)
    H = config.hidden_size
    a, b = swap
    order = [0, 1, 2, 3]
    order[a], order[b] = order[b], order[a]
    swapped = {name: np.concatenate([w[g * H:(g + 1) * H] for g in order])
               for name, w in case.weights.items()}
    fresh = type(backend)()
    run = fresh.prepare(config, swapped, F32, training=False)
    assert max_abs_diff(run(case.x, case.hx, case.lengths), case) > 1e-3


def test_float64_is_a_declared_gap(backend):
    assert "float64" in backend.lstm_conformance_unsupported
    with pytest.raises(NotImplementedError):
        backend.prepare(make_config(3, 5), {}, F64, training=False)
