"""ONNX's ``LSTM`` operator run by ``onnx.reference.ReferenceEvaluator``, as an
lstm-conformance backend.

The reference evaluator is ONNX's own Python/numpy implementation of the operator
specification; it computes in the dtype of its inputs, so float64 models run in float64.
``backend.prepare(config, weights, dtype, training)`` builds one ONNX graph (opset 17) with
one ``LSTM`` node per layer and returns ``run(x, hx, lengths) -> (output, h_n, c_n)``.
The mapping is the one of the ONNX Runtime example (examples/onnxruntime-lstm):

* Gate order: torch stacks the gate row blocks i, f, g, o; ONNX i, o, f, c (c is torch's
  g). Every (4H, ...) weight and bias is reordered block-wise.
* Layer k, directions stacked on a leading axis ("" then "_reverse"):
  W = weight_ih_l{k}{s} -> [D, 4H, In], R = weight_hh_l{k}{s} -> [D, 4H, H],
  B = [bias_ih_l{k}{s} | bias_hh_l{k}{s}] -> [D, 8H] (left out when bias=False, which
  ONNX reads as zero bias).
* Layout: seq-first, like the protocol. Y [L, D, N, H] becomes [L, N, D*H] (Transpose,
  Reshape), the next layer's X.
* States: rows k*D:(k+1)*D of h0 and c0 are layer k's initial_h / initial_c; the layers'
  Y_h and Y_c are concatenated into h_n and c_n.
* Lengths become ``sequence_lens`` (int32) of every layer, as the operator specifies.
  What the evaluator returns is returned as it is: it ignores ``sequence_lens`` (README,
  Findings), and that is what the suite is there to see.

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``: ``proj_size`` (ONNX's LSTM has no projection), ``dropout`` (an
inference graph has none), ``float16`` (the evaluator would compute in float16 numpy,
which nothing in ONNX promises to be float32-accumulated) and ``bfloat16`` (no numpy
dtype).

Evaluators are kept in a small LRU cache keyed by the configuration, dtype, a hash of the
weights and which optional inputs a run passes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

__all__ = ["OnnxReferenceBackend", "backend", "build_model"]

OPSET = 17
IR_VERSION = 8

#: ONNX's i, o, f, c as indices into torch's i, f, g, o.
_GATE_ORDER = [0, 3, 1, 2]
_ELEMENT_TYPE = {np.dtype(np.float32): TensorProto.FLOAT,
                 np.dtype(np.float64): TensorProto.DOUBLE}

#: The known difference, declared per invariant in ``lstm_conformance_known_failures``.
SEQUENCE_LENS_IGNORED = (
    "sequence_lens is ignored: onnx.reference's LSTM (onnx/reference/ops/op_lstm.py) takes "
    "the input and never reads it, so packed sequences run over their padding and h_n/c_n "
    "come from step L-1; no upstream issue found (source: https://github.com/onnx/onnx/"
    "blob/main/onnx/reference/ops/op_lstm.py)"
)


def _reorder(a: np.ndarray, hidden_size: int) -> np.ndarray:
    """A (4H, ...) torch weight or bias with its gate blocks in ONNX order."""
    return a.reshape(4, hidden_size, *a.shape[1:])[_GATE_ORDER].reshape(a.shape)


def build_model(config, weights: dict, dtype, has_hx: bool,
                has_lengths: bool) -> onnx.ModelProto:
    """The ONNX model of ``nn.LSTM(**config)`` with state_dict ``weights`` in ``dtype``.

    Inputs: ``x`` [L, N, In]; ``lengths`` [N] int32 if ``has_lengths``; ``h0_l{k}`` and
    ``c0_l{k}`` [D, N, H] per layer if ``has_hx``. Outputs: ``output`` [L, N, D*H],
    ``h_n`` and ``c_n`` [D*num_layers, N, H].
    """
    H, D, layers = config.hidden_size, config.num_directions, config.num_layers
    suffixes = ["", "_reverse"][:D]
    element = _ELEMENT_TYPE[np.dtype(dtype)]

    def stacked(name: str, k: int) -> np.ndarray:
        return np.stack([_reorder(weights[f"{name}_l{k}{s}"], H) for s in suffixes]).astype(dtype)

    inputs = [helper.make_tensor_value_info("x", element, ["L", "N", config.input_size])]
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
            inputs += [helper.make_tensor_value_info(n, element, [D, "N", H]) for n in (h0, c0)]
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
        helper.make_tensor_value_info("output", element, ["L", "N", D * H]),
        helper.make_tensor_value_info("h_n", element, [D * layers, "N", H]),
        helper.make_tensor_value_info("c_n", element, [D * layers, "N", H]),
    ]
    graph = helper.make_graph(nodes, "lstm", inputs, outputs, initializers)
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )


class OnnxReferenceBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on a ReferenceEvaluator."""

    lstm_conformance_unsupported = frozenset({"proj_size", "dropout", "float16", "bfloat16"})
    lstm_conformance_framework = f"onnx {onnx.__version__} (onnx.reference)"
    #: Every check that met a packed batch with unequal lengths in the default run.
    lstm_conformance_known_failures = dict.fromkeys(
        ("last-step-forward", "stacked-layers", "matches-oracle", "packed-per-sequence",
         "block-boundaries", "lifecycle"), SEQUENCE_LENS_IGNORED)

    def __init__(self, max_models: int = 64) -> None:
        self.max_models = max_models
        self._models: OrderedDict = OrderedDict()

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("ONNX's LSTM operator has no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError("dropout between layers in training mode")
        if np.dtype(dtype) not in _ELEMENT_TYPE:
            raise NotImplementedError(f"float32 and float64 only, not {np.dtype(dtype)}")
        digest = hashlib.blake2b(digest_size=16)
        for name in sorted(weights):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(weights[name]).tobytes())
        model_key = (
            config.input_size, config.hidden_size, config.num_layers, config.bias,
            config.num_directions, np.dtype(dtype).name, digest.digest(),
        )
        D = config.num_directions

        def run(x, hx, lengths):
            evaluator = self._evaluator(model_key, config, weights, dtype, hx is not None,
                                        lengths is not None)
            feeds = {"x": np.ascontiguousarray(x)}
            if lengths is not None:
                feeds["lengths"] = np.asarray(lengths, dtype=np.int32)
            if hx is not None:
                for k in range(config.num_layers):
                    feeds[f"h0_l{k}"] = np.ascontiguousarray(hx[0][k * D : (k + 1) * D])
                    feeds[f"c0_l{k}"] = np.ascontiguousarray(hx[1][k * D : (k + 1) * D])
            output, h_n, c_n = evaluator.run(["output", "h_n", "c_n"], feeds)
            return output, h_n, c_n

        return run

    def _evaluator(self, model_key, config, weights, dtype, has_hx, has_lengths):
        key = (*model_key, has_hx, has_lengths)
        evaluator = self._models.get(key)
        if evaluator is None:
            model = build_model(config, weights, dtype, has_hx, has_lengths)
            evaluator = ReferenceEvaluator(model)
            self._models[key] = evaluator
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return evaluator


#: The instance registered under the ``lstm_conformance.implementations`` entry point.
backend = OnnxReferenceBackend()
