"""nn.LSTM's input checks and layout conversions, shared by every module-shaped LSTM here.

``canonical(config, input, hx, dtype)`` validates a call the way ``nn.LSTM`` does and
returns the input seq-first ``(L, N, I)``, the state ``(D*nl, N, ...)`` or None, the true
lengths (packed input) or None, and ``restore``, which turns seq-first results back into
what ``nn.LSTM`` would return for that call (batch-first, unbatched 2-D, or a
``PackedSequence`` sharing the input's ``batch_sizes`` and ``sorted_indices``).
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from lstm_conformance.spec.config import LSTMConfig


def validate_input(config: LSTMConfig, x: torch.Tensor, hx, dtype: torch.dtype) -> bool:
    """nn.LSTM's checks on a dense input, with its exception types and texts.

    Returns whether the input is batched (3-D).
    """
    if x.dim() not in (2, 3):
        raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {x.dim()}D instead")
    if x.dtype != dtype:
        raise ValueError(
            f"RNN input dtype ({x.dtype}) does not match weight dtype ({dtype}). "
            f"Convert input: input.to({dtype}), or convert model: model.to({x.dtype})"
        )
    if x.size(-1) != config.input_size:
        raise RuntimeError(
            f"input.size(-1) must be equal to input_size. Expected {config.input_size}, "
            f"got {x.size(-1)}"
        )
    batched = x.dim() == 3
    seq_len = x.size(1 if batched and config.batch_first else 0)
    if seq_len == 0:
        raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
    if hx is not None:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise RuntimeError("lstm expects two hidden states")
        want = 3 if batched else 2
        if hx[0].dim() != want or hx[1].dim() != want:
            kind = "batched 3-D" if batched else "unbatched 2-D"
            raise RuntimeError(
                f"For {kind} input, hx and cx should also be {want}-D but got "
                f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors"
            )
        batch = (x.size(0 if config.batch_first else 1),) if batched else ()
        sizes = (config.h_out, config.hidden_size)
        for k, (state, size) in enumerate(zip(hx, sizes, strict=True)):
            expected = (config.state_rows, *batch, size)
            if tuple(state.shape) != expected:
                raise RuntimeError(f"Expected hidden[{k}] size {expected}, got {list(state.shape)}")
    return batched


def repack_like(padded: torch.Tensor, like: PackedSequence) -> PackedSequence:
    """Pack a seq-first padded tensor (caller's batch order) exactly as ``like`` is packed."""
    if like.sorted_indices is not None:
        padded = padded[:, like.sorted_indices]
    rows = [padded[t, : int(n)] for t, n in enumerate(like.batch_sizes)]
    return PackedSequence(
        torch.cat(rows), like.batch_sizes, like.sorted_indices, like.unsorted_indices
    )


def canonical(config: LSTMConfig, input, hx, dtype: torch.dtype) -> tuple:
    """(x (L, N, I), hx or None, lengths or None, restore(output, h_n, c_n))."""
    if isinstance(input, PackedSequence):
        x, lengths = pad_packed_sequence(input)

        def restore_packed(out, h_n, c_n):
            return repack_like(out, input), (h_n, c_n)

        return x, hx, lengths.tolist(), restore_packed
    batched = validate_input(config, input, hx, dtype)
    if not batched:
        state = None if hx is None else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))

        def restore_unbatched(out, h_n, c_n):
            return out.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))

        return input.unsqueeze(1), state, None, restore_unbatched
    if config.batch_first:

        def restore_batch_first(out, h_n, c_n):
            return out.transpose(0, 1), (h_n, c_n)

        return input.transpose(0, 1), hx, None, restore_batch_first
    return input, hx, None, lambda out, h_n, c_n: (out, (h_n, c_n))
