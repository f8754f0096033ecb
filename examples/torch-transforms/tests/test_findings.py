"""Standalone reproductions of every difference the suite reported, in plain torch code.

No adapter and no suite here: each test builds ``nn.LSTM``, applies the transform the
way its documentation says, and asserts that the difference is there (so each test fails
the day upstream fixes it, and the declaration in the adapter should then go). The
upstream issue is in each docstring.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch._dynamo
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

torch.manual_seed(0)


def in_a_subprocess(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python: for a finding that kills the process."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=600)


def packed_batch():
    return pack_padded_sequence(torch.randn(4, 3, 3), torch.tensor([4, 2, 3]),
                                enforce_sorted=False)


# --- torch.compile ---------------------------------------------------------------------

def compiled_lstm(**config):
    torch._dynamo.reset()
    return torch.compile(nn.LSTM(3, 5, **config).eval(), backend="inductor", fullgraph=True)


def test_compile_float32_autograd_fails():
    """torch.compile with allow_rnn: float32 with autograd fails in oneDNN's LSTM path.

    https://github.com/pytorch/pytorch/issues/158007 (still present in torch 2.13.0).
    The same call under no_grad compiles and agrees with eager.
    """
    lstm = compiled_lstm()
    x = torch.randn(4, 2, 3)
    with torch._dynamo.config.patch(allow_rnn=True):
        with torch.no_grad():
            out, _ = lstm(x)
            torch.testing.assert_close(out, lstm._orig_mod(x)[0])
        with pytest.raises(TypeError, match="mkldnn_rnn_layer"):
            lstm(x)
        # an input that requires grad takes a path that compiles (the gradients check)
        torch._dynamo.reset()
        lstm(x.clone().requires_grad_())[0].sum().backward()


def test_compile_fullgraph_wraps_nn_lstm_value_error():
    """1-D or 4-D input: nn.LSTM raises ValueError; under torch.compile with
    fullgraph=True dynamo raises its ``Unsupported`` ("Observed exception") instead, in every
    grad mode, with the ValueError's trace as the cause. Another finding than #158007: the
    input's rank, not autograd. No upstream issue found."""
    lstm = compiled_lstm()
    for x in (torch.randn(3), torch.randn(2, 4, 2, 3)):
        with pytest.raises(ValueError, match="Expected input to be 2D or 3D"):
            lstm._orig_mod(x)
        for mode in (torch.no_grad, torch.enable_grad):
            with torch._dynamo.config.patch(allow_rnn=True), mode():
                with pytest.raises(torch._dynamo.exc.Unsupported) as raised:
                    lstm(x)
            assert not isinstance(raised.value, ValueError)
            assert "ValueError" in repr(raised.value.__cause__)


_COMPILED_EMPTY_BATCH = """
import sys, torch, torch._dynamo
lstm = torch.nn.LSTM(3, 4, dtype=getattr(torch, sys.argv[2]))
with torch._dynamo.config.patch(allow_rnn=True), torch.no_grad():
    out, _ = torch.compile(lstm, backend=sys.argv[1], fullgraph=True)(
        torch.randn(2, 0, 3, dtype=lstm.weight_ih_l0.dtype))
assert out.shape == (2, 0, 4)
"""


@pytest.mark.parametrize(("backend", "dtype", "returncode"), [
    ("inductor", "float32", -8), ("aot_eager", "float32", -8),
    ("eager", "float32", 0), ("inductor", "float64", 0),
])
def test_compile_float32_empty_batch_dies_of_sigfpe(backend, dtype, returncode):
    """torch.compile with allow_rnn: a float32 batch of 0 sequences kills the process with
    SIGFPE (a floating point exception), in a subprocess here; nn.LSTM answers it with
    empty results. AOTAutograd's float32 path (oneDNN's mkldnn_rnn_layer) is the one that
    dies: dynamo's eager backend and float64 (decomposed) answer it.

    No upstream issue found; the like for mkldnn linear:
    https://github.com/pytorch/pytorch/issues/101211.
    """
    proc = in_a_subprocess(_COMPILED_EMPTY_BATCH, backend, dtype)
    assert proc.returncode == returncode, proc.stderr[-2000:]


def test_compile_cannot_trace_packed_input():
    """torch.compile(fullgraph=True) cannot trace nn.LSTM on a PackedSequence.

    https://github.com/pytorch/pytorch/issues/112044: the packed aten.lstm.data needs the
    data-dependent batch_sizes. Without fullgraph the LSTM runs eagerly (not compiled).
    """
    lstm = compiled_lstm()
    with torch._dynamo.config.patch(allow_rnn=True), torch.no_grad():
        with pytest.raises(Exception, match="data-dependent"):
            lstm(packed_batch())


