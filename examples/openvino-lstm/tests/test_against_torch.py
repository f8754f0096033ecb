"""The plain test: the OpenVINO backend (float32 precision hint) against torch.nn.LSTM
directly, without the suite.

Weights come from an ``nn.LSTM`` state_dict; output, h_n and c_n are compared with what
that ``nn.LSTM`` returned, within the suite's float32 tolerance, on dense input with and
without an initial state, so a difference the suite reports is never a mapping error.
Packed input is test_findings.py's: the converted model does not honour the lengths.
"""

import numpy as np
import pytest
from backend_tests import (  # noqa: F401  (shared tests, collected here)
    test_declared_gaps_raise_not_implemented,
    test_eval_mode_ignores_dropout,
)
from torch_reference import STRUCTURES, assert_matches, make_config, run_backend, torch_case

F32 = np.dtype(np.float32)


@pytest.mark.parametrize("structure", list(STRUCTURES.values()), ids=list(STRUCTURES))
@pytest.mark.parametrize("with_hx", [False, True], ids=["dense", "dense-hx"])
def test_matches_nn_lstm(backend, structure, with_hx):
    num_layers, bidirectional, bias = structure
    config = make_config(3, 5, num_layers, bias, bidirectional)
    case = torch_case(config, F32, seq_len=6, batch=5, with_hx=with_hx)
    assert_matches(run_backend(backend, config, case, F32), case, F32)
