"""Three realistic bugs, each a small subclass of the correct ``IndependentLSTM``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from independent_lstm import IndependentLSTM


class GatesIFOG(IndependentLSTM):
    """Reads the gate blocks in ONNX order (i, o, f, c) as if they were torch's (i, f, g, o)."""

    def _gates(self, z):
        i, o, f, g = z.chunk(4, dim=1)
        return i, f, g, o


class PackedPaddedEnd(IndependentLSTM):
    """Runs a PackedSequence padded, ignoring the lengths: h_n and c_n come from the padded
    end, and the backward direction starts in the padding. Dense input is unaffected."""

    def _forward_packed(self, input: PackedSequence, hx):
        padded, _ = pad_packed_sequence(input)  # (L, N, I), the caller's batch order
        steps, n = padded.shape[0], padded.shape[1]
        h0, c0 = hx if hx is not None else self._zeros(n, padded)
        out, h_n, c_n = self._run(padded.reshape(steps * n, -1), [n] * steps, h0, c0)
        out = out.reshape(steps, n, -1)
        if input.sorted_indices is not None:
            out = out.index_select(1, input.sorted_indices)
        data = torch.cat([out[t, :size] for t, size in enumerate(input.batch_sizes.tolist())])
        packed = PackedSequence(data, input.batch_sizes, input.sorted_indices,
                                input.unsorted_indices)
        return packed, (h_n, c_n)


class DropoutInEval(IndependentLSTM):
    """Applies dropout between layers whether training or not."""

    def _between_layers(self, x):
        return F.dropout(x, self.dropout, training=True) if self.dropout > 0 else x
