"""Standalone reproduction of the difference the suite reports: ONNX's reference
evaluator ignores ``sequence_lens``.

Only onnx and numpy: one ``LSTM`` node, two sequences of lengths 2 and 4 in a batch of
L = 4. The ONNX operator specification says ``Y_h`` is the hidden state of each
sequence's last valid step; the evaluator runs every sequence over all L steps. The test
asserts the difference is *there*; when it starts failing, onnx has fixed it, and the
``lstm_conformance_known_failures`` entries should go. Run it alone with
``python examples/onnx-reference-lstm/tests/test_findings.py``.
"""

import numpy as np
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

L, N, IN, H = 4, 2, 3, 5
LENGTHS = np.array([2, 4], np.int32)


def lstm_outputs(with_lengths: bool):
    rng = np.random.default_rng(0)
    f32 = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("X", f32, [L, N, IN]),
              helper.make_tensor_value_info("W", f32, [1, 4 * H, IN]),
              helper.make_tensor_value_info("R", f32, [1, 4 * H, H])]
    names = ["X", "W", "R", ""]
    if with_lengths:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [N]))
        names.append("sequence_lens")
    node = helper.make_node("LSTM", names, ["Y", "Y_h", "Y_c"], hidden_size=H)
    outputs = [helper.make_tensor_value_info(n, f32, None) for n in ("Y", "Y_h", "Y_c")]
    model = helper.make_model(helper.make_graph([node], "lstm", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"X": rng.standard_normal((L, N, IN)).astype(np.float32),
             "W": rng.uniform(-0.5, 0.5, (1, 4 * H, IN)).astype(np.float32),
             "R": rng.uniform(-0.5, 0.5, (1, 4 * H, H)).astype(np.float32)}
    if with_lengths:
        feeds["sequence_lens"] = LENGTHS
    return ReferenceEvaluator(model).run(None, feeds)


def test_sequence_lens_is_ignored():
    y, y_h, _ = lstm_outputs(with_lengths=True)
    y_plain, y_h_plain, _ = lstm_outputs(with_lengths=False)
    # the same numbers as without sequence_lens, padding included
    assert np.array_equal(y, y_plain) and np.array_equal(y_h, y_h_plain)
    # sequence 0 (length 2): Y_h is step 3's state, not step 1's, as the spec asks
    assert not np.allclose(y_h[0, 0], y[1, 0, 0])
    assert np.array_equal(y_h[0, 0], y[3, 0, 0])
    # and its padded steps are not zero
    assert np.abs(y[2:, 0, 0]).max() > 0


if __name__ == "__main__":
    import onnx

    y, y_h, _ = lstm_outputs(with_lengths=True)
    print(f"onnx {onnx.__version__}, sequence_lens = {LENGTHS.tolist()}")
    print("sequence 0, Y_h             :", y_h[0, 0])
    print("sequence 0, Y at t=len-1=1  :", y[1, 0, 0], "(the spec's Y_h)")
    print("sequence 0, Y at t=3        :", y[3, 0, 0])
    print("max |Y| at padded steps     :", float(np.abs(y[2:, 0, 0]).max()), "(spec: 0)")
    test_sequence_lens_is_ignored()
    print("reproduced: sequence_lens is ignored")
