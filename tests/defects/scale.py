"""Defects past block sizes: kernels work in tiles and chunks, and their bugs sit at the
boundaries. Every invariant drawing tiny sizes (hidden <= 6, input <= 5, seq <= 8,
batch <= 5) misses them; block-boundaries, which pushes one dimension past a power of
two, catches each, and shrinking names the smallest size that fails.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ReferenceLSTM
from .declare import AT_SCALE, on

HIDDEN_TILE, INPUT_TILE, TIME_CHUNK, BATCH_CHUNK = 32, 16, 64, 32


class HiddenTileRemainderDropped(ReferenceLSTM):
    """The hidden units past the last full tile of 32 get no candidate (g = 0).

    Bug: a kernel tiled over hidden units whose loop bound drops the partial last tile.
    Visible only when hidden_size > 32 and not a multiple of 32. Caught by
    block-boundaries (from hidden_size 33); missed by every invariant at tiny sizes.
    """

    catches = {"block-boundaries": on(AT_SCALE, case={"hidden_size": 33})}
    hint = "block-boundary"

    def gates(self, z):
        i, f, g, o = super().gates(z)
        H = self.config.hidden_size
        full = H // HIDDEN_TILE * HIDDEN_TILE
        if H > HIDDEN_TILE and full < H:
            g = torch.cat([g[..., :full], torch.zeros_like(g[..., full:])], dim=-1)
        return i, f, g, o


class InputTileRemainderIgnored(ReferenceLSTM):
    """Input features past the last full tile of 16 are ignored.

    Bug: a GEMM over input features tiled by 16 without the remainder loop (the class of
    allenai/allennlp#356, visible only when input_size exceeds hidden_size). Caught by
    block-boundaries (from input_size 17); missed by every invariant at tiny sizes.
    """

    catches = {"block-boundaries": on(AT_SCALE, case={"input_size": 17})}
    hint = "block-boundary"

    def preactivation(self, x_t, h, w):
        n = x_t.shape[-1]
        full = n // INPUT_TILE * INPUT_TILE
        if n == self.config.input_size and n > INPUT_TILE and full < n:  # the model's input
            x_t = torch.cat([x_t[..., :full], torch.zeros_like(x_t[..., full:])], dim=-1)
        return F.linear(x_t, w["w_ih"], w["b_ih"]) + F.linear(h, w["w_hh"], w["b_hh"])


class CellResetAtTimeChunk(ReferenceLSTM):
    """Time is processed in chunks of 64 steps, and the cell state is not carried across.

    Bug: a persistent kernel that splits long sequences into chunks and restarts c at zero
    in each (cuDNN's LSTM fails past 65,535 steps, pytorch#133751). Caught by
    block-boundaries (from seq_len 65); missed by every invariant at tiny sizes.
    """

    catches = {"block-boundaries": on(AT_SCALE, case={"seq_len": 65})}
    hint = "block-boundary"

    def scan(self, x, h, c, w):
        if x.shape[0] <= TIME_CHUNK:
            return super().scan(x, h, c, w)
        outs, hs, cs = [], [h], [c]
        for start in range(0, x.shape[0], TIME_CHUNK):
            cell = cs[-1] if start == 0 else torch.zeros_like(cs[-1])
            o, hh, cc = super().scan(x[start:start + TIME_CHUNK], hs[-1], cell, w)
            outs += o
            hs += hh[1:]
            cs += cc[1:]
        return outs, hs, cs


class BatchChunkReadsFirstChunkState(ReferenceLSTM):
    """The batch is split in chunks of 32, and every chunk reads (h0, c0) from row 0 on.

    Bug: an offset missing when a kernel splits a large batch: the second chunk starts from
    the first chunk's initial state. Visible only with batch > 32 and an explicit (h0, c0).
    Caught by block-boundaries (from batch 33, with an initial state); missed by every
    invariant at tiny sizes.
    """

    catches = {"block-boundaries": on(AT_SCALE, case={"batch": 33, "initial_state": True})}
    hint = "block-boundary"

    def layer_state(self, h0, c0, layer: int, d: int):
        h, c = super().layer_state(h0, c0, layer, d)
        N = h.shape[0]
        if N <= BATCH_CHUNK:
            return h, c
        starts = torch.arange(N, device=h.device) % BATCH_CHUNK
        return h[starts], c[starts]
