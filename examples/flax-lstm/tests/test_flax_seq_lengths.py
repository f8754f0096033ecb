"""What Flax itself does with ``seq_lengths``, checked with plain Flax (no adapter, no suite).

The adapter passes PackedSequence lengths to ``nnx.Bidirectional`` / ``nnx.RNN`` as
``seq_lengths``. Asserted here on raw Flax modules loaded from an ``nn.LSTM``:

* the carries are each sequence's true last step's, and the reverse direction starts at
  each sequence's true end: the outputs at t < length agree with nn.LSTM's packed run;
* Flax does not zero the outputs at padded steps (t >= length). torch's packed output has
  no such steps, so this is not a difference from nn.LSTM; it is why the adapter zeroes
  them (the protocol's layout). If this test starts failing, Flax zeroes them itself.
"""

import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import flax_lstm  # noqa: F401  (enables float64; the test itself is float32)

GATES = (("ii", "hi"), ("if_", "hf"), ("ig", "hg"), ("io", "ho"))


def _load(cell, sd, suffix, H):
    bias = sd[f"bias_ih_l0{suffix}"] + sd[f"bias_hh_l0{suffix}"]
    for j, (input_side, hidden_side) in enumerate(GATES):
        rows = slice(j * H, (j + 1) * H)
        getattr(cell, input_side).kernel[...] = jnp.asarray(sd[f"weight_ih_l0{suffix}"][rows].T)
        getattr(cell, hidden_side).kernel[...] = jnp.asarray(sd[f"weight_hh_l0{suffix}"][rows].T)
        getattr(cell, hidden_side).bias[...] = jnp.asarray(bias[rows])


def test_seq_lengths_give_torch_packed_semantics_but_padded_outputs_are_not_zero():
    torch.manual_seed(0)
    H, lengths = 3, [5, 2, 1, 4]
    ref = nn.LSTM(2, H, bidirectional=True)
    sd = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    rnns = [nnx.RNN(nnx.LSTMCell(2, H, rngs=nnx.Rngs(0))) for _ in range(2)]
    for rnn, suffix in zip(rnns, ["", "_reverse"], strict=True):
        _load(rnn.cell, sd, suffix, H)
    layer = nnx.Bidirectional(*rnns, return_carry=True)

    x = torch.randn(5, 4, 2)
    with torch.no_grad():
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out, (h_n, c_n) = ref(packed)
        out, _ = pad_packed_sequence(out, total_length=5)
    carries, y = layer(jnp.asarray(x.numpy().transpose(1, 0, 2)),
                       seq_lengths=jnp.asarray(lengths))
    y = np.asarray(y).transpose(1, 0, 2)
    valid = np.arange(5)[:, None] < np.array(lengths)[None, :]

    tol = dict(rtol=1.3e-6, atol=1e-5)
    np.testing.assert_allclose(y[valid], out.numpy()[valid], **tol)
    (c_fwd, h_fwd), (c_bwd, h_bwd) = carries  # Flax's carry is (c, h)
    np.testing.assert_allclose(np.stack([h_fwd, h_bwd]), h_n.numpy(), **tol)
    np.testing.assert_allclose(np.stack([c_fwd, c_bwd]), c_n.numpy(), **tol)
    assert np.abs(y[~valid]).max() > 1e-3  # padded steps hold values, not zeros
