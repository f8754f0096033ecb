"""MindSpore's ``mindspore.nn.LSTM`` on the CPU, as an lstm-conformance backend.

MindSpore's LSTM holds torch's parameters under torch's names and shapes:
``mindspore.nn.LSTM(input_size, hidden_size, num_layers, has_bias, batch_first=False,
dropout, bidirectional)`` has ``weight_ih_l{k}{s}`` (4H, In), ``weight_hh_l{k}{s}`` (4H, H),
``bias_ih_l{k}{s}`` and ``bias_hh_l{k}{s}`` (4H,) (s "" or "_reverse";
mindspore/nn/layer/rnns.py, ``_RNNBase.__init__``), with the gates in torch's order
i, f, g, o (the CPU kernel is ``ops.LSTM`` on the flat weights ``w_ih, w_hh, b_ih + b_hh``
for dense input, and ``_lstm_cell`` step by step when lengths are given). So each torch
weight is assigned to the parameter of the same name; ``tests/test_against_torch.py``
proves the mapping (a wrong gate order or a transposed weight fails it). Input is
seq-first (``batch_first=False``); initial states are ``hx=(h0, c0)`` with torch's rows
(``k*D + d``); lengths are ``seq_length`` (int64, one per batch element).

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``: ``float64`` (MindSpore's LSTM documents float32 and float16 input,
and refuses a float64 initial state with a TypeError: README, Findings), ``proj_size``
(MindSpore's LSTM has none), ``dropout`` (not mapped here), ``float16`` and ``bfloat16``
(not checked here).

Models are built once per (configuration, dtype) and their weights assigned when their
digest changes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from importlib.metadata import version

import mindspore as ms
import numpy as np

__all__ = ["MindSporeLSTMBackend", "backend", "build_model"]

ms.set_device("CPU")
_DTYPES = {np.dtype(np.float32): ms.float32}


def build_model(config, dtype) -> ms.nn.LSTM:
    """``mindspore.nn.LSTM`` of ``config``'s structure, seq-first, in ``dtype``."""
    model = ms.nn.LSTM(config.input_size, config.hidden_size, config.num_layers,
                       has_bias=config.bias, batch_first=False,
                       bidirectional=config.bidirectional, dtype=_DTYPES[np.dtype(dtype)])
    model.set_train(False)
    return model


def assign(model: ms.nn.LSTM, weights: dict) -> None:
    """Each torch weight into MindSpore's parameter of the same name."""
    params = {p.name: p for p in model.get_parameters()}
    if set(params) != set(weights):
        raise ValueError(f"parameter names differ: MindSpore {sorted(params)}, "
                         f"torch {sorted(weights)}")
    for name, value in weights.items():
        param = params[name]
        if tuple(param.shape) != tuple(value.shape):
            raise ValueError(f"{name}: MindSpore {tuple(param.shape)}, torch {value.shape}")
        param.set_data(ms.Tensor(np.ascontiguousarray(value), dtype=param.dtype))


def _digest(weights: dict) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return digest.digest()


class _Model:
    def __init__(self, config, dtype) -> None:
        self.dtype = np.dtype(dtype)
        self.module = build_model(config, dtype)
        self.weights_digest = None

    def load(self, weights: dict) -> None:
        digest = _digest(weights)
        if digest != self.weights_digest:
            assign(self.module, weights)
            self.weights_digest = digest

    def __call__(self, x, hx, lengths):
        as_ms = lambda a: ms.Tensor(np.ascontiguousarray(a, dtype=self.dtype))  # noqa: E731
        states = None if hx is None else (as_ms(hx[0]), as_ms(hx[1]))
        seq_length = None
        if lengths is not None:
            seq_length = ms.Tensor(np.asarray(lengths, dtype=np.int64))
        output, (h_n, c_n) = self.module(as_ms(x), states, seq_length)
        return output.asnumpy(), h_n.asnumpy(), c_n.asnumpy()


PACKED_TANH = (
    "packed input is less accurate than float32: with seq_length, mindspore.nn.LSTM runs its "
    "Python _lstm_cell step by step, and on the CPU float32 ops.Tanh is off by up to 1e-4 "
    "for |x| in 4..6 (tanh(4.99) = 1.0000064) and ops.Sigmoid by up to 8e-7; without "
    "seq_length the fused ops.LSTM is float32-accurate; related upstream: "
    "https://github.com/mindspore-ai/mindspore/issues/348 (reproduction: "
    "examples/mindspore-lstm/tests/test_findings.py)"
)


class MindSporeLSTMBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on a cached model."""

    lstm_conformance_unsupported = frozenset({"float64", "proj_size", "dropout", "float16",
                                              "bfloat16"})
    lstm_conformance_framework = f"mindspore {version('mindspore')} (CPU)"
    #: The checks default runs failed, each only on packed float32 input (which checks
    #: meet it depends on the inputs drawn: a gate pre-activation with |x| in 4..6).
    lstm_conformance_known_failures = dict.fromkeys(
        ("matches-oracle", "packed-per-sequence", "packed-uniform-is-dense",
         "block-boundaries", "lifecycle"), PACKED_TANH)

    def __init__(self, max_models: int = 32) -> None:
        self.max_models = max_models
        self._models: OrderedDict = OrderedDict()

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("MindSpore's LSTM has no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError("dropout between layers is not mapped to MindSpore here")
        dtype = np.dtype(dtype)
        if dtype not in _DTYPES:
            raise NotImplementedError(f"float32 only, not {dtype} (MindSpore's LSTM takes "
                                      "float32 and float16; float16 is not checked here)")
        key = (config.input_size, config.hidden_size, config.num_layers, config.bias,
               config.bidirectional, dtype.name)
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = _Model(config, dtype)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(key)

        def run(x, hx, lengths):
            model.load(weights)
            return model(x, hx, lengths)

        return run


#: The instance registered under the ``lstm_conformance.implementations`` entry point.
backend = MindSporeLSTMBackend()
