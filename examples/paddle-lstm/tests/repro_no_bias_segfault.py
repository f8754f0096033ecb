"""Standalone reproduction (paddle and numpy only): paddle.nn.LSTM without biases
(bias_ih_attr=False, bias_hh_attr=False) crashes the process on the CPU with a
segmentation fault in phi::RnnKernel (DenseTensor::ShareDataWith, check_memory_size) on
its first call. Run: python examples/paddle-lstm/tests/repro_no_bias_segfault.py
"""

import numpy as np
import paddle

print("paddle", paddle.__version__, flush=True)
lstm = paddle.nn.LSTM(3, 5, time_major=True, bias_ih_attr=False, bias_hh_attr=False)
out, (h, c) = lstm(paddle.to_tensor(np.random.randn(6, 4, 3).astype("float32")))
print("no crash: output", out.shape)
