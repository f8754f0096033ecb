"""TensorFlow's Keras 2 (the ``tf_keras`` package) LSTM layers, as an lstm-conformance
backend.

The model for ``nn.LSTM(input_size, hidden_size, num_layers, bias, bidirectional)`` is a
stack of ``num_layers`` layers, each ``tf_keras.layers.LSTM(hidden_size,
return_sequences=True, return_state=True)``, wrapped in ``tf_keras.layers.Bidirectional``
(merge_mode "concat") when bidirectional; layer k reads layer k-1's output, and every
layer gets the same mask. The weight mapping, per layer k and direction suffix s:

* Gate order: Keras stacks the column blocks of its (..., 4H) weights as i, f, c, o,
  torch's row blocks i, f, g, o: the same order, so only a transpose.
  ``kernel`` = ``weight_ih_l{k}{s}.T``, ``recurrent_kernel`` = ``weight_hh_l{k}{s}.T``.
* ``bias`` = ``bias_ih_l{k}{s} + bias_hh_l{k}{s}`` (Keras has one bias; torch's two are
  only ever added); ``bias=False`` is ``use_bias=False``.
* Activations: Keras 2's LSTM layer defaults, ``tanh`` and ``recurrent_activation=
  "sigmoid"``, are torch's.
* States: ``initial_state`` is ``[h0, c0]`` per LSTM, ``[h0_fwd, c0_fwd, h0_bwd, c0_bwd]``
  per Bidirectional (rows ``k*D + d``); the returned states are stacked into h_n, c_n.
* Layout: Keras is batch-major; x is transposed on the way in, the output on the way out.
* Packed input: ``lengths`` become a boolean mask (N, L), ``t < lengths[b]``. Keras holds
  the state over masked steps and zeroes the output there (``zero_output_for_mask``,
  which ``Bidirectional`` forces); nothing here corrects what Keras computes.
* dtype: set on every layer and on the ``Bidirectional`` wrapper.

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``: ``proj_size`` (no projection in Keras's LSTM), ``dropout``
(Keras's ``LSTM(dropout=)`` drops every layer's inputs per gate, not the outputs of
layers 0..L-2), ``bfloat16`` (no numpy dtype to pass it in) and ``float16`` (Keras's
LSTM layer in float16 on CPU: see README).

Cost: layers are built once per (configuration, dtype) and called eagerly, which is how
Keras 2 runs a layer outside a model; weights are assigned only when their digest changes.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

__all__ = ["TfKerasLSTMBackend", "backend", "build_layers", "keras_weights"]

# One thread each: the cases are small, and the machine is shared.
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)


def keras_weights(weights: dict, k: int, suffix: str, bias: bool) -> list[np.ndarray]:
    """``[kernel, recurrent_kernel(, bias)]`` of one Keras LSTM from torch's layer k."""
    arrays = [weights[f"weight_ih_l{k}{suffix}"].T, weights[f"weight_hh_l{k}{suffix}"].T]
    if bias:
        arrays.append(weights[f"bias_ih_l{k}{suffix}"] + weights[f"bias_hh_l{k}{suffix}"])
    return [np.ascontiguousarray(a) for a in arrays]


def build_layers(config, dtype: str) -> list:
    """One built layer per torch layer: ``LSTM`` or ``Bidirectional(LSTM)``."""
    layers = []
    for k in range(config.num_layers):
        lstm = tf_keras.layers.LSTM(
            config.hidden_size, use_bias=config.bias, return_sequences=True,
            return_state=True, zero_output_for_mask=True, dtype=dtype,
        )
        layer = tf_keras.layers.Bidirectional(lstm, dtype=dtype) if config.bidirectional else lstm
        in_features = config.input_size if k == 0 else config.num_directions * config.hidden_size
        layer.build((None, None, in_features))
        layers.append(layer)
    return layers


def _digest(weights: dict) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return digest.digest()


class _Model:
    """One configuration and dtype: its layers and the digest of their weights."""

    def __init__(self, config, dtype: str) -> None:
        self.config = config
        self.dtype = dtype
        self.layers = build_layers(config, dtype)
        self.weights_digest = None

    def load(self, weights: dict) -> None:
        digest = _digest(weights)
        if digest == self.weights_digest:
            return
        for k, layer in enumerate(self.layers):
            directions = (
                [layer.forward_layer, layer.backward_layer] if self.config.bidirectional
                else [layer]
            )
            for lstm, suffix in zip(directions, ["", "_reverse"], strict=False):
                lstm.set_weights(keras_weights(weights, k, suffix, self.config.bias))
        self.weights_digest = digest

    def __call__(self, x, hx, lengths):
        D = self.config.num_directions
        out = tf.convert_to_tensor(np.ascontiguousarray(x.transpose(1, 0, 2)), self.dtype)
        mask = None
        if lengths is not None:
            mask = tf.convert_to_tensor(np.arange(x.shape[0])[None, :] < lengths[:, None])
        h_n, c_n = [], []
        for k, layer in enumerate(self.layers):
            initial_state = None
            if hx is not None:
                initial_state = [tf.convert_to_tensor(np.ascontiguousarray(state[k * D + d]),
                                                      self.dtype)
                                 for d in range(D) for state in hx]
            out, *states = layer(out, initial_state=initial_state, mask=mask, training=False)
            h_n += states[0::2]
            c_n += states[1::2]
        return (np.array(out).transpose(1, 0, 2), np.stack([np.array(h) for h in h_n]),
                np.stack([np.array(c) for c in c_n]))


class TfKerasLSTMBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on cached layers."""

    lstm_conformance_unsupported = frozenset({"proj_size", "dropout", "bfloat16", "float16"})
    lstm_conformance_framework = f"tf_keras {tf_keras.__version__} (tensorflow {tf.__version__})"
    lstm_conformance_known_failures: dict = {}

    def __init__(self, max_models: int = 32) -> None:
        self.max_models = max_models
        self._models: OrderedDict = OrderedDict()

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("Keras's LSTM has no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError(
                "torch's dropout between layers has no Keras LSTM equivalent "
                "(LSTM(dropout=) drops every layer's inputs)"
            )
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise NotImplementedError(f"float32 and float64 only, not {np.dtype(dtype)}")
        model = self._model(config, np.dtype(dtype).name)

        def run(x, hx, lengths):
            model.load(weights)  # a no-op unless another prepare loaded other weights
            return model(x, hx, lengths)

        return run

    def _model(self, config, dtype: str) -> _Model:
        key = (config.input_size, config.hidden_size, config.num_layers, config.bias,
               config.bidirectional, dtype)
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = _Model(config, dtype)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return model


#: The instance registered under the ``lstm_conformance.implementations`` entry point.
backend = TfKerasLSTMBackend()
