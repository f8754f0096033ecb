"""Defects that only show with PackedSequence input (variable lengths)."""

from __future__ import annotations

from torch.nn.utils.rnn import PackedSequence

from .base import ReferenceLSTM
from .declare import LAST_FORWARD, ORACLE, PACKED, PERMUTATION, Caught, on


class PackedStatesAtPaddedEnd(ReferenceLSTM):
    """h_n and c_n are taken after the padded end (step T), not each sequence's last step.

    Bug: real: microsoft/onnxruntime#1400 (GPU LSTM wrong with padded, varying
    sequence_lens). Caught by packed-per-sequence, last-step-forward and
    first-step-backward (on packed cases), matches-oracle and gradients.
    """

    catches = {
        "packed-per-sequence": on(PACKED, tensor="h_n"),
        "last-step-forward": on(LAST_FORWARD, case={"form": "packed"}),
        "matches-oracle": on(ORACLE, tensor="h_n", case={"form": "packed"}),
    }
    hint = "packed"

    def final_states(self, hs, cs, lengths):
        return hs[-1], cs[-1]


class PackedBackwardStartsInPadding(ReferenceLSTM):
    """The backward direction flips the whole padded sequence: it runs through the
    padding before it reaches a short sequence's last true step.

    Bug: the lengths are not passed to the backward pass (cf. pytorch/pytorch#3662).
    Caught by packed-per-sequence and gradients. matches-oracle catches it only when its
    25 examples happen to include a bidirectional packed case with unequal lengths
    (3 of 8 seeds tried).
    """

    catches = {
        "packed-per-sequence": PACKED,
    }
    hint = "packed"

    def direction(self, layer, suffix, x, h0, c0, lengths):
        if suffix != "_reverse":
            return super().direction(layer, suffix, x, h0, c0, lengths)
        out, h_n, c_n = super().direction(layer, suffix, x, h0, c0, None)
        return self.mask_padding(out, lengths), h_n, c_n


class PackedHxInSortedOrder(ReferenceLSTM):
    """With unsorted lengths, hx is applied in the sorted batch order, not the caller's.

    Bug: real: mlverse/torch#499 (R torch: hx permutation broken for packed input with
    ``enforce_sorted=False``). Caught by packed-per-sequence, batch-permutation (its
    packed cases) and gradients. matches-oracle catches it only when its 25 examples
    include an unsorted packed case with an explicit hx (4 of 8 seeds tried).
    """

    catches = {
        "packed-per-sequence": PACKED,
        "batch-permutation": on(PERMUTATION, case={"form": "packed"}),
    }
    hint = "packed"

    def canonical(self, input, hx):
        x, hx, lengths, restore = super().canonical(input, hx)
        if isinstance(input, PackedSequence) and hx is not None \
                and input.unsorted_indices is not None:
            hx = (hx[0][:, input.unsorted_indices], hx[1][:, input.unsorted_indices])
        return x, hx, lengths, restore


class PackedEqualLengthsBatchMajor(ReferenceLSTM):
    """When all sequences have the same length, the packed data is read as batch-major.

    Bug: a fast path for equal lengths does ``data.view(N, L, I)``, but a PackedSequence's
    ``data`` is time-major (all sequences' step 0, then step 1, ...). A batch of one is
    unaffected. Real: pytorch/pytorch#95118 (MPS LSTM with PackedSequence wrong for
    batch > 1, even with equal lengths). Caught by packed-uniform-is-dense, which draws
    equal lengths by design; packed-per-sequence and batch-permutation see it only in the
    runs whose drawn lengths happen to be all equal (3 of 8 run seeds at the default
    profile), so they are not declared.
    """

    catches = {
        "packed-uniform-is-dense": Caught(check="packed-uniform"),
    }
    hint = "packed"

    def canonical(self, input, hx):
        x, hx, lengths, restore = super().canonical(input, hx)
        if isinstance(input, PackedSequence) and len(set(lengths)) == 1:
            L, N = x.shape[0], x.shape[1]
            x = input.data.view(N, L, -1).transpose(0, 1)
            if input.unsorted_indices is not None:
                x = x[:, input.unsorted_indices]
        return x, hx, lengths, restore
