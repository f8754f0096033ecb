"""Time the float64 oracle (``spec.oracle.lstm_forward``) at the sizes the profiles draw.

    OMP_NUM_THREADS=1 python tools/bench_oracle.py

Prints one line per size: the best of three runs, in seconds. docs/PERFORMANCE.md holds
the figures before and after the oracle was vectorized.
"""

from __future__ import annotations

import time

import torch

from lstm_conformance.spec.config import LSTMConfig
from lstm_conformance.spec.oracle import lstm_forward
from lstm_conformance.spec.strategies import make_input, make_state, make_weights

#: (what, config, seq_len, batch): a default-profile case, the largest boundary cases, and
#: one of each stress dimension.
SIZES = [
    ("tiny (seq 8, batch 5, hidden 6)", LSTMConfig(input_size=5, hidden_size=6), 8, 5),
    ("boundary seq 257, 2 bidirectional layers",
     LSTMConfig(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), 257, 3),
    ("boundary batch 129, 2 bidirectional layers",
     LSTMConfig(input_size=3, hidden_size=4, num_layers=2, bidirectional=True), 5, 129),
    ("boundary hidden 129", LSTMConfig(input_size=3, hidden_size=129), 5, 3),
    ("stress batch 2049", LSTMConfig(input_size=3, hidden_size=4), 5, 2049),
    ("stress hidden 1025", LSTMConfig(input_size=3, hidden_size=1025), 5, 3),
    ("stress seq 65537", LSTMConfig(input_size=3, hidden_size=4), 65537, 3),
]


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    for what, config, L, N in SIZES:
        w = {k: v.numpy() for k, v in make_weights(config, 1, 1.0, torch.float64).items()}
        x = make_input(config, L, N, 1, 1.0, torch.float64).numpy()
        h0, c0 = (s.numpy() for s in make_state(config, N, 1, torch.float64))
        lengths = [L - (b % L) for b in range(N)]
        runs = 1 if L * N > 50_000 else 3
        plain = best_of(runs, lambda: lstm_forward(config, w, x, (h0, c0)))  # noqa: B023
        packed = best_of(runs, lambda: lstm_forward(config, w, x, (h0, c0), lengths))  # noqa: B023
        print(f"{what:45s} {plain:9.4f} s   with lengths {packed:9.4f} s")


if __name__ == "__main__":
    main()
