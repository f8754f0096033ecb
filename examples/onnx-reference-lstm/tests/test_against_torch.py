"""The plain test: the ONNX reference backend against torch.nn.LSTM directly, without the
suite.

Weights come from an ``nn.LSTM`` state_dict; output, h_n and c_n are compared with what
that ``nn.LSTM`` returned, within the suite's tolerances, in float32 and float64, on dense
input with and without an initial state, so a difference the suite reports is never a
mapping error of the adapter. Packed input is test_findings.py's: the evaluator ignores
the lengths.
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
    assert_matches(run_backend(backend, config, case, dtype), case, dtype)


def test_one_evaluator_per_configuration_and_weights(backend):
    fresh = type(backend)()
    config = make_config(3, 5, 1)
    first, second = torch_case(config, F32, seed=1), torch_case(config, F32, seed=2)
    runs = [fresh.prepare(config, case.weights, F32, training=False) for case in (first, second)]
    for run, case in [(runs[0], first), (runs[1], second), (runs[0], first)]:
        assert_matches(run(case.x, case.hx, case.lengths), case, F32)
    assert len(fresh._models) == 2


def test_packed_input_with_every_length_full_matches(backend):
    """sequence_lens all equal to L is the one packed case the evaluator gets right."""
    config = make_config(3, 5, 2, bidirectional=True)
    case = torch_case(config, F64, seq_len=6, batch=3, with_hx=True, lengths=[6, 6, 6])
    assert_matches(run_backend(backend, config, case, F64), case, F64)
