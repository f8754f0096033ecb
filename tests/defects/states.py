"""Defects of the state: h0/c0 in, h_n/c_n out, and what is carried between elements."""

from __future__ import annotations

import torch

from .base import ReferenceLSTM
from .declare import (
    BATCH_INDEPENDENCE,
    CELL_STATE,
    CONTINUATION,
    LAST_FORWARD,
    ORACLE,
    PERMUTATION,
    SHAPE,
    STACKED,
    Caught,
    on,
)


class DirectionMajorStates(ReferenceLSTM):
    """h_n and c_n rows ordered direction-major (d*num_layers + k), not layer-major.

    Bug: stacking all forward rows, then all backward rows. Only visible with two
    directions and several layers. Caught by last-step-forward, stacked-layers,
    matches-oracle; also by dropout-train-structure, zero-weights, gate-probe, bounds
    and gradients, which all read h_n row by row.
    """

    catches = {
        "last-step-forward": LAST_FORWARD,
        "stacked-layers": STACKED,
        "matches-oracle": on(ORACLE, tensor="h_n"),
    }
    hint = "stacked-layers"

    def assemble_states(self, h_rows, c_rows):
        c = self.config
        D, nl = c.num_directions, c.num_layers
        order = [k * D + d for d in range(D) for k in range(nl)]
        return super().assemble_states([h_rows[i] for i in order], [c_rows[i] for i in order])


class LayersShareInitialState(ReferenceLSTM):
    """Every layer starts from layer 0's rows of (h0, c0).

    Bug: ``h0[d]`` instead of ``h0[layer*D + d]``. Only visible with an explicit hx and
    several layers. Caught by stacked-layers, state-continuation, bounds (|c_n| above
    the upper layer's own |c0| + T), matches-oracle; also zero-weights, gate-probe and
    gradients.
    """

    catches = {
        "stacked-layers": STACKED,
        "state-continuation": CONTINUATION,
    }
    hint = "stacked-layers"

    def layer_state(self, h0, c0, layer, d):
        return h0[d], c0[d]


class InitialStateReshape(ReferenceLSTM):
    """(h0, c0) reshaped as if they were (rows, features, batch): batch and features mix.

    Bug: ``hx.transpose(1, 2).reshape(hx.shape)``, a layout conversion from a
    feature-major buffer applied to torch's (rows, batch, features) state. Caught by
    batch-independence, batch-permutation, state-continuation, matches-oracle; also
    packed-per-sequence, zero-weights, gate-probe, bounds and gradients.
    """

    catches = {
        "batch-independence": BATCH_INDEPENDENCE,
        "batch-permutation": PERMUTATION,
        "state-continuation": CONTINUATION,
    }
    hint = "batch-mixing"

    def initial_state(self, x, hx):
        if hx is None:
            return super().initial_state(x, hx)
        return tuple(s.transpose(1, 2).reshape(s.shape) for s in hx)


class StaleCellState(ReferenceLSTM):
    """c_n is the cell state one step before the end.

    Bug: an off-by-one in which step's c is kept (the c_n-wrong class of
    salesforce/decaNLP#9). h_n is right. Caught by cell-state-consistency,
    state-continuation, matches-oracle; also zero-weights, gate-probe and gradients.
    Not by packed-per-sequence: a sequence run alone has the same stale c_n.
    """

    catches = {
        "cell-state-consistency": CELL_STATE,
        "state-continuation": CONTINUATION,
        "matches-oracle": on(ORACLE, tensor="c_n"),
    }
    hint = "state-carry"

    def final_states(self, hs, cs, lengths):
        h_n, _ = super().final_states(hs, cs, lengths)
        _, c_n = super().final_states(hs, [cs[0], *cs[:-1]], lengths)
        return h_n, c_n


class CellStateIsHidden(ReferenceLSTM):
    """Returns (h_n, h_n): c_n is a copy of h_n.

    Bug: real: salesforce/decaNLP#9, PackedLSTM returned (h, h). Caught by
    cell-state-consistency and state-continuation; with a projection the shapes differ,
    so output-shapes (and the harness's shape check in every other invariant) too.
    """

    catches = {
        "cell-state-consistency": CELL_STATE,
        "state-continuation": CONTINUATION,
        "output-shapes": on(SHAPE, tensor="c_n"),
    }
    hint = "output-shapes"  # with projections its c_n has h's shape: that shows first

    def assemble_states(self, h_rows, c_rows):
        h_n, _ = super().assemble_states(h_rows, c_rows)
        return h_n, h_n


class HxNoneIsPointOne(ReferenceLSTM):
    """hx=None starts from 0.1 everywhere instead of zeros.

    Bug: a "small non-zero" default state (the class of ml-explore/mlx#3249: GRU with
    hidden=None is not zeros). Caught by hx-none-is-zeros and matches-oracle (its
    hx=None cases); also by the closed forms that assume zeros for hx=None
    (cell-state-consistency, zero-weights, gate-probe, bounds).
    """

    catches = {
        "hx-none-is-zeros": Caught(check="hx-none-is-zeros"),
        "matches-oracle": on(ORACLE, case={"initial_state": False}),
    }
    hint = "hx-default"

    def initial_state(self, x, hx):
        if hx is not None:
            return super().initial_state(x, hx)
        h0, c0 = super().initial_state(x, hx)
        return h0.fill_(0.1), c0.fill_(0.1)


class StateLeaksBetweenCalls(ReferenceLSTM):
    """Remembers the last call's (h_n, c_n) and starts from it when hx=None.

    Bug: a "stateful" module (Keras ``stateful=True`` behaviour) where torch's hx=None
    means zeros on every call. A fresh module's first call is right, so matches-oracle
    cannot see it. Caught by determinism (two identical calls differ) and
    hx-none-is-zeros; also by every invariant that calls one module twice without hx
    (batch-independence, causality, unbatched-is-batch-of-one, packed-*).
    """

    catches = {
        "determinism": Caught(check="determinism-repeat", case={"initial_state": False}),
        "hx-none-is-zeros": Caught(check="hx-none-is-zeros"),
    }
    hint = "determinism"

    _last: tuple[torch.Tensor, torch.Tensor] | None = None

    def initial_state(self, x, hx):
        if hx is None and self._last is not None and self._last[0].shape[1] == x.shape[1]:
            return self._last
        return super().initial_state(x, hx)

    def assemble_states(self, h_rows, c_rows):
        h_n, c_n = super().assemble_states(h_rows, c_rows)
        self._last = (h_n.detach(), c_n.detach())
        return h_n, c_n


class BatchMeanForgetGate(ReferenceLSTM):
    """The forget gate is averaged over the batch: batch elements leak into each other.

    Bug: a reduction over dim 0 (the batch) where a per-element gate was meant, as if
    the gate were a per-unit parameter. A batch of one is unaffected, and the mean is
    permutation-invariant, so batch-permutation cannot see it. Caught by
    batch-independence, matches-oracle; also packed-per-sequence and gradients.
    """

    catches = {
        "batch-independence": BATCH_INDEPENDENCE,
        "matches-oracle": ORACLE,
    }
    hint = "batch-mixing"

    def gates(self, z):
        i, f, g, o = super().gates(z)
        return i, f.mean(dim=0, keepdim=True).expand_as(f), g, o
