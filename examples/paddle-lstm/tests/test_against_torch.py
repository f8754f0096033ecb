"""The plain test: the Paddle backend against torch.nn.LSTM directly, without the suite.

Weights come from an ``nn.LSTM`` state_dict; output, h_n and c_n are compared with what
that ``nn.LSTM`` returned, within the suite's tolerances, in float32 and float64, dense and
packed, with and without an initial state, so a difference the suite reports is never a
mapping error of the adapter. Without biases Paddle crashes (test_findings.py).
"""

import numpy as np
import pytest
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
    run_backend,
    torch_case,
)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


WITH_BIAS = {name: s for name, s in STRUCTURES.items() if s[2]}  # no_bias is a declared gap


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("structure", list(WITH_BIAS.values()), ids=list(WITH_BIAS))
@pytest.mark.parametrize("inputs", list(INPUTS.values()), ids=list(INPUTS))
def test_matches_nn_lstm(backend, dtype, structure, inputs):
    num_layers, bidirectional, bias = structure
    with_hx, lengths = inputs
    config = make_config(3, 5, num_layers, bias, bidirectional)
    case = torch_case(config, dtype, seq_len=6, batch=5, with_hx=with_hx, lengths=lengths)
    assert_matches(run_backend(backend, config, case, dtype), case, dtype)
