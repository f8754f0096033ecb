"""Standalone reproductions of the differences the suite reports for OpenVINO (openvino,
onnx and numpy only; no adapter, no suite, no torch).

1. ``sequence_lens`` of ONNX's LSTM is not honoured by the converted model on the CPU
   plugin: one LSTM node, batch of 3 with lengths [4, 2, 1]. Each sequence run alone, cut
   to its length, gives its true outputs and Y_h; in the batch, the steps past a
   sequence's length are not zero and Y_h is not its last valid step's.
2. The CPU plugin's default ``INFERENCE_PRECISION_HINT`` is bf16 on CPUs with native
   bfloat16 (avx512_bf16, AMX): a float32 model then computes in bfloat16.
3. A float64 model returns float64 arrays that are float32-accurate, even with the f32
   hint: the CPU plugin computes it in float32. The reference is ONNX's own evaluator on
   the same float64 model (numpy float64; exact for dense input).

Each test asserts the difference is *there*; when one starts failing, OpenVINO has changed,
and the matching ``lstm_conformance_known_failures`` entries should go. Run alone with
``python examples/openvino-lstm/tests/test_findings.py``.
"""

import os
import tempfile

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import TensorProto, helper, numpy_helper

IN, H = 3, 5
LENGTHS = np.array([4, 2, 1], np.int32)
RNG = np.random.default_rng(0)
W = RNG.uniform(-0.5, 0.5, (1, 4 * H, IN)).astype(np.float32)
R = RNG.uniform(-0.5, 0.5, (1, 4 * H, H)).astype(np.float32)
X = RNG.standard_normal((4, 3, IN)).astype(np.float32)


def lstm_model(with_lengths: bool, element=TensorProto.FLOAT, dtype=np.float32):
    f32 = element
    inputs = [helper.make_tensor_value_info("X", f32, ["L", "N", IN])]
    names = ["X", "W", "R", ""]
    if with_lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["N"]))
        names.append("sequence_lens")
    node = helper.make_node("LSTM", names, ["Y", "Y_h", "Y_c"], hidden_size=H)
    outputs = [helper.make_tensor_value_info(n, f32, None) for n in ("Y", "Y_h", "Y_c")]
    graph = helper.make_graph([node], "lstm", inputs, outputs, [
        numpy_helper.from_array(W.astype(dtype), "W"),
        numpy_helper.from_array(R.astype(dtype), "R")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def compiled_lstm(with_lengths: bool, precision: str | None = "f32", model=None):
    model = model or lstm_model(with_lengths)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "lstm.onnx")
        onnx.save(model, path)
        converted = ov.convert_model(path)
    config = {"INFERENCE_PRECISION_HINT": precision} if precision else {}
    return ov.Core().compile_model(converted, "CPU", config)


def run(compiled, feeds):
    results = compiled(feeds)
    return [np.array(results[compiled.output(i)]) for i in range(3)]


def batch_and_alone():
    y, y_h, _ = run(compiled_lstm(True), {"X": X, "sequence_lens": LENGTHS})
    alone = compiled_lstm(False)
    truths = [run(alone, {"X": X[:n, b:b + 1]}) for b, n in enumerate(LENGTHS)]
    return y, y_h, truths


def test_sequence_lens_is_not_honoured():
    y, y_h, truths = batch_and_alone()
    b, n = 2, int(LENGTHS[2])  # the length-1 sequence
    # its valid step agrees with the sequence run alone
    np.testing.assert_allclose(y[:n, 0, b], truths[b][0][:, 0, 0], atol=1e-6)
    # but its padded steps are not zero, and Y_h is not its last valid step's
    assert np.abs(y[n:, 0, b]).max() > 0.05
    assert np.abs(y_h[0, b] - truths[b][1][0, 0]).max() > 0.05


def test_default_precision_is_bf16_on_cpus_with_native_bfloat16():
    default = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
    if default != "bf16":
        pytest.skip(f"this CPU's default is {default}")
    feeds = {"X": X}
    y_default = run(compiled_lstm(False, precision=None), feeds)[0]
    y_f32 = run(compiled_lstm(False, precision="f32"), feeds)[0]
    assert np.abs(y_default - y_f32).max() > 1e-4  # bfloat16 has 8 significant bits


def float64_error() -> float:
    from onnx.reference import ReferenceEvaluator

    model = lstm_model(False, TensorProto.DOUBLE, np.float64)
    x = X.astype(np.float64)
    got = run(compiled_lstm(False, model=model), {"X": x})[0]
    want = ReferenceEvaluator(model).run(None, {"X": x})[0]
    assert got.dtype == np.float64
    return float(np.abs(got - want).max())


def test_float64_is_float32_accurate():
    assert 1e-12 < float64_error() < 1e-6


if __name__ == "__main__":
    print(f"openvino {ov.__version__}; CPU default INFERENCE_PRECISION_HINT = "
          f"{ov.Core().get_property('CPU', 'INFERENCE_PRECISION_HINT').to_string()}")
    y, y_h, truths = batch_and_alone()
    for b, n in enumerate(LENGTHS):
        print(f"sequence {b} (length {n}): max |Y| at padded steps = "
              f"{float(np.abs(y[n:, 0, b]).max()) if n < len(X) else 0.0:.4f}; "
              f"|Y_h - alone's Y_h| = {float(np.abs(y_h[0, b] - truths[b][1][0, 0]).max()):.4f}")
    y_default = run(compiled_lstm(False, precision=None), {"X": X})[0]
    y_f32 = run(compiled_lstm(False, precision="f32"), {"X": X})[0]
    print(f"default precision vs f32: max |diff| = {float(np.abs(y_default - y_f32).max()):.2e}")
    print(f"float64 model (f32 hint) vs onnx.reference in float64: max |diff| = "
          f"{float64_error():.2e}")
