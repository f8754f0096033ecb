"""``KerasLSTMBackend``: nn.LSTM's semantics run by Keras 3 layers (protocol backend).

Import this module only after ``keras_lstm.use_keras_backend`` has chosen the Keras
backend (``keras_lstm.torch_backend`` and ``keras_lstm.jax_backend`` do that): it imports
``keras``.

The model for ``nn.LSTM(input_size, hidden_size, num_layers, bias, bidirectional)`` is a
stack of ``num_layers`` Keras layers, each one
``keras.layers.LSTM(hidden_size, return_sequences=True, return_state=True)``, wrapped in
``keras.layers.Bidirectional`` (merge_mode "concat") when bidirectional. Layer k reads
layer k-1's output; every layer gets the same mask. The weight mapping, per layer k and
direction suffix s ("" forward, "_reverse" backward):

* Gate order: torch stacks the row blocks of its (4H, ...) weights as i, f, g, o; Keras
  stacks the column blocks of its (..., 4H) weights as i, f, c, o, the same order (c is
  torch's g). No reordering, only a transpose.
* ``kernel`` (In, 4H) = ``weight_ih_l{k}{s}.T``; ``recurrent_kernel`` (H, 4H) =
  ``weight_hh_l{k}{s}.T``.
* ``bias`` (4H,) = ``bias_ih_l{k}{s} + bias_hh_l{k}{s}``: Keras has one bias where torch
  has two that are only ever added (summed in the weights' dtype). ``bias=False`` maps to
  ``use_bias=False``.
* Activations: Keras 3's defaults, ``activation="tanh"`` and
  ``recurrent_activation="sigmoid"``, are torch's (Keras 2 used hard_sigmoid).
* Backward direction: ``Bidirectional`` runs a copy of the layer with ``go_backwards=True``
  and flips its output back to the input's time order; ``backward_layer`` holds the
  ``_reverse`` weights.
* States: ``initial_state`` is ``[h0, c0]`` per LSTM and ``[h0_fwd, c0_fwd, h0_bwd,
  c0_bwd]`` per Bidirectional, i.e. rows ``k*D + d`` of (h0, c0); the returned states come
  back in the same order and are stacked into h_n and c_n.
* Layout: Keras is batch-major, (N, L, In); x is transposed on the way in and the output
  on the way out.
* Packed input: ``lengths`` become a boolean mask (N, L), ``t < lengths[b]``, passed to
  every layer. Keras then holds the state over masked steps (so h_n, c_n are the true last
  step's), and ``go_backwards`` reverses the mask with the input, so the backward
  direction starts at each sequence's true end. ``zero_output_for_mask=True`` (which
  ``Bidirectional`` forces anyway) makes the output zero at masked steps. Nothing here
  corrects what Keras computes.
* dtype: set on every ``LSTM`` *and* on the ``Bidirectional`` wrapper, which does not
  take it from the layer it wraps and otherwise casts its output to float32.

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``:

* ``proj_size``: Keras's LSTM has no projection (torch's ``weight_hr``).
* ``dropout``: torch drops the *outputs of layers 0..L-2* in training. Keras's
  ``LSTM(dropout=...)`` drops the *inputs of every layer*, layer 0 included, and per gate,
  so it is not the same operation; a ``keras.layers.Dropout`` between the layers would be
  this adapter's dropout, not Keras's LSTM. Eval mode with ``dropout > 0`` is supported
  (dropout is then off, as in torch).

Cost: ``prepare`` is called for every forward call, so built models are cached per
(configuration, dtype), and weights are assigned only when their digest changes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections import OrderedDict

import keras
import numpy as np

__all__ = ["KerasLSTMBackend", "LSTMStack", "build_layers", "keras_weights"]


def keras_weights(weights: dict, k: int, suffix: str, bias: bool) -> list[np.ndarray]:
    """``[kernel, recurrent_kernel(, bias)]`` of one Keras LSTM from torch's layer k."""
    arrays = [weights[f"weight_ih_l{k}{suffix}"].T, weights[f"weight_hh_l{k}{suffix}"].T]
    if bias:
        arrays.append(weights[f"bias_ih_l{k}{suffix}"] + weights[f"bias_hh_l{k}{suffix}"])
    return [np.ascontiguousarray(a) for a in arrays]


def build_layers(config, dtype: str) -> list:
    """One built Keras layer per torch layer: ``LSTM`` or ``Bidirectional(LSTM)``."""
    layers = []
    for k in range(config.num_layers):
        lstm = keras.layers.LSTM(
            config.hidden_size, use_bias=config.bias, return_sequences=True,
            return_state=True, zero_output_for_mask=True, dtype=dtype, name=f"lstm_l{k}",
        )
        # Bidirectional does not inherit the wrapped layer's dtype: set it on both.
        layer = keras.layers.Bidirectional(lstm, dtype=dtype) if config.bidirectional else lstm
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


def _to_numpy(tensor) -> np.ndarray:
    """A writable copy: arrays viewed from JAX's buffers are read-only, and torch warns
    when the suite wraps a read-only array."""
    return np.array(keras.ops.convert_to_numpy(tensor))


