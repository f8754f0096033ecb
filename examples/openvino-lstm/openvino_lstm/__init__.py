"""nn.LSTM converted to OpenVINO through ONNX and run on OpenVINO's CPU plugin, as two
lstm-conformance backends.

``prepare(config, weights, dtype, training)`` builds the ONNX graph of
``onnx_reference_lstm.build_model`` (one ``LSTM`` node per layer, opset 17; its docstring
gives the mapping from nn.LSTM's state_dict), reads it with OpenVINO's ONNX frontend
(``Core.read_model``) and compiles it for the CPU with dynamic sequence length and
batch. Lengths become the operator's ``sequence_lens``.

Two entry points, because OpenVINO's CPU plugin picks its inference precision itself:

* ``openvino``: the plugin's default ``INFERENCE_PRECISION_HINT``, what a user who
  converts a float32 model gets. On CPUs with native bfloat16 (avx512_bf16, AMX) that
  default is ``bf16``: a float32 model computes in bfloat16 (README).
* ``openvino-f32``: ``INFERENCE_PRECISION_HINT = f32``, the setting that asks for
  float32 arithmetic.

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``: ``proj_size`` (ONNX's LSTM has no projection), ``dropout`` (an
inference graph has none), ``float16`` and ``bfloat16`` (not checked here).

Compiled models are kept in a small LRU cache keyed by configuration, dtype, a hash of
the weights and which optional inputs a run passes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import openvino as ov
from onnx_reference_lstm import build_model

__all__ = ["OpenVinoLSTMBackend", "backend", "backend_f32"]

_CORE = ov.Core()
_CORE.set_property("CPU", {"INFERENCE_NUM_THREADS": 1})
#: The CPU plugin's default inference precision on this machine, as users get it.
DEFAULT_PRECISION = _CORE.get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()

#: The known difference of both entry points, declared per invariant.
SEQUENCE_LENS_NOT_HONOURED = (
    "sequence_lens is not honoured: past a sequence's length the converted LSTM's Y is not "
    "zero and Y_h/Y_c are not its last valid step's (ONNX Runtime, same model, honours it); "
    "no upstream issue found; reproduction: examples/openvino-lstm/tests/test_findings.py"
)


class OpenVinoLSTMBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on a compiled model."""

    lstm_conformance_unsupported = frozenset({"proj_size", "dropout", "float16", "bfloat16"})

    def __init__(self, precision_hint: str | None = None, known_failures: dict | None = None,
                 max_models: int = 64) -> None:
        self.precision_hint = precision_hint
        self.max_models = max_models
        setting = (f"INFERENCE_PRECISION_HINT={precision_hint}" if precision_hint
                   else f"default INFERENCE_PRECISION_HINT, {DEFAULT_PRECISION} here")
        self.lstm_conformance_framework = f"openvino {ov.__version__} (CPU, {setting})"
        self.lstm_conformance_known_failures = dict(known_failures or {})
        self._models: OrderedDict = OrderedDict()

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("ONNX's LSTM operator has no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError("dropout between layers in training mode")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise NotImplementedError(f"float32 and float64 only, not {dtype}")
        digest = hashlib.blake2b(digest_size=16)
        for name in sorted(weights):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(weights[name]).tobytes())
        model_key = (config.input_size, config.hidden_size, config.num_layers, config.bias,
                     config.num_directions, dtype.name, digest.digest())
        D = config.num_directions

        def run(x, hx, lengths):
            compiled = self._compiled(model_key, config, weights, dtype, hx is not None,
                                      lengths is not None)
            feeds = {"x": np.ascontiguousarray(x)}
            if lengths is not None:
                feeds["lengths"] = np.asarray(lengths, dtype=np.int32)
            if hx is not None:
                for k in range(config.num_layers):
                    feeds[f"h0_l{k}"] = np.ascontiguousarray(hx[0][k * D : (k + 1) * D])
                    feeds[f"c0_l{k}"] = np.ascontiguousarray(hx[1][k * D : (k + 1) * D])
            results = compiled(feeds)
            return tuple(np.array(results[compiled.output(name)])
                         for name in ("output", "h_n", "c_n"))

        return run

    def _compiled(self, model_key, config, weights, dtype, has_hx, has_lengths):
        key = (*model_key, has_hx, has_lengths)
        compiled = self._models.get(key)
        if compiled is None:
            # read_model of the serialized ONNX model: OpenVINO's ONNX frontend, which is
            # what convert_model calls too, without its 1.5 s of Python tooling per model
            onnx_model = build_model(config, weights, dtype, has_hx, has_lengths)
            model = _CORE.read_model(onnx_model.SerializeToString())
            properties = {}
            if self.precision_hint:
                properties["INFERENCE_PRECISION_HINT"] = self.precision_hint
            compiled = _CORE.compile_model(model, "CPU", properties)
            self._models[key] = compiled
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return compiled


#: ``openvino``: the CPU plugin's default precision hint.
backend = OpenVinoLSTMBackend()
FLOAT64_IN_FLOAT32 = (
    "float64 is float32-accurate: the CPU plugin computes a float64 model in float32 and "
    "returns float64 arrays (3e-8 from ONNX's reference evaluator on the same model); no "
    "upstream issue found; reproduction: examples/openvino-lstm/tests/test_findings.py"
)

#: ``openvino-f32``: float32 inference asked for.
backend_f32 = OpenVinoLSTMBackend("f32", known_failures={
    **dict.fromkeys(("last-step-forward", "stacked-layers", "matches-oracle",
                     "packed-per-sequence", "block-boundaries", "lifecycle"),
                    SEQUENCE_LENS_NOT_HONOURED),
    **dict.fromkeys(("cell-state-consistency", "zero-weights", "gate-probe",
                     "state-continuation"),
                    FLOAT64_IN_FLOAT32),
})
