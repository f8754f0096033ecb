"""The plain test: the MLX backend against torch.nn.LSTM directly, without the suite.

Weights come from an ``nn.LSTM`` state_dict; output, h_n and c_n are compared with what
that ``nn.LSTM`` returned, within the suite's tolerances, in float32 and float64, on dense
input with and without an initial state (packed input is a declared gap), so a
difference the suite reports is never a mapping error of the adapter. float64 is
compared at float32 tolerance: MLX's float64 sigmoid is float32-accurate
(test_findings.py), so only precision is lost there.
"""

import numpy as np
import pytest
from backend_tests import (  # noqa: F401  (shared tests, collected here)
    test_declared_gaps_raise_not_implemented,
    test_eval_mode_ignores_dropout,
)
from torch_reference import STRUCTURES, assert_matches, make_config, run_backend, torch_case

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("structure", list(STRUCTURES.values()), ids=list(STRUCTURES))
@pytest.mark.parametrize("with_hx", [False, True], ids=["dense", "dense-hx"])
def test_matches_nn_lstm(backend, dtype, structure, with_hx):
    num_layers, bidirectional, bias = structure
    config = make_config(3, 5, num_layers, bias, bidirectional)
    case = torch_case(config, dtype, seq_len=6, batch=5, with_hx=with_hx)
    # float64 at float32 tolerance: MLX's float64 sigmoid is float32-accurate
    assert_matches(run_backend(backend, config, case, dtype), case, F32 if dtype == F64 else dtype)


def test_packed_input_is_a_declared_gap(backend):
    assert "packed" in backend.lstm_conformance_unsupported
    config = make_config(3, 5)
    case = torch_case(config, F32, lengths=[4, 6, 1, 3])
    with pytest.raises(NotImplementedError):
        run_backend(backend, config, case, F32)