class LSTMStack(keras.layers.Layer):
    """nn.LSTM's layer stack in Keras: ``call(x, mask, hx) -> (output, h_n, c_n)``.

    Batch-major like Keras: x (N, L, In), mask (N, L) or None, hx None or (h0, c0) with
    nn.LSTM's layer-major rows (D*num_layers, N, H); the states come back stacked alike.
    """

    def __init__(self, config, dtype: str) -> None:
        super().__init__(dtype=dtype)
        self.num_directions = 2 if config.bidirectional else 1
        self.lstm_layers = build_layers(config, dtype)
        self.supports_masking = True  # the mask is an argument of call, passed to every layer
        self.built = True

    def call(self, x, mask=None, hx=None, training=False):
        D = self.num_directions
        h_n, c_n = [], []
        for k, layer in enumerate(self.lstm_layers):
            initial_state = None
            if hx is not None:
                initial_state = [state[k * D + d] for d in range(D) for state in hx]
            x, *states = layer(x, initial_state=initial_state, mask=mask, training=training)
            h_n += states[0::2]
            c_n += states[1::2]
        return x, keras.ops.stack(h_n), keras.ops.stack(c_n)


class _Model:
    """One configuration and dtype: its ``LSTMStack`` and the digest of its weights.

    On the torch backend the stack runs eagerly, which is how Keras runs it there. On the
    JAX backend an eager call dispatches every op of the time loop one by one (0.1-0.8 s a
    call), so the stack runs the way Keras's own ``fit``/``predict`` run it on JAX:
    ``stateless_call`` under ``jax.jit``, with the variables passed as arguments, so new
    weights never trigger a new trace.
    """

    def __init__(self, config, dtype: str) -> None:
        self.config = config
        self.dtype = dtype
        self.stack = LSTMStack(config, dtype)
        self.weights_digest = None
        self._call = self._jitted() if keras.backend.backend() == "jax" else self._eager

    def load(self, weights: dict) -> None:
        digest = _digest(weights)
        if digest == self.weights_digest:
            return
        for k, layer in enumerate(self.stack.lstm_layers):
            directions = (
                [layer.forward_layer, layer.backward_layer] if self.config.bidirectional
                else [layer]
            )
            for lstm, suffix in zip(directions, ["", "_reverse"], strict=False):
                lstm.set_weights(keras_weights(weights, k, suffix, self.config.bias))
        self.weights_digest = digest

    def _eager(self, x, mask, hx, training):
        return self.stack(x, mask=mask, hx=hx, training=training)

    def _jitted(self):
        import jax

        stack = self.stack

        @functools.partial(jax.jit, static_argnames="training")
        def call(trainable, non_trainable, x, mask, hx, training):
            outputs, _ = stack.stateless_call(
                trainable, non_trainable, x, mask=mask, hx=hx, training=training
            )
            return outputs

        def run(x, mask, hx, training):
            return call(
                [v.value for v in stack.trainable_variables],
                [v.value for v in stack.non_trainable_variables],
                x, mask, hx, training=training,
            )

        return run

    def __call__(self, x, hx, lengths, training: bool):
        as_tensor = keras.ops.convert_to_tensor
        seq_len = x.shape[0]
        xb = as_tensor(np.ascontiguousarray(x.transpose(1, 0, 2)), self.dtype)
        mask = None
        if lengths is not None:
            mask = as_tensor(np.arange(seq_len)[None, :] < lengths[:, None])
        if hx is not None:
            hx = tuple(as_tensor(state, self.dtype) for state in hx)
        out, h_n, c_n = self._call(xb, mask, hx, training)
        return _to_numpy(out).transpose(1, 0, 2), _to_numpy(h_n), _to_numpy(c_n)


def _outside_inference_mode():
    """On Keras's torch backend, a context that leaves torch.inference_mode; elsewhere none."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.inference_mode(False)
    return contextlib.nullcontext()


class KerasLSTMBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on cached Keras layers."""

    lstm_conformance_unsupported = frozenset({"proj_size", "dropout"})

    def __init__(self, max_models: int = 32, known_failures: dict | None = None,
                 unsupported: frozenset = frozenset()) -> None:
        import keras

        self.max_models = max_models
        self.lstm_conformance_known_failures = dict(known_failures or {})
        self.lstm_conformance_unsupported = type(self).lstm_conformance_unsupported | unsupported
        self.lstm_conformance_framework = f"keras {keras.__version__} ({keras.backend.backend()})"
        self._models: OrderedDict = OrderedDict()

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("Keras's LSTM has no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError(
                "torch's dropout between layers has no Keras LSTM equivalent "
                "(LSTM(dropout=) drops every layer's inputs)"
            )
        def run(x, hx, lengths):
            # The cached model outlives this call: its variables are made and assigned
            # outside the caller's torch.inference_mode (as nn.LSTM's parameters are made
            # at construction), or they would be inference tensors that a later call with
            # autograd on cannot use or assign.
            with _outside_inference_mode():
                model = self._model(config, np.dtype(dtype).name)
                model.load(weights)  # a no-op unless another prepare loaded other weights
            return model(x, hx, lengths, training)

        return run

    def _model(self, config, dtype: str) -> _Model:
        key = (
            config.input_size, config.hidden_size, config.num_layers, config.bias,
            config.bidirectional, dtype,
        )
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = _Model(config, dtype)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return model
