"""Flax NNX's ``LSTMCell`` scanned by ``nnx.RNN``, as an lstm-conformance backend.

``backend.prepare(config, weights, dtype, training)`` returns ``run(x, hx, lengths)`` on a
cached Flax model of ``nn.LSTM(**config)``: per layer, ``nnx.RNN(nnx.LSTMCell)``, wrapped
in ``nnx.Bidirectional`` (forward RNN, and a second RNN that Bidirectional runs with
``reverse=True, keep_order=True``) when bidirectional; layer k reads layer k-1's output.
The mapping, per layer k and direction suffix s ("" forward, "_reverse" backward):

* Flax's ``LSTMCell`` has one ``nnx.Linear`` per gate and side: input side ``ii, if_, ig,
  io`` (no bias) and hidden side ``hi, hf, hg, ho`` (with bias); its equations are
  torch's, gate for gate (i, f, g, o; sigmoid, sigmoid, tanh, sigmoid).
* Torch's (4H, ...) weights stack the gate row blocks i, f, g, o, so gate j's block is
  rows ``j*H:(j+1)*H``. A Linear kernel is (in, out), hence
  ``i{gate}.kernel = weight_ih_l{k}{s}[block].T`` and
  ``h{gate}.kernel = weight_hh_l{k}{s}[block].T``.
* Bias: only the hidden side has one, and torch's two biases are only ever added, so
  ``h{gate}.bias = bias_ih_l{k}{s}[block] + bias_hh_l{k}{s}[block]`` (summed in the
  weights' dtype). ``bias=False`` sets it to zero, which is exactly no bias.
* States: Flax's carry is ``(c, h)``, in that order (torch's is (h, c)); rows ``k*D + d``
  of (h0, c0) become layer k's carry, ``(carry_fwd, carry_bwd)`` when bidirectional, and
  the returned carries are stacked into h_n and c_n.
* Layout: ``nnx.RNN`` is batch-major by default, (N, L, F); x is transposed on the way in
  and the output on the way out.
* Packed input: ``lengths`` are ``seq_lengths``. ``nnx.RNN`` then returns the carry of each
  sequence's true last step, and its reverse direction flips each sequence within its own
  length (``flip_sequences``), so it starts at the true end. Flax leaves the outputs at
  padded steps (t >= length) as whatever the scan computed there; the protocol wants
  zeros (torch's packed output has no such steps, and ``pad_packed_sequence`` fills them
  with zeros), so ``run`` zeroes them. That is layout, like the unpacking itself; the
  suite repacks the output and never reads those steps.
* float64: importing this module enables JAX's 64-bit mode (``jax_enable_x64``), without
  which a float64 model would silently compute in float32. Parameters and computation
  use the case's dtype (``param_dtype`` and ``dtype`` of every cell).

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``: ``proj_size`` (Flax's LSTM cells have no projection), and
``dropout`` (torch drops the outputs of layers 0..L-2 in training; Flax's recurrent
modules have no dropout between layers, so an ``nnx.Dropout`` there would be this
adapter's, not Flax's; eval mode with dropout > 0 is supported: dropout is off).

Cost: a model is built once per (configuration, dtype) and run under ``jax.jit`` with its
parameters as an argument (``nnx.split`` / ``nnx.merge``), so new weights never trigger a
new trace; XLA compiles once per input shape. Weights are assigned only when their
digest changes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

__all__ = ["FlaxLSTMBackend", "GATES", "backend", "build_model", "load_weights"]

#: (input-side, hidden-side) Linear of each gate in LSTMCell, in torch's row-block order
#: i, f, g, o.
GATES = (("ii", "hi"), ("if_", "hf"), ("ig", "hg"), ("io", "ho"))


def _rnn(in_features: int, hidden: int, dtype) -> nnx.RNN:
    cell = nnx.LSTMCell(in_features, hidden, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0))
    return nnx.RNN(cell, return_carry=True)


def build_model(config, dtype) -> nnx.List:
    """One Flax module per torch layer: ``nnx.RNN`` or ``nnx.Bidirectional`` of two."""
    layers = []
    D, H = (2 if config.bidirectional else 1), config.hidden_size
    for k in range(config.num_layers):
        in_features = config.input_size if k == 0 else D * H
        if config.bidirectional:
            layers.append(nnx.Bidirectional(
                _rnn(in_features, H, dtype), _rnn(in_features, H, dtype), return_carry=True
            ))
        else:
            layers.append(_rnn(in_features, H, dtype))
    return nnx.List(layers)


def _cells(layer, bidirectional: bool) -> list:
    if bidirectional:
        return [layer.forward_rnn.cell, layer.backward_rnn.cell]
    return [layer.cell]


def load_weights(model: nnx.List, config, weights: dict) -> None:
    """Assign ``nn.LSTM``'s state_dict ``weights`` to the cells of ``model``."""
    H = config.hidden_size
    for k, layer in enumerate(model):
        for cell, s in zip(_cells(layer, config.bidirectional), ["", "_reverse"], strict=False):
            w_ih, w_hh = weights[f"weight_ih_l{k}{s}"], weights[f"weight_hh_l{k}{s}"]
            if config.bias:
                b = weights[f"bias_ih_l{k}{s}"] + weights[f"bias_hh_l{k}{s}"]
            else:
                b = np.zeros(4 * H, w_hh.dtype)
            for j, (input_side, hidden_side) in enumerate(GATES):
                rows = slice(j * H, (j + 1) * H)
                getattr(cell, input_side).kernel[...] = jnp.asarray(w_ih[rows].T)
                hidden = getattr(cell, hidden_side)
                hidden.kernel[...] = jnp.asarray(w_hh[rows].T)
                hidden.bias[...] = jnp.asarray(b[rows])


