"""Defects at the thresholds of common kernels, written from the bug classes the issue on
detection lists (a partial last tile of 128 hidden units losing ``bias_hh``, input features
past the last full tile of 128 ignored, the cell state reset at a time-chunk boundary of
256, a batch split at 64 that loses the initial state of the second part). Each shows only
at the largest sizes ``block-boundaries`` draws (hidden or input 129, 257 steps, a batch of
65), combined with a bias or an initial state: random draws reach those rarely, the
decisive cases of every run reach them always.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ReferenceLSTM
from .declare import AT_SCALE, on

TILE, CHUNK, SPLIT = 128, 256, 64


class HiddenTile128LosesRecurrentBias(ReferenceLSTM):
    """Hidden units past the last full tile of 128 get no ``bias_hh``.

    Bug: the epilogue that adds the recurrent bias runs over full tiles only; the partial
    last tile (hidden_size 129: one unit) keeps its GEMM result without the bias. Visible
    only with hidden_size > 128 and a bias. Caught by block-boundaries (hidden_size 129).
    """

    catches = {"block-boundaries": on(AT_SCALE, case={"hidden_size": 129, "bias": True})}
    hint = "block-boundary"

    def preactivation(self, x_t, h, w):
        z = F.linear(x_t, w["w_ih"], w["b_ih"]) + F.linear(h, w["w_hh"], w["b_hh"])
        H = self.config.hidden_size
        if w["b_hh"] is None or H <= TILE:
            return z
        unit = torch.arange(4 * H, device=z.device) % H
        return z - torch.where(unit >= H // TILE * TILE, w["b_hh"], torch.zeros_like(w["b_hh"]))


class InputPastTile128Ignored(ReferenceLSTM):
    """Input features past the last full tile of 128 are left out of W_ih x.

    Bug: the input GEMM's K loop has no remainder iteration. Visible only with
    input_size > 128 and not a multiple of 128. Caught by block-boundaries (input_size 129).
    """

    catches = {"block-boundaries": on(AT_SCALE, case={"input_size": 129})}
    hint = "block-boundary"

    def preactivation(self, x_t, h, w):
        n = x_t.shape[-1]
        if n == self.config.input_size and n > TILE and n % TILE:
            full = n // TILE * TILE
            x_t = torch.cat([x_t[..., :full], torch.zeros_like(x_t[..., full:])], dim=-1)
        return F.linear(x_t, w["w_ih"], w["b_ih"]) + F.linear(h, w["w_hh"], w["b_hh"])


class CellResetAt256Steps(ReferenceLSTM):
    """The cell state restarts at zero after every 256 steps.

    Bug: long sequences are run in chunks of 256 steps and the chunk loop hands on h but
    not c. Visible only past 256 steps. Caught by block-boundaries (seq_len 257).
    """

    catches = {"block-boundaries": on(AT_SCALE, case={"seq_len": 257})}
    hint = "block-boundary"

    def scan(self, x, h, c, w):
        outs, hs, cs = [], [h], [c]
        for start in range(0, x.shape[0], CHUNK):
            cell = cs[-1] if start == 0 else torch.zeros_like(cs[-1])
            o, hh, cc = super().scan(x[start:start + CHUNK], hs[-1], cell, w)
            outs += o
            hs += hh[1:]
            cs += cc[1:]
        return outs, hs, cs


class BatchPast64StartsFromZeros(ReferenceLSTM):
    """Sequences past the 64th of a batch start from zeros instead of their (h0, c0).

    Bug: a large batch is split at 64 and only the first part is given the caller's initial
    state. Visible only with a batch above 64 and an explicit (h0, c0). Caught by
    block-boundaries (batch 65, with an initial state).
    """

    catches = {"block-boundaries": on(AT_SCALE, case={"batch": 65, "initial_state": True})}
    hint = "block-boundary"

    def layer_state(self, h0, c0, layer: int, d: int):
        h, c = super().layer_state(h0, c0, layer, d)
        if h.shape[0] <= SPLIT:
            return h, c
        keep = (torch.arange(h.shape[0], device=h.device) < SPLIT).unsqueeze(-1)
        return h * keep, c * keep
