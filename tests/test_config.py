"""LSTMConfig refuses what nn.LSTM refuses, naming the field."""

import pytest

from lstm_conformance.spec.config import LSTMConfig


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"input_size": 0, "hidden_size": 2}, "input_size"),
    ({"input_size": 2, "hidden_size": -1}, "hidden_size"),
    ({"input_size": 2, "hidden_size": 2, "num_layers": 0}, "num_layers"),
    ({"input_size": 2.0, "hidden_size": 2}, "input_size"),
    ({"input_size": 2, "hidden_size": 2, "proj_size": 2}, "proj_size"),
    ({"input_size": 2, "hidden_size": 2, "proj_size": -1}, "proj_size"),
    ({"input_size": 2, "hidden_size": 2, "dropout": 1.5}, "dropout"),
    ({"input_size": 2, "hidden_size": 2, "dropout": True}, "dropout"),
    ({"input_size": 2, "hidden_size": 2, "bias": 1}, "bias"),
])
def test_invalid_values_raise_value_error_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LSTMConfig(**kwargs)


def test_derived_sizes():
    c = LSTMConfig(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    assert (c.num_directions, c.h_out, c.state_rows) == (2, 2, 4)
    shapes = c.param_shapes()
    assert shapes["weight_ih_l1_reverse"] == (20, 4)
    assert shapes["weight_hh_l0"] == (20, 2)
    assert shapes["weight_hr_l1"] == (2, 5)
    assert list(shapes)[:6] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                "weight_hr_l0", "weight_ih_l0_reverse"]


def test_param_shapes_match_nn_lstm():
    from torch import nn

    for kw in ({}, {"num_layers": 3, "bidirectional": True}, {"proj_size": 2, "bias": False}):
        c = LSTMConfig(3, 4, **kw)
        ref = {k: tuple(v.shape) for k, v in nn.LSTM(**c.kwargs()).state_dict().items()}
        assert c.param_shapes() == ref