def _forward(model: nnx.List, bidirectional: bool, x, hx, lengths):
    """(output, h_n, c_n) of the stack, batch-major: x (N, L, In), hx rows layer*D + d."""
    D = 2 if bidirectional else 1
    h_n, c_n = [], []
    for k, layer in enumerate(model):
        carry = None
        if hx is not None:
            carries = [(hx[1][k * D + d], hx[0][k * D + d]) for d in range(D)]
            carry = tuple(carries) if bidirectional else carries[0]
        carry, x = layer(x, initial_carry=carry, seq_lengths=lengths)
        for c, h in (carry if bidirectional else (carry,)):
            h_n.append(h)
            c_n.append(c)
    if lengths is not None:
        valid = jnp.arange(x.shape[1])[None, :] < lengths[:, None]
        x = jnp.where(valid[:, :, None], x, jnp.zeros((), x.dtype))
    return x, jnp.stack(h_n), jnp.stack(c_n)


def _digest(weights: dict) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return digest.digest()


class _Model:
    """One configuration and dtype: the Flax stack, its jitted forward, its weights' digest."""

    def __init__(self, config, dtype) -> None:
        self.config = config
        self.module = build_model(config, dtype)
        self.weights_digest = None
        graphdef, _ = nnx.split(self.module)
        bidirectional = config.bidirectional

        @jax.jit
        def forward(state, x, hx, lengths):
            return _forward(nnx.merge(graphdef, state), bidirectional, x, hx, lengths)

        self._forward = forward

    def load(self, weights: dict) -> None:
        digest = _digest(weights)
        if digest != self.weights_digest:
            load_weights(self.module, self.config, weights)
            self.weights_digest = digest

    def __call__(self, x, hx, lengths):
        xb = jnp.asarray(np.ascontiguousarray(x.transpose(1, 0, 2)))
        hx = None if hx is None else tuple(jnp.asarray(s) for s in hx)
        lengths = None if lengths is None else jnp.asarray(lengths)
        out, h_n, c_n = self._forward(nnx.state(self.module), xb, hx, lengths)
        # np.array copies: arrays viewed from JAX's buffers are read-only, and torch warns
        # when the suite wraps a read-only array.
        return np.array(out).transpose(1, 0, 2), np.array(h_n), np.array(c_n)


class FlaxLSTMBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on a cached Flax model."""

    lstm_conformance_unsupported = frozenset({"proj_size", "dropout"})
    lstm_conformance_known_failures: dict = {}

    def __init__(self, max_models: int = 32) -> None:
        import flax
        import jax

        self.max_models = max_models
        self._models: OrderedDict = OrderedDict()
        self.lstm_conformance_framework = f"flax {flax.__version__} (jax {jax.__version__})"

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("Flax's LSTM cells have no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError("Flax's RNN modules have no dropout between layers")
        model = self._model(config, np.dtype(dtype))

        def run(x, hx, lengths):
            model.load(weights)  # a no-op unless another prepare loaded other weights
            return model(x, hx, lengths)

        return run

    def _model(self, config, dtype: np.dtype) -> _Model:
        key = (
            config.input_size, config.hidden_size, config.num_layers, config.bias,
            config.bidirectional, dtype.name,
        )
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = _Model(config, dtype)
            while len(self._models) > self.max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return model


#: The instance registered under the ``lstm_conformance.implementations`` entry point.
backend = FlaxLSTMBackend()

