"""Each adapter against nn.LSTM directly, no suite involved: one layer, float32 and float64.

If these pass, a difference the suite reports is the transform's, not the adapter's.
Calls run under ``torch.no_grad()`` where the transform has a known autograd failure
(torch.compile, float32: pytorch#158007) or no autograd (ONNX Runtime); the others run
with autograd, as a user would.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from conftest import reference_and_adapter
from torch.testing import assert_close

CASES = [
    ("torch-compile", torch.float32), ("torch-compile", torch.float64),
    ("torchscript", torch.float32), ("torchscript", torch.float64),
    ("torch-export", torch.float32), ("torch-export", torch.float64),
    ("onnx-export", torch.float32),
]


def grad_context(name, dtype):
    no_autograd = name == "onnx-export" or (name == "torch-compile" and dtype == torch.float32)
    return torch.no_grad() if no_autograd else contextlib.nullcontext()


@pytest.mark.parametrize("name, dtype", CASES)
@pytest.mark.parametrize("with_hx", [False, True])
def test_one_layer_matches_nn_lstm(name, dtype, with_hx):
    reference, adapter = reference_and_adapter(name, dtype, input_size=3, hidden_size=5)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 4, 3, generator=g, dtype=dtype)
    hx = None
    if with_hx:
        hx = (torch.randn(1, 4, 5, generator=g, dtype=dtype),
              torch.randn(1, 4, 5, generator=g, dtype=dtype))
    with torch.no_grad():
        expected, (h_ref, c_ref) = reference(x, hx)
    with grad_context(name, dtype):
        output, (h_n, c_n) = adapter(x, hx)
    assert_close(output, expected)
    assert_close(h_n, h_ref)
    assert_close(c_n, c_ref)


def test_onnx_float64_is_refused_not_cast():
    _, adapter = reference_and_adapter("onnx-export", torch.float64, input_size=3, hidden_size=5)
    with pytest.raises(NotImplementedError, match="float32 only"):
        adapter(torch.randn(2, 1, 3, dtype=torch.float64))


def test_onnx_projection_is_refused_at_construction():
    from conftest import adapter_class

    with pytest.raises(NotImplementedError, match="drops the projection"):
        adapter_class("onnx-export")(input_size=3, hidden_size=5, proj_size=2)


def test_onnx_training_with_dropout_one_is_refused_and_eval_runs():
    """ONNX's Dropout ratio is in [0, 1): a training call with dropout=1.0 between layers
    is refused (NotImplementedError, a case not applicable), not sent to ONNX Runtime."""
    from conftest import adapter_class

    adapter = adapter_class("onnx-export")(input_size=3, hidden_size=5, num_layers=2,
                                           dropout=1.0)
    x = torch.randn(2, 1, 3)
    with pytest.raises(NotImplementedError, match=r"\[0, 1\)"):
        adapter.train()(x)
    output, _ = adapter.eval()(x)
    assert output.shape == (2, 1, 5)