# --- TorchScript -----------------------------------------------------------------------

def test_scripted_lstm_has_no_forward():
    """A scripted nn.LSTM cannot be called; its overloads are forward__0 / forward__1.

    https://github.com/pytorch/pytorch/issues/32976, https://github.com/pytorch/pytorch/issues/56183
    """
    scripted = torch.jit.script(nn.LSTM(3, 5))
    with pytest.raises(AttributeError, match="forward"):
        scripted(torch.randn(4, 2, 3))
    assert scripted.forward__0(torch.randn(4, 2, 3), None)[0].shape == (4, 2, 5)


def test_scripted_packed_output_is_a_look_alike():
    """forward__1 returns torch._jit_internal.PackedSequence, not nn.utils.rnn's.

    https://github.com/pytorch/pytorch/issues/43873
    """
    scripted = torch.jit.script(nn.LSTM(3, 5))
    output, _ = scripted.forward__1(packed_batch(), None)
    assert not isinstance(output, PackedSequence)
    assert type(output).__module__ == "torch._jit_internal"


@pytest.mark.parametrize("shape", [(4,), (2, 4, 2, 3)])
def test_scripted_bad_input_raises_jit_error_not_value_error(shape):
    """nn.LSTM raises ValueError for 1-D and 4-D input; scripted, it is torch.jit.Error.

    The TorchScript interpreter rethrows every exception as one (a RuntimeError):
    https://github.com/pytorch/pytorch/issues/54612
    """
    lstm = nn.LSTM(3, 5)
    x = torch.randn(shape)
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D"):
        lstm(x)
    with pytest.raises(torch.jit.Error, match="Expected input to be 2D or 3D") as raised:
        torch.jit.script(lstm).forward__0(x, None)
    assert not isinstance(raised.value, ValueError)


# --- torch.export ----------------------------------------------------------------------

def test_export_cannot_take_packed_input():
    """torch.export cannot trace nn.LSTM on a PackedSequence (data-dependent batch_sizes).

    https://github.com/pytorch/pytorch/issues/171978, https://github.com/pytorch/pytorch/issues/112044
    """
    with pytest.raises(Exception, match="data-dependent"):
        torch.export.export(nn.LSTM(3, 5).eval(), (packed_batch(),))


def test_export_seq_len_zero_raises_value_error_not_runtime_error():
    """seq_len 0: nn.LSTM raises RuntimeError, torch.export a ValueError from tracing.

    Eager's check is in the C++ kernel ("Expected sequence length to be larger than 0",
    see https://github.com/pytorch/pytorch/issues/50192); export traces aten.lstm with
    fake tensors through a Python decomposition whose torch.cat of zero steps raises
    ValueError first. No upstream issue found for the exception type.
    """
    lstm = nn.LSTM(1, 1).eval()
    x = torch.randn(0, 1, 1)
    with pytest.raises(RuntimeError, match="sequence length to be larger than 0"):
        lstm(x)
    with pytest.raises(ValueError, match="cat expects at least one tensor"):
        torch.export.export(lstm, (x,))


# --- torch.onnx.export + ONNX Runtime --------------------------------------------------

def onnx_session(lstm, args):
    program = torch.onnx.export(lstm, args, dynamo=True, verbose=False)
    return ort.InferenceSession(program.model_proto.SerializeToString(),
                                providers=["CPUExecutionProvider"])


def test_onnx_export_drops_the_projection():
    """proj_size > 0: the exported graph has no projection and ONNX Runtime rejects it.

    onnxscript's torch_lib aten_lstm (added for
    https://github.com/microsoft/onnxscript/issues/2546) ignores weight_hr and takes the
    hidden size from h0 (= proj_size). No upstream issue on projections was found.
    """
    lstm = nn.LSTM(3, 5, proj_size=2).eval()
    x = torch.randn(4, 2, 3)
    session = onnx_session(lstm, (x,))
    with pytest.raises(Exception, match="initial_c must have shape"):
        session.run(None, {session.get_inputs()[0].name: x.numpy()})


def test_onnx_runtime_refuses_double_lstm():
    """The exporter writes a float64 graph; ONNX Runtime's CPU LSTM kernel refuses it."""
    lstm = nn.LSTM(3, 5).double().eval()
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    session = onnx_session(lstm, (x,))
    with pytest.raises(Exception, match="does not support double"):
        session.run(None, {session.get_inputs()[0].name: x.numpy()})


def test_onnx_float32_agrees_with_eager():
    """Control for the two above: without projection, float32 agrees with nn.LSTM."""
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True).eval()
    x = torch.randn(4, 2, 3)
    session = onnx_session(lstm, (x,))
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        expected, (h_n, c_n) = lstm(x)
    for got, want in zip(out, (expected, h_n, c_n), strict=True):
        np.testing.assert_allclose(got, want.numpy(), rtol=1.3e-6, atol=1e-5)


