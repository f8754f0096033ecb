"""What Keras itself does with a mask, checked with plain Keras (no adapter, no suite).

The adapter passes PackedSequence lengths to Keras as a mask and corrects nothing, so it
relies on the three behaviours below; each is asserted here on a raw Keras layer. They
hold on both backends in the installed Keras, so packed input is not a finding (float32;
float64 with a mask is a finding on the torch backend, see test_findings.py).
"""

import numpy as np
import pytest
import torch
from plain_keras import keras_run, torch_and_keras_lstm
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


@pytest.fixture(scope="module")
def keras(backend):  # the backend fixture has chosen Keras's backend before this import
    import keras

    return keras


@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "bidirectional"])
def test_masked_steps_are_zero_and_states_come_from_the_true_end(keras, bidirectional):
    ref, layer = torch_and_keras_lstm(keras, bidirectional=bidirectional)
    lengths = [5, 2, 1, 4]
    x = torch.randn(5, 4, 2)
    with torch.no_grad():
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out, (h_n, c_n) = ref(packed)
        out, _ = pad_packed_sequence(out, total_length=5)
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    y, states = keras_run(keras, layer, x.numpy(), mask)
    # 1. the output is exactly zero past each length (zero_output_for_mask)
    assert np.all(y[~mask.T] == 0)
    # 2. h_n, c_n are the true last step's; 3. the backward direction starts at the true
    # end (otherwise its output at t=0 and its h_n would differ)
    np.testing.assert_allclose(y, out.numpy(), rtol=1.3e-6, atol=1e-5)
    np.testing.assert_allclose(np.stack(states[0::2]), h_n.numpy(), rtol=1.3e-6, atol=1e-5)
    np.testing.assert_allclose(np.stack(states[1::2]), c_n.numpy(), rtol=1.3e-6, atol=1e-5)
