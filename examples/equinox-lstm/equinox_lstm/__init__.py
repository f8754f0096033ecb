"""Equinox's ``eqx.nn.LSTMCell`` scanned over time, as an lstm-conformance backend.

Equinox offers an LSTM *cell* only; its documentation scans it over a sequence with
``jax.lax.scan``, and so does this backend: per layer and direction one ``LSTMCell``,
``jax.vmap`` over the batch, ``jax.lax.scan`` over time (``reverse=True`` for the backward
direction), layer k reading layer k-1's output. The mapping, per layer k and direction
suffix s ("" forward, "_reverse" backward):

* ``LSTMCell`` computes ``weight_ih @ x + weight_hh @ h + bias`` and splits it into the
  gates i, f, g, o with torch's activations, so ``weight_ih`` and ``weight_hh`` are
  torch's ``weight_ih_l{k}{s}`` and ``weight_hh_l{k}{s}`` as they are.
* Bias: one, ``bias_ih_l{k}{s} + bias_hh_l{k}{s}`` (torch's two are only ever added);
  ``bias=False`` is ``use_bias=False``.
* States: the cell's state is ``(h, c)``, torch's order; rows ``k*D + d`` of (h0, c0).
* float64: importing this module enables JAX's 64-bit mode (``jax_enable_x64``), without
  which a float64 model would silently compute in float32; cells are built in the
  case's dtype.

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``: ``packed`` (Equinox has no notion of sequence lengths; masking
would be this adapter's code, not Equinox's), ``proj_size`` (no projection), ``dropout``
(none between layers), ``float16`` and ``bfloat16`` (the cell would compute in them, with
nothing in Equinox promising float32 accumulation).

Cost: the forward pass is ``jax.jit``-compiled once per (configuration, dtype, input
shape, with or without hx), with the cells as an argument, so new weights never trigger a
new trace.
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["EquinoxLSTMBackend", "backend", "build_cells"]


def build_cells(config, weights: dict, dtype) -> list:
    """``[[cell_fwd(, cell_bwd)] per layer]``: Equinox cells holding torch's weights."""
    D, H = config.num_directions, config.hidden_size
    layers = []
    for k in range(config.num_layers):
        in_features = config.input_size if k == 0 else D * H
        cells = []
        for s in ["", "_reverse"][:D]:
            cell = eqx.nn.LSTMCell(in_features, H, use_bias=config.bias,
                                   dtype=dtype, key=jax.random.PRNGKey(0))
            cell = eqx.tree_at(lambda c: c.weight_ih, cell,
                               jnp.asarray(weights[f"weight_ih_l{k}{s}"], dtype))
            cell = eqx.tree_at(lambda c: c.weight_hh, cell,
                               jnp.asarray(weights[f"weight_hh_l{k}{s}"], dtype))
            if config.bias:
                bias = weights[f"bias_ih_l{k}{s}"] + weights[f"bias_hh_l{k}{s}"]
                cell = eqx.tree_at(lambda c: c.bias, cell, jnp.asarray(bias, dtype))
            cells.append(cell)
        layers.append(cells)
    return layers


def _direction(cell, x, h0, c0, reverse: bool):
    """One direction of one layer over x (L, N, In): its outputs (L, N, H) and (h, c)."""
    step_batch = jax.vmap(cell)

    def step(state, x_t):
        h, c = step_batch(x_t, state)
        return (h, c), h

    (h, c), ys = jax.lax.scan(step, (h0, c0), x, reverse=reverse)
    return ys, h, c


@jax.jit
def _forward(layers, x, h0, c0):
    """(output, h_n, c_n) of the stack; h0, c0 (D*num_layers, N, H)."""
    h_n, c_n = [], []
    row = 0
    for cells in layers:
        outputs = []
        for d, cell in enumerate(cells):
            ys, h, c = _direction(cell, x, h0[row], c0[row], reverse=d == 1)
            outputs.append(ys)
            h_n.append(h)
            c_n.append(c)
            row += 1
        x = jnp.concatenate(outputs, axis=-1)
    return x, jnp.stack(h_n), jnp.stack(c_n)


class EquinoxLSTMBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on Equinox cells."""

    lstm_conformance_unsupported = frozenset({"packed", "proj_size", "dropout", "float16",
                                              "bfloat16"})
    lstm_conformance_framework = f"equinox {eqx.__version__} (jax {jax.__version__})"
    lstm_conformance_known_failures: dict = {}

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("Equinox's LSTMCell has no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError("Equinox has no dropout between LSTM layers")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise NotImplementedError(f"float32 and float64 only, not {dtype}")
        layers = build_cells(config, weights, dtype)
        rows, H = config.num_directions * config.num_layers, config.hidden_size

        def run(x, hx, lengths):
            if lengths is not None:
                raise NotImplementedError("Equinox has no sequence lengths (packed input)")
            if hx is None:
                h0 = c0 = np.zeros((rows, x.shape[1], H), dtype)
            else:
                h0, c0 = hx
            output, h_n, c_n = _forward(layers, jnp.asarray(np.ascontiguousarray(x)),
                                        jnp.asarray(np.ascontiguousarray(h0)),
                                        jnp.asarray(np.ascontiguousarray(c0)))
            return np.array(output), np.array(h_n), np.array(c_n)

        return run


#: The instance registered under the ``lstm_conformance.implementations`` entry point.
backend = EquinoxLSTMBackend()
