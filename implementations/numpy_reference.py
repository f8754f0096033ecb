"""``numpy-reference``: the spec's float64 oracle, run as an implementation.

The oracle is checked like any other implementation: if it disagrees with an invariant,
the spec itself is wrong. It is a protocol backend (``spec.protocol``) adapted into a
drop-in module, so it also exercises the adapter that non-torch plugins use. It computes
in float64 and rounds its results to the caller's dtype. It has no autograd.
"""

from __future__ import annotations

import numpy as np
import torch

from lstm_conformance.spec.oracle import lstm_forward
from lstm_conformance.spec.protocol import backend_module


class OracleBackend:
    """``prepare``/``run`` around ``spec.oracle.lstm_forward``."""

    def prepare(self, config, weights, dtype, training):
        def dropout_mask(layer, layer_output):
            # A fresh Bernoulli(1 - p) mask per call, drawn from torch's RNG, scaled by 1/(1-p).
            p = config.dropout
            if p >= 1.0:
                return np.zeros_like(layer_output)
            keep = torch.rand(layer_output.shape, dtype=torch.float64).numpy() >= p
            return keep / (1.0 - p)

        use_mask = training and config.dropout > 0

        def run(x, hx, lengths):
            out, h_n, c_n = lstm_forward(
                config, weights, x, hx, lengths, dropout_mask if use_mask else None
            )
            return out.astype(dtype), h_n.astype(dtype), c_n.astype(dtype)

        return run


NumpyReferenceLSTM = backend_module(OracleBackend(), name="NumpyReferenceLSTM")
