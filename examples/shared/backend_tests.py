"""Plain tests every backend example shares (keras-lstm, flax-lstm): imported into each
example's ``tests/test_against_torch.py``, where pytest collects them with that example's
``backend`` fixture. Like ``torch_reference``, they compare with nn.LSTM directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from torch_reference import assert_matches, make_config, run_backend, torch_case

F32 = np.float32


def test_all_lengths_one_in_a_longer_sequence(backend):
    config = make_config(2, 4, 2, bidirectional=True)
    case = torch_case(config, F32, seq_len=4, batch=3, with_hx=True, lengths=[1, 1, 1])
    assert_matches(run_backend(backend, config, case, F32), case, F32)


def test_eval_mode_ignores_dropout(backend):
    config = make_config(3, 5, 2, dropout=0.5)
    case = torch_case(config, F32)
    run = backend.prepare(config, case.weights, F32, training=False)
    assert_matches(run(case.x, case.hx, case.lengths), case, F32)


def test_declared_gaps_raise_not_implemented(backend):
    assert {"proj_size", "dropout"} <= backend.lstm_conformance_unsupported
    with pytest.raises(NotImplementedError):
        backend.prepare(make_config(3, 5, proj_size=2), {}, F32, training=False)
    with pytest.raises(NotImplementedError):
        backend.prepare(make_config(3, 5, 2, dropout=0.5), {}, F32, training=True)


def test_one_model_per_configuration_with_the_weights_of_each_call(backend):
    fresh = type(backend)()
    config = make_config(3, 5, 1)
    first, second = torch_case(config, F32, seed=1), torch_case(config, F32, seed=2)
    runs = [fresh.prepare(config, case.weights, F32, training=False) for case in (first, second)]
    for run, case in [(runs[0], first), (runs[1], second), (runs[0], first)]:
        assert_matches(run(case.x, case.hx, case.lengths), case, F32)
    assert len(fresh._models) == 1
