"""Plain Keras layers loaded from an nn.LSTM, for the standalone tests (no adapter, no suite).

Import only after ``conftest`` has chosen the Keras backend (the ``backend`` fixture).
"""

import numpy as np
import torch
from torch import nn


def torch_and_keras_lstm(keras, input_size=2, hidden_size=3, bidirectional=False,
                         dtype="float32", seed=0):
    """An ``nn.LSTM`` and the Keras layer with its weights: LSTM or Bidirectional(LSTM)."""
    torch.manual_seed(seed)
    ref = nn.LSTM(input_size, hidden_size, bidirectional=bidirectional).to(getattr(torch, dtype))
    lstm = keras.layers.LSTM(hidden_size, return_sequences=True, return_state=True,
                             zero_output_for_mask=True, dtype=dtype)
    layer = keras.layers.Bidirectional(lstm, dtype=dtype) if bidirectional else lstm
    layer.build((None, None, input_size))
    pairs = ([(layer.forward_layer, ""), (layer.backward_layer, "_reverse")] if bidirectional
             else [(layer, "")])
    sd = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    for lstm, s in pairs:
        lstm.set_weights([sd[f"weight_ih_l0{s}"].T, sd[f"weight_hh_l0{s}"].T,
                          sd[f"bias_ih_l0{s}"] + sd[f"bias_hh_l0{s}"]])
    return ref, layer


def keras_run(keras, layer, x_seq_first: np.ndarray, mask=None):
    """(output seq-first, [states]) of a Keras LSTM layer as numpy arrays."""
    y, *states = layer(x_seq_first.transpose(1, 0, 2), mask=mask)
    to_np = keras.ops.convert_to_numpy
    return to_np(y).transpose(1, 0, 2), [to_np(s) for s in states]
