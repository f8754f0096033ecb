"""Defects of the call surface: layouts, input forms, edge sizes, input checks, hygiene."""

from __future__ import annotations

import torch

from lstm_conformance.spec.layout import canonical

from .base import ReferenceLSTM
from .declare import ORACLE, SHAPE, Caught, on


class StatesBatchFirst(ReferenceLSTM):
    """With batch_first=True, h_n and c_n come back batch-first too.

    Bug: real: pytorch/pytorch#19675, #34036, #144116 (batch_first does not apply to
    h_n; a frequent porting bug). Caught by output-shapes and batch-first; the harness's
    shape check fails it in every invariant that draws a batch_first case.
    """

    catches = {
        "output-shapes": on(SHAPE, tensor="h_n", input="batched, batch_first"),
        "batch-first": on(SHAPE, tensor="h_n", case={"batch_first": True}),
    }
    hint = "batch-first"

    def canonical(self, input, hx):
        x, hx, lengths, restore = super().canonical(input, hx)
        if not (self.config.batch_first and isinstance(input, torch.Tensor) and input.dim() == 3):
            return x, hx, lengths, restore

        def restore_states_batch_first(out, h_n, c_n):
            return restore(out, h_n.transpose(0, 1), c_n.transpose(0, 1))

        return x, hx, lengths, restore_states_batch_first


class UnbatchedAsBatch(ReferenceLSTM):
    """Unbatched (L, I) input is run as a batch of L sequences of length 1.

    Bug: the 2-D input read as (batch, features); results are squeezed back into the
    right shapes, so nothing looks wrong (h_n is taken from the last "sequence"). Caught
    by unbatched-is-batch-of-one and matches-oracle (its unbatched cases); also by the
    invariants that draw unbatched cases longer than one step (first-step-backward,
    cell-state-consistency, state-continuation, zero-weights, gate-probe, gradients).
    """

    catches = {
        "unbatched-is-batch-of-one": Caught(check="unbatched"),
        "matches-oracle": on(ORACLE, case={"form": "unbatched"}),
    }
    hint = "unbatched"

    def canonical(self, input, hx):
        x, hx, lengths, restore = super().canonical(input, hx)
        if not (isinstance(input, torch.Tensor) and input.dim() == 2):
            return x, hx, lengths, restore

        def restore_unbatched(out, h_n, c_n):
            return out[0], (h_n[:, -1], c_n[:, -1])

        return input.unsqueeze(0), hx, lengths, restore_unbatched


class SingleStepSqueeze(ReferenceLSTM):
    """The output is ``squeeze(0)``-ed: with seq_len 1 it loses its time dimension.

    Bug: a squeeze meant for a stacked singleton dimension; harmless for every
    sequence longer than 1. Caught by output-shapes (and every check on a T = 1 case).
    """

    catches = {
        "output-shapes": on(SHAPE, tensor="output", case={"seq_len": 1}),
    }
    hint = "output-shapes"

    def layers(self, x, h0, c0, lengths):
        output, h_n, c_n = super().layers(x, h0, c0, lengths)
        return output.squeeze(0), h_n, c_n


class FlattensExtraDims(ReferenceLSTM):
    """Accepts 4-D (and higher) input silently by folding the extra dims into the batch.

    Bug: ``input.flatten(1, -2)`` "to support extra batch dimensions": nn.LSTM raises
    ``ValueError: LSTM: Expected input to be 2D or 3D, got 4D instead``. Caught by
    bad-input-raises only.
    """

    catches = {
        "bad-input-raises": Caught(check="bad-input-accepted", quantity="4-D input"),
    }
    hint = "input-validation"

    def canonical(self, input, hx):
        if isinstance(input, torch.Tensor) and input.dim() > 3:
            input = input.flatten(1, -2)
        return super().canonical(input, hx)


class WritesBackState(ReferenceLSTM):
    """Writes the final (h_n, c_n) into the caller's (h0, c0) tensors, in place.

    Bug: a stateful convenience that clobbers the caller's tensors; the returned values
    are right. Caught by no-mutation and determinism (a second identical call starts
    from the clobbered state); also by most invariants that reuse the case's (h0, c0)
    for a second run or for the oracle. gradients reports an error (autograd's in-place
    modification check).
    """

    catches = {
        "no-mutation": Caught(check="mutation"),
        "determinism": Caught(check="determinism-repeat"),
    }
    hint = "mutation"

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        if hx is not None:
            with torch.no_grad():
                hx[0].copy_(h_n)
                hx[1].copy_(c_n)
        return output, (h_n, c_n)


class BatchFirstIgnored(ReferenceLSTM):
    """batch_first=True is ignored: (N, L, I) input is run as if it were (L, N, I).

    Bug: real: pytorch/pytorch#80306 (MPS LSTM output with batch and seq transposed). The
    output happens to have the expected (N, L, .) shape; h_n and c_n have N' = L. Caught
    by output-shapes (which makes N differ from T) and batch-first; the harness's shape
    check fails it in every invariant that draws a batch_first case with N != T.
    """

    catches = {
        "output-shapes": on(SHAPE, input="batched, batch_first"),
        "batch-first": on(SHAPE, tensor="h_n", case={"batch_first": True}),
    }
    hint = "batch-first"

    def canonical(self, input, hx):
        if not (self.config.batch_first and isinstance(input, torch.Tensor)
                and input.dim() == 3):
            return super().canonical(input, hx)
        seq_first = self.config.replace(batch_first=False)
        dtype = self.weight_ih_l0.dtype
        return canonical(seq_first, input, hx, dtype)


class HxReadBatchFirst(ReferenceLSTM):
    """With batch_first=True, (h0, c0) are read as if they were batch-first buffers.

    Bug: ``h0.reshape(N, D*nl, H).transpose(0, 1)``: the author assumed batch_first applies
    to the state too (the mirror image of pytorch/pytorch#19675). The shapes fit, the
    values are shuffled between batch elements and layers. Caught by batch-first and
    matches-oracle (batch-first cases with an explicit state); also stacked-layers,
    time-reversal, batch-independence, batch-permutation, state-continuation,
    packed-per-sequence, zero-weights, gate-probe and gradients on such cases.
    """

    catches = {
        "batch-first": Caught(check="batch-first", case={"initial_state": True}),
    }
    hint = "batch-first"

    def initial_state(self, x, hx):
        if hx is None or not self.config.batch_first:
            return super().initial_state(x, hx)
        rows, N = hx[0].shape[0], hx[0].shape[1]
        return tuple(s.reshape(N, rows, s.shape[-1]).transpose(0, 1) for s in hx)