def test_onnx_export_wraps_nn_lstm_value_error():
    """1-D input: nn.LSTM raises ValueError; torch.onnx.export raises its TorchExportError
    (a RuntimeError), with nn.LSTM's ValueError as the cause. No upstream issue found."""
    lstm = nn.LSTM(3, 5).eval()
    x = torch.randn(3)
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D"):
        lstm(x)
    with pytest.raises(RuntimeError) as raised:
        torch.onnx.export(lstm, (x,), dynamo=True, verbose=False)
    assert type(raised.value).__name__ == "TorchExportError"
    assert not isinstance(raised.value, ValueError)
    assert isinstance(raised.value.__cause__, ValueError)


def test_onnx_runtime_removes_training_dropout_unless_told_not_to():
    """A training-mode export of a 2-layer LSTM with dropout holds a Dropout node with
    training_mode true; ONNX Runtime's default graph optimizations remove it (the session
    computes in eval mode), and with ``EliminateDropout`` disabled it drops elements.
    https://github.com/microsoft/onnxruntime/issues/9333 (the onnx-export adapter disables
    that optimizer)."""
    lstm = nn.LSTM(3, 5, num_layers=2, dropout=0.5).train()
    x = torch.randn(6, 2, 3)
    program = torch.onnx.export(lstm, (x,), dynamo=True, verbose=False)
    assert "Dropout" in [node.op_type for node in program.model_proto.graph.node]
    with torch.no_grad():
        in_eval = lstm.eval()(x)[0].numpy()
    model = program.model_proto.SerializeToString()
    feeds = {"input": x.numpy()}
    default = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(default.run(None, feeds)[0], in_eval, rtol=1e-5, atol=1e-6)
    kept = ort.InferenceSession(model, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["EliminateDropout"])
    assert np.abs(kept.run(None, feeds)[0] - in_eval).max() > 1e-3


def test_onnx_dropout_cannot_drop_everything():
    """nn.LSTM takes dropout=1.0 (in training, every element between layers is dropped);
    ONNX's Dropout takes a ratio in [0, 1), and ONNX Runtime refuses 1.0 at run time."""
    lstm = nn.LSTM(3, 5, num_layers=2, dropout=1.0).train()
    x = torch.randn(2, 1, 3)
    program = torch.onnx.export(lstm, (x,), dynamo=True, verbose=False)
    session = ort.InferenceSession(program.model_proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"],
                                   disabled_optimizers=["EliminateDropout"])
    with pytest.raises(Exception, match=r"ratio must be in the range \[0, 1\)"):
        session.run(None, {"input": x.numpy()})


_ONNX_EMPTY_BATCH = """
import onnxruntime as ort, torch
lstm = torch.nn.LSTM(3, 4).eval()
x = torch.randn(2, 0, 3)
program = torch.onnx.export(lstm, (x,), dynamo=True, verbose=False)
session = ort.InferenceSession(program.model_proto.SerializeToString(),
                               providers=["CPUExecutionProvider"])
print("exported", flush=True)
session.run(None, {"input": x.numpy()})
"""


def test_onnx_runtime_lstm_aborts_on_an_empty_batch():
    """A batch of 0 sequences: nn.LSTM answers (2, 0, 4); the exported graph builds a
    session, and ONNX Runtime's LSTM kernel aborts the process in ``run`` (SIGABRT,
    "terminate called without an active exception"), in a subprocess here. No upstream
    issue found."""
    assert nn.LSTM(3, 4)(torch.randn(2, 0, 3))[0].shape == (2, 0, 4)
    proc = in_a_subprocess(_ONNX_EMPTY_BATCH)
    assert "exported" in proc.stdout, proc.stderr[-2000:]
    assert proc.returncode == -6, proc.stderr[-2000:]


# --- torch.jit.script ------------------------------------------------------------------

def test_script_keeps_the_parameters_it_was_scripted_with():
    """torch.jit.script(nn.LSTM): the scripted module holds the Parameter objects of the
    moment it was scripted. A weight replaced by a new nn.Parameter on the eager module
    afterwards is not seen (the eager module follows it, as nn.LSTM does); the scripted
    module must be scripted again. Found by the suite's parameter-identity check.
    """
    lstm = nn.LSTM(3, 5).eval()
    scripted = torch.jit.script(lstm)
    x = torch.randn(4, 2, 3)
    lstm.weight_ih_l0 = nn.Parameter(torch.randn(20, 3))
    with torch.no_grad():
        eager, kept = lstm(x)[0], scripted.forward__0(x, None)[0]
    assert (eager - kept).abs().max() > 1e-3
