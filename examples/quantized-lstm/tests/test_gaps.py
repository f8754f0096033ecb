"""Evidence for every declared gap (``lstm_conformance_unsupported``), and for the one trap
in applying quantize_dynamic at all. Plain torch; the adapter only where it is the subject."""

from __future__ import annotations

import pytest
import torch
from qlstm_helpers import maxdiff, quantized_directly, seeded_lstm
from torch import nn
from torch.ao.quantization import quantize_dynamic

from quantized_lstm import DynamicFloat16LSTM, DynamicInt8LSTM

QDTYPES = [torch.qint8, torch.float16]
IDS = ["int8", "float16"]


def test_declared_gaps():
    expected = {"proj_size", "no_bias", "unbatched", "float64", "float16", "bfloat16",
                "autograd", "input_validation"}
    assert DynamicInt8LSTM.lstm_conformance_unsupported == expected
    assert DynamicFloat16LSTM.lstm_conformance_unsupported == expected


@pytest.mark.parametrize("input_dtype", [torch.float16, torch.bfloat16])
def test_half_precision_input_is_refused(input_dtype):
    """Why float16 and bfloat16 are declared: the quantized LSTM takes float32 input only."""
    lstm = quantize_dynamic(nn.Sequential(nn.LSTM(3, 4)), {nn.LSTM}, dtype=torch.qint8)[0]
    with pytest.raises(RuntimeError, match="expected scalar type Float"):
        lstm(torch.randn(2, 1, 3, dtype=input_dtype))


@pytest.mark.parametrize("qdtype", QDTYPES, ids=IDS)
def test_bare_lstm_is_not_quantized(qdtype):
    """quantize_dynamic converts children only: applied to a bare nn.LSTM it returns a float
    nn.LSTM whose results are exactly the original's. The adapter wraps the LSTM in
    nn.Sequential for this reason."""
    ref = seeded_lstm(3, 4, seed=0)
    bare = quantize_dynamic(ref, {nn.LSTM}, dtype=qdtype)
    x = torch.randn(5, 2, 3)
    assert type(bare) is nn.LSTM
    with torch.no_grad():
        assert torch.equal(bare(x)[0], ref(x)[0])
        assert maxdiff(quantized_directly(ref, qdtype)(x)[0], ref(x)[0]) > 0


@pytest.mark.parametrize("qdtype", QDTYPES, ids=IDS)
def test_proj_size_is_ignored_then_fails(qdtype):
    """from_float builds the quantized LSTM without proj_size and never reads weight_hr, so
    the first call fails in the recurrent matmul (W_hh is (4H, P), h is (N, H))."""
    q = quantized_directly(nn.LSTM(3, 4, proj_size=2), qdtype)
    assert q.proj_size == 0 if hasattr(q, "proj_size") else True
    with pytest.raises(RuntimeError, match="packB|numRows"):
        q(torch.randn(5, 2, 3))
    with pytest.raises(NotImplementedError):
        (DynamicInt8LSTM if qdtype == torch.qint8 else DynamicFloat16LSTM)(3, 4, proj_size=2)


@pytest.mark.parametrize("qdtype", QDTYPES, ids=IDS)
def test_no_bias_is_refused(qdtype):
    with pytest.raises(AssertionError, match="mod.bias must be True"):
        quantized_directly(nn.LSTM(3, 4, bias=False), qdtype)
    with pytest.raises(NotImplementedError):
        (DynamicInt8LSTM if qdtype == torch.qint8 else DynamicFloat16LSTM)(3, 4, bias=False)


@pytest.mark.parametrize("qdtype", QDTYPES, ids=IDS)
def test_unbatched_input_is_refused(qdtype):
    """nn.LSTM takes (L, input) as a batch of one; the quantized module wants 3 dimensions.
    The adapter passes the input through, so it raises the same."""
    q = quantized_directly(seeded_lstm(3, 4), qdtype)
    with pytest.raises(RuntimeError, match="input must have 3 dimensions, got 2"):
        q(torch.randn(5, 3))
    cls = DynamicInt8LSTM if qdtype == torch.qint8 else DynamicFloat16LSTM
    with pytest.raises(RuntimeError, match="input must have 3 dimensions, got 2"):
        cls(3, 4)(torch.randn(5, 3))


@pytest.mark.parametrize("qdtype", QDTYPES, ids=IDS)
def test_float64_is_refused(qdtype):
    """The quantized kernels run float32 only, whatever dtype the float LSTM had."""
    q = quantized_directly(seeded_lstm(3, 4).double(), qdtype)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        q(torch.randn(5, 2, 3, dtype=torch.float64))
    cls = DynamicInt8LSTM if qdtype == torch.qint8 else DynamicFloat16LSTM
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        cls(3, 4).to(torch.float64)(torch.randn(5, 2, 3, dtype=torch.float64))


@pytest.mark.parametrize("qdtype", QDTYPES, ids=IDS)
def test_no_gradients(qdtype):
    """The quantized module has no parameters to train (its weights are packed into opaque
    cell params); no gradient reaches the input or h0. aten::quantized_lstm has no autograd
    kernel: torch warns "an autograd kernel was not registered ... may lead to silently
    incorrect behavior", and c0 does receive a gradient, which is not nn.LSTM's (measured
    here: max |grad c0| 0.58 against nn.LSTM's 0.71, for both int8 and float16)."""
    ref = seeded_lstm(3, 4)
    q = quantized_directly(ref, qdtype)
    assert list(q.parameters()) == []
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 2, 3, generator=g).requires_grad_()
    h0 = torch.randn(1, 2, 4, generator=g).requires_grad_()
    c0 = torch.randn(1, 2, 4, generator=g).requires_grad_()
    out, _ = q(x, (h0, c0))
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        torch.autograd.grad(out.sum(), [x], retain_graph=True)
    with pytest.warns(UserWarning, match="autograd kernel was not registered"):
        gx, gh, gc = torch.autograd.grad(out.sum(), [x, h0, c0], allow_unused=True)
    assert gx is None and gh is None
    true_gc = torch.autograd.grad(ref(x, (h0, c0))[0].sum(), [c0])[0]
    assert maxdiff(gc, true_gc) > 0.05  # far beyond what quantizing the forward explains


@pytest.mark.parametrize("qdtype", QDTYPES, ids=IDS)
def test_malformed_input_raises_other_exception_types(qdtype):
    """nn.LSTM raises ValueError("LSTM: Expected input to be 2D or 3D, got 1D instead") for
    1-D and 4-D input; the quantized module raises IndexError and RuntimeError. (Wrong
    feature sizes, wrong hx shapes and seq_len 0 raise RuntimeError, as nn.LSTM does.)"""
    ref = seeded_lstm(3, 4)
    q = quantized_directly(ref, qdtype)
    for bad, quantized_raises in ((torch.randn(5), IndexError),
                                  (torch.randn(5, 2, 3, 1), RuntimeError)):
        with pytest.raises(ValueError, match="Expected input to be 2D or 3D"):
            ref(bad)
        with pytest.raises(quantized_raises):
            q(bad)
    for bad in (torch.randn(5, 2, 7), torch.randn(0, 2, 3)):
        with pytest.raises(RuntimeError):
            ref(bad)
        with pytest.raises(RuntimeError):
            q(bad)
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size"):
        q(torch.randn(5, 2, 3), (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)))
