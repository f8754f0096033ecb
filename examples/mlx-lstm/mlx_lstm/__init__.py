"""MLX's ``mlx.nn.LSTM`` on the CPU, as an lstm-conformance backend.

``mlx.nn.LSTM(input_size, hidden_size, bias)`` is one unidirectional layer, batch-major
(N, L, In), returning the hidden and cell states of every step. It holds ``Wx`` (4H, In),
``Wh`` (4H, H) and one ``bias`` (4H,), and splits the gates as i, f, g, o with torch's
activations, so per layer k and direction suffix s: ``Wx = weight_ih_l{k}{s}``,
``Wh = weight_hh_l{k}{s}``, ``bias = bias_ih_l{k}{s} + bias_hh_l{k}{s}`` (torch's two biases
are only ever added; ``bias=False`` is ``bias=False``). States: ``hidden=h0``,
``cell=c0`` (rows ``k*D + d``); h_n and c_n are the last step's.

MLX has no stacked or bidirectional LSTM: as an MLX user writes them, layer k reads
layer k-1's output, and the backward direction is the layer run on the time-reversed
input with its outputs reversed back. That is this adapter's code, kept to those two
lines.

Declared gaps (``lstm_conformance_unsupported``), for which ``prepare`` raises
``NotImplementedError``: ``packed`` (MLX's LSTM has no sequence lengths), ``proj_size``,
``dropout``, ``float16`` and ``bfloat16`` (not checked here).
"""

from __future__ import annotations

from importlib.metadata import version

import mlx.core as mx
import mlx.nn as nn
import numpy as np

__all__ = ["MlxLSTMBackend", "backend", "build_layers"]

mx.set_default_device(mx.cpu)
_DTYPES = {np.dtype(np.float32): mx.float32, np.dtype(np.float64): mx.float64}


def build_layers(config, weights: dict, dtype) -> list:
    """``[[lstm_fwd(, lstm_bwd)] per layer]``: MLX layers holding torch's weights."""
    D, H = config.num_directions, config.hidden_size
    as_mx = lambda a: mx.array(np.ascontiguousarray(a), dtype=_DTYPES[dtype])  # noqa: E731
    layers = []
    for k in range(config.num_layers):
        in_features = config.input_size if k == 0 else D * H
        directions = []
        for s in ["", "_reverse"][:D]:
            lstm = nn.LSTM(in_features, H, bias=config.bias)
            lstm.Wx = as_mx(weights[f"weight_ih_l{k}{s}"])
            lstm.Wh = as_mx(weights[f"weight_hh_l{k}{s}"])
            if config.bias:
                lstm.bias = as_mx(weights[f"bias_ih_l{k}{s}"] + weights[f"bias_hh_l{k}{s}"])
            directions.append(lstm)
        layers.append(directions)
    return layers


def forward(layers, x, hx):
    """(output, h_n, c_n), seq-first in and out; MLX's layers run batch-major."""
    out = mx.transpose(x, (1, 0, 2))
    h_n, c_n = [], []
    row = 0
    for directions in layers:
        outputs = []
        for d, lstm in enumerate(directions):
            h0 = c0 = None
            if hx is not None:
                h0, c0 = hx[0][row], hx[1][row]
            inputs = out[:, ::-1, :] if d == 1 else out
            hidden, cell = lstm(inputs, hidden=h0, cell=c0)
            h_n.append(hidden[:, -1, :])
            c_n.append(cell[:, -1, :])
            outputs.append(hidden[:, ::-1, :] if d == 1 else hidden)
            row += 1
        out = mx.concatenate(outputs, axis=-1)
    return mx.transpose(out, (1, 0, 2)), mx.stack(h_n), mx.stack(c_n)


FLOAT64_EXP = (
    "float64 is float32-accurate: on the CPU mx.exp and mx.sigmoid of float64 use float32 "
    "approximations (relative error 9e-8, 4e-8), and the gates go through sigmoid; "
    "https://github.com/ml-explore/mlx/issues/3047 (reproduction: "
    "examples/mlx-lstm/tests/test_findings.py)"
)


class MlxLSTMBackend:
    """The lstm-conformance backend: ``prepare`` returns a ``run`` on MLX layers."""

    lstm_conformance_unsupported = frozenset({"packed", "proj_size", "dropout", "float16",
                                              "bfloat16"})
    lstm_conformance_framework = f"mlx {version('mlx')} (CPU)"
    #: The checks the default run failed, each only in float64.
    lstm_conformance_known_failures = dict.fromkeys(
        ("matches-oracle", "cell-state-consistency", "gate-probe", "block-boundaries",
         "lifecycle"), FLOAT64_EXP)

    def prepare(self, config, weights: dict, dtype, training: bool):
        if config.proj_size > 0:
            raise NotImplementedError("MLX's LSTM has no projection (proj_size)")
        if training and config.dropout > 0 and config.num_layers > 1:
            raise NotImplementedError("MLX has no dropout between LSTM layers")
        dtype = np.dtype(dtype)
        if dtype not in _DTYPES:
            raise NotImplementedError(f"float32 and float64 only, not {dtype}")
        layers = build_layers(config, weights, dtype)

        def run(x, hx, lengths):
            if lengths is not None:
                raise NotImplementedError("MLX's LSTM has no sequence lengths (packed input)")
            as_mx = lambda a: mx.array(np.ascontiguousarray(a), dtype=_DTYPES[dtype])  # noqa: E731
            states = None if hx is None else (as_mx(hx[0]), as_mx(hx[1]))
            output, h_n, c_n = forward(layers, as_mx(x), states)
            return np.array(output), np.array(h_n), np.array(c_n)

        return run


#: The instance registered under the ``lstm_conformance.implementations`` entry point.
backend = MlxLSTMBackend()
