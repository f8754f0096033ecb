"""PaddlePaddle's ``paddle.nn.LSTM``, as an lstm-conformance backend.

Paddle's LSTM is torch's, name for name: ``paddle.nn.LSTM(input_size, hidden_size,
num_layers, direction="bidirect" | "forward", time_major=True)`` holds
``weight_ih_l{k}{s}``, ``weight_hh_l{k}{s}``, ``bias_ih_l{k}{s}`` and ``bias_hh_l{k}{s}``
(s "" or "_reverse") in torch's shapes and gate order (i, f, g, o), so each torch weight
is assigned to the attribute of the same name. ``time_major=True`` is the protocol's
seq-first layout; initial states are ``(h0, c0)`` with torch's row order; lengths are
``sequence_length``.

dtype: Paddle builds layers in its default dtype, so the model is built under
``paddle.set_default_dtype`` of the case's dtype (and the default restored).

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``: ``no_bias`` (Paddle's LSTM without biases crashes the process
with a segmentation fault on its first CPU call: README, Findings), ``proj_size`` and
``dropout`` (not mapped here), ``float16`` and ``bfloat16`` (not checked here).

Models are built once per (configuration, dtype) and their weights assigned when their
digest changes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import paddle

__all__ = ["PaddleLSTMBackend", "backend", "build_model"]

paddle.set_device("cpu")


def build_model(config, dtype: str) -> paddle.nn.LSTM:
    previous = paddle.get_default_dtype()
    paddle.set_default_dtype(dtype)
    try:
        model = paddle.nn.LSTM(
            config.input_size, config.hidden_size, config.num_layers,
            direction="bidirect" if config.bidirectional else "forward", time_major=True,
        )
    finally:
        paddle.set_default_dtype(previous)
    model.eval()
    return model


def _digest(weights: dict) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return digest.digest()


class _Model:
    def __init__(self, config, dtype: str) -> None:
        self.dtype = dtype
        self.module = build_model(config, dtype)
        self.weights_digest = None

    def load(self, weights: dict) -> None:
        digest = _digest(weights)
        if digest != self.weights_digest:
            for name, value in weights.items():
                getattr(self.module, name).set_value(np.ascontiguousarray(value))
            self.weights_digest = digest

    def __call__(self, x, hx, lengths):
        states = None
        if hx is not None:
            states = tuple(paddle.to_tensor(np.ascontiguousarray(s)) for s in hx)
        sequence_length = None
        if lengths is not None:
            sequence_length = paddle.to_tensor(np.asarray(lengths, np.int64))
        with paddle.no_grad():
            output, (h_n, c_n) = self.module(paddle.to_tensor(np.ascontiguousarray(x)),
                                             states, sequence_length)
        return output.numpy(), h_n.numpy(), c_n.numpy()


class PaddleLSTMBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on a cached model."""

    lstm_conformance_unsupported = frozenset({"no_bias", "proj_size", "dropout", "float16",
                                              "bfloat16"})
    lstm_conformance_framework = f"paddlepaddle {paddle.__version__} (CPU)"
    lstm_conformance_known_failures: dict = {}

    def __init__(self, max_models: int = 32) -> None:
        self.max_models = max_models
        self._models: OrderedDict = OrderedDict()

    def prepare(self, config, weights: dict, dtype, training: bool):
        if not config.bias:
            raise NotImplementedError("paddle.nn.LSTM without biases crashes the process "
                                      "(segmentation fault in its CPU RnnKernel)")
        if config.proj_size > 0:
            raise NotImplementedError("proj_size is not mapped to Paddle here")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError("dropout between layers is not mapped to Paddle here")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise NotImplementedError(f"float32 and float64 only, not {dtype}")
        key = (config.input_size, config.hidden_size, config.num_layers, config.bias,
               config.bidirectional, dtype.name)
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = _Model(config, dtype.name)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(key)

        def run(x, hx, lengths):
            model.load(weights)
            return model(x, hx, lengths)

        return run


#: The instance registered under the ``lstm_conformance.implementations`` entry point.
backend = PaddleLSTMBackend()
