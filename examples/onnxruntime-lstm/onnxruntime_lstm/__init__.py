"""An LSTM backed by ONNX Runtime's ``LSTM`` operator, as an lstm-conformance backend.

``backend.prepare(config, weights, dtype, training)`` turns ``nn.LSTM``'s state_dict into
one ONNX graph (opset 17) with one ``LSTM`` node per layer and returns
``run(x, hx, lengths) -> (output, h_n, c_n)``. The mapping:

* Gate order: torch stacks the four gate row blocks as i, f, g, o; ONNX as i, o, f, c
  (c is torch's g). Every (4H, ...) weight and bias is reordered block-wise.
* Layer k, directions stacked on a leading axis ("" then "_reverse"):
  W = weight_ih_l{k}{s} -> [D, 4H, In], R = weight_hh_l{k}{s} -> [D, 4H, H],
  B = [bias_ih_l{k}{s} | bias_hh_l{k}{s}] -> [D, 8H] (left out when bias=False, which
  ONNX reads as zero bias); direction "forward" or "bidirectional".
* Layout: ONNX's default layout is seq-first, like the protocol: X is [L, N, In]. Y comes
  back as [L, D, N, H]; a Transpose and a Reshape make it [L, N, D*H], which is the next
  layer's X and, after the last layer, ``output``.
* States: hx rows are layer*D + direction, so rows k*D:(k+1)*D of h0 and c0 are layer k's
  initial_h / initial_c ([D, N, H]). The layers' Y_h and Y_c are concatenated into
  h_n and c_n ([D*num_layers, N, H]).
* Lengths become ``sequence_lens`` (int32) of every layer. What ONNX Runtime does with the
  padded steps is returned as it is.

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError`` rather than approximating: ONNX's LSTM has no projection
(``proj_size``), an inference graph has no dropout (``dropout``), and ONNX Runtime's CPU
LSTM kernel refuses double ("LSTM operator does not support double yet"), so ``float64``.

Sessions are kept in a small LRU cache keyed by the configuration, a hash of the weights
and which optional inputs (hx, lengths) a run passes: the suite prepares many small
models, often the same one again.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

__all__ = ["OnnxRuntimeBackend", "backend", "build_model"]

OPSET = 17
IR_VERSION = 8

#: ONNX's i, o, f, c as indices into torch's i, f, g, o.
_GATE_ORDER = [0, 3, 1, 2]


def _reorder(a: np.ndarray, hidden_size: int) -> np.ndarray:
    """A (4H, ...) torch weight or bias with its gate blocks in ONNX order."""
    return a.reshape(4, hidden_size, *a.shape[1:])[_GATE_ORDER].reshape(a.shape)


def build_model(config, weights: dict, has_hx: bool, has_lengths: bool) -> onnx.ModelProto:
    """The float32 ONNX model of ``nn.LSTM(**config)`` with state_dict ``weights``.

    Inputs: ``x`` [L, N, In]; ``lengths`` [N] int32 if ``has_lengths``; ``h0_l{k}`` and
    ``c0_l{k}`` [D, N, H] per layer if ``has_hx``. Outputs: ``output`` [L, N, D*H],
    ``h_n`` and ``c_n`` [D*num_layers, N, H].
    """
    H, D, layers = config.hidden_size, config.num_directions, config.num_layers
    suffixes = ["", "_reverse"][:D]
    f32 = TensorProto.FLOAT

    def stacked(name: str, k: int) -> np.ndarray:
        return np.stack([_reorder(weights[f"{name}_l{k}{s}"], H) for s in suffixes])

    inputs = [helper.make_tensor_value_info("x", f32, ["L", "N", config.input_size])]
    if has_lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, ["N"]))
    initializers = [numpy_helper.from_array(np.array([0, 0, -1], np.int64), "merge_directions")]
    nodes = []
    x = "x"
    for k in range(layers):
        w, r, b, h0, c0 = f"W_l{k}", f"R_l{k}", "", "", ""
        initializers += [
            numpy_helper.from_array(stacked("weight_ih", k), w),
            numpy_helper.from_array(stacked("weight_hh", k), r),
        ]
        if config.bias:
            b = f"B_l{k}"
            bias = np.concatenate([stacked("bias_ih", k), stacked("bias_hh", k)], axis=1)
            initializers.append(numpy_helper.from_array(bias, b))
        if has_hx:
            h0, c0 = f"h0_l{k}", f"c0_l{k}"
            inputs += [helper.make_tensor_value_info(n, f32, [D, "N", H]) for n in (h0, c0)]
        lstm_inputs = [x, w, r, b, "lengths" if has_lengths else "", h0, c0]
        y = "output" if k == layers - 1 else f"output_l{k}"
        nodes += [
            helper.make_node(
                "LSTM", lstm_inputs, [f"Y_l{k}", f"Y_h_l{k}", f"Y_c_l{k}"],
                hidden_size=H, direction="bidirectional" if D == 2 else "forward",
            ),
            helper.make_node("Transpose", [f"Y_l{k}"], [f"Y_lnd_l{k}"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [f"Y_lnd_l{k}", "merge_directions"], [y]),
        ]
        x = y
    nodes += [
        helper.make_node("Concat", [f"Y_h_l{k}" for k in range(layers)], ["h_n"], axis=0),
        helper.make_node("Concat", [f"Y_c_l{k}" for k in range(layers)], ["c_n"], axis=0),
    ]
    outputs = [
        helper.make_tensor_value_info("output", f32, ["L", "N", D * H]),
        helper.make_tensor_value_info("h_n", f32, [D * layers, "N", H]),
        helper.make_tensor_value_info("c_n", f32, [D * layers, "N", H]),
    ]
    graph = helper.make_graph(nodes, "lstm", inputs, outputs, initializers)
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )


class OnnxRuntimeBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on an ORT session."""

    lstm_conformance_unsupported = frozenset({"proj_size", "dropout", "float64", "float16"})
    lstm_conformance_framework = f"onnxruntime {ort.__version__}"

    def __init__(self, max_sessions: int = 64) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict = OrderedDict()

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("ONNX's LSTM operator has no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError("dropout between layers in training mode")
        if np.dtype(dtype) != np.float32:
            raise NotImplementedError(
                f"ONNX Runtime's CPU LSTM kernel supports float32 only, not {np.dtype(dtype)}"
            )
        digest = hashlib.blake2b(digest_size=16)
        for name in sorted(weights):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(weights[name]).tobytes())
        model_key = (
            config.input_size, config.hidden_size, config.num_layers, config.bias,
            config.num_directions, digest.digest(),
        )
        D = config.num_directions

        def run(x, hx, lengths):
            session = self._session(model_key, config, weights, hx is not None, lengths is not None)
            feeds = {"x": np.ascontiguousarray(x)}
            if lengths is not None:
                feeds["lengths"] = np.asarray(lengths, dtype=np.int32)
            if hx is not None:
                for k in range(config.num_layers):
                    feeds[f"h0_l{k}"] = np.ascontiguousarray(hx[0][k * D : (k + 1) * D])
                    feeds[f"c0_l{k}"] = np.ascontiguousarray(hx[1][k * D : (k + 1) * D])
            output, h_n, c_n = session.run(["output", "h_n", "c_n"], feeds)
            return output, h_n, c_n

        return run

    def _session(self, model_key, config, weights, has_hx, has_lengths):
        key = (*model_key, has_hx, has_lengths)
        session = self._sessions.get(key)
        if session is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            model = build_model(config, weights, has_hx, has_lengths)
            session = ort.InferenceSession(
                model.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
            self._sessions[key] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        self._sessions.move_to_end(key)
        return session


#: The instance registered under the ``lstm_conformance.implementations`` entry point.
backend = OnnxRuntimeBackend()
